using System.Text;

namespace Ferry.Mapping;

/// <summary>
/// Telephone numbers as people type them ("020 7946 0018", "(020) 79460018", "+44 (0)20 7946 0018",
/// "0044 20 7946 0018") brought to E.164 ("+442079460018"). A number without its international
/// prefix belongs to the default country; the countries below know their trunk prefix and the
/// length of their national numbers, others are taken as given when 8 to 15 digits long.
/// </summary>
internal static class PhoneNumbers
{
    /// <summary>What E.164 needs of a country: its calling code, trunk and international prefixes, national number lengths.</summary>
    internal sealed record Country(string Code, string CallingCode, string Trunk, string International, int MinLength, int MaxLength);

    private static readonly Country[] Countries =
    [
        new("GB", "44", "0", "00", 9, 10),
        new("IE", "353", "0", "00", 7, 9),
        new("US", "1", "1", "011", 10, 10),
        new("CA", "1", "1", "011", 10, 10),
        new("DE", "49", "0", "00", 6, 11),
        new("FR", "33", "0", "00", 9, 9),
        new("NL", "31", "0", "00", 9, 9),
        new("BE", "32", "0", "00", 8, 9),
        new("ES", "34", "", "00", 9, 9),
        new("AU", "61", "0", "0011", 9, 9),
        new("NZ", "64", "0", "00", 8, 10),
    ];

    // Longest calling code first, so that +353 is not read as +35 or +3.
    private static readonly Country[] ByCallingCode = Countries.DistinctBy(c => c.CallingCode).OrderByDescending(c => c.CallingCode.Length).ToArray();

    public static bool IsKnownCountry(string code) => Find(code) is not null;

    /// <summary>The number in E.164, or null when it is blank or cannot be a telephone number.</summary>
    public static string? ToE164(string? value, string defaultCountry)
    {
        var country = Find(defaultCountry)
            ?? throw new ArgumentException($"Phone: unknown country '{defaultCountry}' (known: {string.Join(", ", Countries.Select(c => c.Code))})", nameof(defaultCountry));
        if (string.IsNullOrWhiteSpace(value))
            return null;
        if (!TryDigits(value, out var digits, out var plus))
            return null;
        if (plus)
            return International(digits);
        if (country.International.Length > 0 && digits.StartsWith(country.International, StringComparison.Ordinal))
            return International(digits[country.International.Length..]);
        if (National(country, digits) is { } national)
            return "+" + country.CallingCode + national;
        // The calling code typed without its '+' or prefix: "44 20 7946 0018".
        if (digits.StartsWith(country.CallingCode, StringComparison.Ordinal))
            return International(digits);
        return null;
    }

    private static string? International(string digits)
    {
        foreach (var country in ByCallingCode)
        {
            if (!digits.StartsWith(country.CallingCode, StringComparison.Ordinal))
                continue;
            // National(…) also drops a trunk prefix kept after the calling code: "+44 020 …".
            return National(country, digits[country.CallingCode.Length..]) is { } national ? "+" + country.CallingCode + national : null;
        }
        return digits.Length is >= 8 and <= 15 && digits[0] != '0' ? "+" + digits : null;
    }

    /// <summary>The national significant number: without the trunk prefix, of a length the country uses; else null.</summary>
    private static string? National(Country country, string digits)
    {
        if (country.Trunk.Length > 0 && digits.StartsWith(country.Trunk, StringComparison.Ordinal))
            digits = digits[country.Trunk.Length..];
        return digits.Length >= country.MinLength && digits.Length <= country.MaxLength ? digits : null;
    }

    /// <summary>
    /// The digits of a typed number: separators (spaces, '-', '.', '/', brackets) dropped, a "(0)"
    /// after an international prefix dropped, an extension ("ext 12", "x12", "#12") dropped. False
    /// for anything else: letters, a second '+', no digits at all.
    /// </summary>
    private static bool TryDigits(string value, out string digits, out bool plus)
    {
        var text = value.Trim();
        if (text.StartsWith("tel:", StringComparison.OrdinalIgnoreCase))
            text = text[4..];
        text = WithoutExtension(text);
        var sb = new StringBuilder(text.Length);
        plus = false;
        digits = "";
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsAsciiDigit(c))
                sb.Append(c);
            else if (c == '+' && sb.Length == 0 && !plus)
                plus = true;
            else if (c == '(' && i + 2 < text.Length && text[i + 1] == '0' && text[i + 2] == ')' && (plus || sb.Length > 0))
                i += 2;   // "+44 (0)20 …": the national trunk prefix, shown for callers inside the country
            else if (!(char.IsWhiteSpace(c) || c is '-' or '.' or '/' or '(' or ')' or '\u2010' or '\u2011' or '\u2013'))
                return false;
        }
        digits = sb.ToString();
        return digits.Length > 0;
    }

    private static string WithoutExtension(string text)
    {
        foreach (var marker in (ReadOnlySpan<string>)["extension", "ext.", "ext", "x", "#"])
        {
            var at = text.LastIndexOf(marker, StringComparison.OrdinalIgnoreCase);
            if (at > 0 && text.AsSpan(at + marker.Length).Trim().Length > 0 && IsDigits(text.AsSpan(at + marker.Length).Trim()))
                return text[..at].TrimEnd(' ', ',', ';');
        }
        return text;
    }

    private static bool IsDigits(ReadOnlySpan<char> span)
    {
        foreach (var c in span)
            if (!char.IsAsciiDigit(c))
                return false;
        return true;
    }

    private static Country? Find(string code) =>
        Array.Find(Countries, c => string.Equals(c.Code, code, StringComparison.OrdinalIgnoreCase));
}
