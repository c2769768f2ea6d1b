using System.Globalization;
using Ferry.Manifest;
using ValueType = Ferry.Manifest.ValueType;

namespace Ferry.Mapping;

/// <summary>Turns source text (or an expression's result) into a typed value, or says why it cannot.</summary>
public static class ValueConverter
{
    private static readonly string[] DateFormats = ["yyyy-MM-dd", "yyyyMMdd"];
    private static readonly string[] DateTimeFormats =
        ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-ddTHH:mm:ss", "yyyy-MM-dd HH:mm:ss.FFFFFFF", "yyyy-MM-ddTHH:mm:ss.FFFFFFF", "yyyy-MM-ddTHH:mm:ss.FFFFFFFK", "yyyy-MM-dd HH:mm", "yyyy-MM-dd"];

    /// <summary>
    /// A sign, digits and a decimal point. No thousands separators: .NET does not check their
    /// grouping, so "12,50" (a decimal comma) would silently read as 1250.
    /// </summary>
    private const NumberStyles DecimalStyle =
        NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite | NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint;

    public static string Describe(ValueType type, string? format) => format is null
        ? type.ToString().ToLowerInvariant()
        : $"{type.ToString().ToLowerInvariant()} ({format})";

    /// <summary>Parses non-blank text as <paramref name="type"/>.</summary>
    public static bool TryParse(ValueType type, string text, string? format, out object? value)
    {
        var inv = CultureInfo.InvariantCulture;
        switch (type)
        {
            case ValueType.Text:
                value = text;
                return true;
            case ValueType.Int when long.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite, inv, out var l):
                value = ValueBoxes.Box(l);
                return true;
            case ValueType.Decimal when decimal.TryParse(text, DecimalStyle, inv, out var m):
                value = ValueBoxes.Box(m);
                return true;
            case ValueType.Real when double.TryParse(text, NumberStyles.Float, inv, out var d) && double.IsFinite(d):
                value = d;
                return true;
            case ValueType.Bool when ParseBool(text) is { } b:
                value = ValueBoxes.Box(b);
                return true;
            case ValueType.Date when (format is null or "yyyy-MM-dd") && TryParseIsoDate(text.AsSpan().Trim(), out var date)
                || (format is null
                    ? DateOnly.TryParseExact(text.Trim(), DateFormats, inv, DateTimeStyles.None, out date)
                    : DateOnly.TryParseExact(text.Trim(), format, inv, DateTimeStyles.None, out date)):
                value = ValueBoxes.Box(date);
                return true;
            case ValueType.DateTime when format is null
                ? DateTime.TryParseExact(text.Trim(), DateTimeFormats, inv, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var dt)
                : DateTime.TryParseExact(text.Trim(), format, inv, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out dt):
                value = dt;
                return true;
            case ValueType.Uuid when Guid.TryParse(text, out var g):
                value = g;
                return true;
            default:
                value = null;
                return false;
        }
    }

    /// <summary>
    /// yyyy-MM-dd, the commonest date by far, read without the general parser: exactly the dates
    /// <see cref="DateOnly.TryParseExact(string, string, IFormatProvider, DateTimeStyles, out DateOnly)"/>
    /// reads with that format. Anything else is left to it.
    /// </summary>
    private static bool TryParseIsoDate(ReadOnlySpan<char> text, out DateOnly date)
    {
        date = default;
        if (text.Length != 10 || text[4] != '-' || text[7] != '-')
            return false;
        static int Digits(ReadOnlySpan<char> digits)
        {
            var n = 0;
            foreach (var c in digits)
            {
                var d = c - '0';
                if ((uint)d > 9)
                    return -1;
                n = n * 10 + d;
            }
            return n;
        }
        var (year, month, day) = (Digits(text[..4]), Digits(text[5..7]), Digits(text[8..]));
        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month))
            return false;
        date = new DateOnly(year, month, day);
        return true;
    }

    /// <summary>Converts an expression's result to the column's type.</summary>
    public static bool TryConvert(ValueType type, object? result, string? format, out object? value)
    {
        value = null;
        switch (result)
        {
            case null:
                return true;
            case string s:
                if (type == ValueType.Text)
                {
                    value = s;
                    return true;
                }
                return string.IsNullOrWhiteSpace(s) || TryParse(type, s, format, out value);
        }
        try
        {
            value = (type, result) switch
            {
                (ValueType.Text, IFormattable f) => f.ToString(null, CultureInfo.InvariantCulture),
                (ValueType.Text, _) => result.ToString(),
                (ValueType.Int, _) => Convert.ToInt64(result, CultureInfo.InvariantCulture),
                (ValueType.Decimal, _) => Convert.ToDecimal(result, CultureInfo.InvariantCulture),
                (ValueType.Real, _) => Convert.ToDouble(result, CultureInfo.InvariantCulture),
                (ValueType.Bool, bool b) => b,
                (ValueType.Date, DateOnly d) => d,
                (ValueType.Date, DateTime d) => DateOnly.FromDateTime(d),
                (ValueType.DateTime, DateTime d) => d,
                (ValueType.DateTime, DateOnly d) => d.ToDateTime(TimeOnly.MinValue),
                (ValueType.Uuid, Guid g) => g,
                _ => null,
            };
        }
        catch (Exception ex) when (ex is InvalidCastException or FormatException or OverflowException)
        {
            value = null;
        }
        return value is not null;
    }

    private static bool? ParseBool(string text) => text.Trim().ToLowerInvariant() switch
    {
        "true" or "t" or "yes" or "y" or "1" => true,
        "false" or "f" or "no" or "n" or "0" => false,
        _ => null,
    };
}
