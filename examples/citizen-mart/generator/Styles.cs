using Ferry.Bench;

namespace Ferry.Examples.CitizenMart;

/// <summary>The ways an export writes the same fact: what the manifest's cleansing must see through.</summary>
internal static class Styles
{
    public static string Name(string name, ref SplitMix64 r) => r.Next(20) switch
    {
        < 12 => name,
        < 15 => name.ToUpperInvariant(),
        < 17 => name.ToLowerInvariant(),
        < 19 => "  " + name.Replace(" ", "   ", StringComparison.Ordinal) + " ",
        _ => name.Replace(" ", "\u00a0", StringComparison.Ordinal),     // no-break spaces pasted from elsewhere
    };

    public static string Postcode(string postcode, ref SplitMix64 r) => r.Next(10) switch
    {
        < 7 => postcode,
        7 => postcode.ToLowerInvariant(),
        8 => postcode.Replace(" ", "", StringComparison.Ordinal),
        _ => " " + postcode.Replace(" ", "  ", StringComparison.Ordinal),
    };

    /// <summary><paramref name="e164"/> is "+44" and ten digits; null: the person gave no number.</summary>
    public static string Phone(string? e164, ref SplitMix64 r)
    {
        if (e164 is null)
            return r.Pick(NoNumber);
        var national = e164[3..];
        // Split as people do: 020 7946 0018 for London (2-digit area), 0161 496 0000, 07700 900123.
        var areaLength = national.StartsWith('2') ? 2 : national.StartsWith('7') ? 4 : 3;
        var area = national[..areaLength];
        var rest = national[areaLength..];
        var restSpaced = rest.Length == 8 ? rest[..4] + " " + rest[4..] : rest[..3] + " " + rest[3..];
        return r.Next(8) switch
        {
            0 => $"+44 {area} {restSpaced}",
            1 or 2 => $"0{area} {restSpaced}",
            3 => $"(0{area}) {rest}",
            4 => $"0{area}{rest}",
            5 => $"0044 {area} {restSpaced}",
            6 => $"+44 (0){area} {restSpaced}",
            _ => $"0{area}-{rest[..3]}-{rest[3..]}",
        };
    }

    private static readonly string[] NoNumber = ["", "n/a", "unknown", "-", "none"];
}
