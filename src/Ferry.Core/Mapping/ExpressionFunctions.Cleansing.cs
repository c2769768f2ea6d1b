using System.Text;

namespace Ferry.Mapping;

// Cleansing helpers for the values people type into registers: names, telephone numbers, postcodes.
public static partial class ExpressionFunctions
{
    /// <summary>
    /// A telephone number in E.164 ("020 7946 0018" → "+442079460018"); a number without an
    /// international prefix belongs to <paramref name="country"/> (ISO 3166 alpha-2: GB, IE, US, CA,
    /// DE, FR, NL, BE, ES, AU, NZ). Null when blank or not a possible number (letters, wrong length).
    /// </summary>
    public static string? Phone(string? value, string country = "GB") => PhoneNumbers.ToE164(value, country);

    /// <summary>
    /// A person's name trimmed, with single spaces, in proper case: "  mary  o'neill-MCDONALD " →
    /// "Mary O'Neill-McDonald", "CHARLES DE GAULLE" → "Charles de Gaulle". Mixed-case words that
    /// start with a capital ("DeVito") are kept as typed.
    /// </summary>
    public static string? PersonName(string? value) => PersonNames.Normalise(value);

    /// <summary>
    /// A UK postcode in its standard form, upper case with one space before the last three
    /// characters ("sw1a1aa" → "SW1A 1AA"); null when blank or not shaped like a postcode.
    /// </summary>
    public static string? UkPostcode(string? value)
    {
        if (value is null)
            return null;
        var sb = new StringBuilder(8);
        foreach (var c in value)
            if (char.IsAsciiLetterOrDigit(c))
                sb.Append(char.ToUpperInvariant(c));
            else if (!char.IsWhiteSpace(c))
                return null;
        var compact = sb.ToString();
        if (compact.Length is < 5 or > 7 || !UkPostcodeShape().IsMatch(compact))
            return null;
        return compact[..^3] + " " + compact[^3..];
    }

    [System.Text.RegularExpressions.GeneratedRegex("^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$")]
    private static partial System.Text.RegularExpressions.Regex UkPostcodeShape();
}
