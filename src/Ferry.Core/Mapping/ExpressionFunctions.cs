using System.Globalization;
using System.Text;

namespace Ferry.Mapping;

/// <summary>Helpers in scope for every C# expression in a manifest (<c>using static</c>).</summary>
public static partial class ExpressionFunctions
{
    public static bool Blank(string? value) => string.IsNullOrWhiteSpace(value);

    public static string? Coalesce(params string?[] values) => values.FirstOrDefault(v => !Blank(v));

    public static long? Int(string? value) =>
        long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : null;

    public static decimal? Dec(string? value) =>
        decimal.TryParse(value, NumberStyles.Number, CultureInfo.InvariantCulture, out var n) ? n : null;

    public static DateOnly? Date(string? value, string format = "yyyy-MM-dd") =>
        DateOnly.TryParseExact(value?.Trim(), format, CultureInfo.InvariantCulture, DateTimeStyles.None, out var d) ? d : null;

    /// <summary>
    /// "jANE  mary-ann SMITH" → "Jane Mary-Ann Smith": words capitalised, runs of spaces folded.
    /// A letter after an apostrophe stays lower case ("o'neil" → "O'neil", "it's" → "It's").
    /// </summary>
    public static string? Title(string? value)
    {
        if (value is null)
            return null;
        var words = value.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return CultureInfo.InvariantCulture.TextInfo.ToTitleCase(string.Join(' ', words).ToLowerInvariant());
    }

    /// <summary>Only the digits of a value ("(020) 7946-0018" → "02079460018").</summary>
    public static string? Digits(string? value)
    {
        if (value is null)
            return null;
        var sb = new StringBuilder(value.Length);
        foreach (var c in value)
            if (char.IsAsciiDigit(c))
                sb.Append(c);
        return sb.ToString();
    }
}
