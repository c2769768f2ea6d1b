using System.Globalization;
using System.Text;
using Ferry.Manifest;

namespace Ferry.Sources.Database;

/// <summary>A MySQL date with a zero year, month or day (<c>0000-00-00</c>), which no DateTime can hold.</summary>
public sealed record ZeroDate(int Year, int Month, int Day, int Hour, int Minute, int Second)
{
    public string Text(bool dateOnly) => dateOnly
        ? string.Create(CultureInfo.InvariantCulture, $"{Year:0000}-{Month:00}-{Day:00}")
        : string.Create(CultureInfo.InvariantCulture, $"{Year:0000}-{Month:00}-{Day:00} {Hour:00}:{Minute:00}:{Second:00}");
}

/// <summary>How a database column's values become text (<see cref="Render"/>), and what it needs to know.</summary>
/// <param name="DateColumn">The column's type is DATE: a DateTime from it is a date, not a midnight.</param>
internal sealed record ColumnText(string Name, ValueRule? Rule, bool DateColumn, Encoding Encoding, ZeroDateRule ZeroDates);

/// <summary>
/// Database values as the text the contract and mapping read (docs/manifest.md, "Database
/// values"): invariant numbers that never use an exponent for decimals, ISO 8601 dates and times,
/// hex bytes; a column's <see cref="ValueRule"/> overrides the default. A value a rule cannot take
/// keeps its default text and reports a <see cref="RowProblem"/>, so the row is rejected with it.
/// </summary>
internal static class DbValueText
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    // SQLite keeps dates as text; these are the forms its date functions and most programs write.
    private static readonly string[] LocalFormats =
    [
        "yyyy-MM-dd", "yyyy-MM-dd HH:mm", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm:ss.FFFFFFF",
        "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF",
    ];

    private static readonly string[] ZonedFormats =
        ["yyyy-MM-dd HH:mm:ssK", "yyyy-MM-dd HH:mm:ss.FFFFFFFK", "yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK"];

    public static string? Render(object? value, ColumnText column, ref RowProblem? problem)
    {
        if (value is null or DBNull)
            return null;
        if (value is ZeroDate zero)
        {
            if (column.ZeroDates == ZeroDateRule.Null)
                return null;
            var text = zero.Text(column.DateColumn);
            problem ??= new RowProblem(column.Name, "zero-date", $"'{text}' is a zero date, which is no date (zero_dates: error)");
            return text;
        }
        string? rendered = column.Rule switch
        {
            ValueRule.Bool => Bool(value),
            ValueRule.Date => Date(value),
            ValueRule.DateTime => DateTimeText(value),
            ValueRule.Hex when value is byte[] bytes => Convert.ToHexStringLower(bytes),
            ValueRule.Base64 when value is byte[] bytes => Convert.ToBase64String(bytes),
            ValueRule.Decode when value is byte[] bytes => Decode(bytes, column, ref problem),
            _ => Default(value, column.DateColumn),
        };
        if (rendered is not null)
            return rendered;
        var fallback = Default(value, column.DateColumn);
        problem ??= fallback is null
            ? new RowProblem(column.Name, "type", $"a value of type {value.GetType().Name} has no text form here; select the column as text in a 'query'")
            : column.Rule switch
            {
                ValueRule.Bool => new RowProblem(column.Name, "bool", $"'{fallback}' is not a boolean: the column is read as bool, which takes 0 or 1"),
                ValueRule.Date => new RowProblem(column.Name, "date", $"'{fallback}' is not a date (yyyy-MM-dd)"),
                _ => new RowProblem(column.Name, "datetime", $"'{fallback}' is not a date and time (yyyy-MM-ddTHH:mm:ss)"),
            };
        return fallback;
    }

    /// <summary>An integer's text, as <see cref="Default"/> gives it; those from 0 to 1023 (small codes, years' grades, counts) made once.</summary>
    public static string Integer(long value) =>
        (ulong)value < (ulong)SmallIntegers.Length ? SmallIntegers[value] : value.ToString(Inv);

    private static readonly string[] SmallIntegers = Enumerable.Range(0, 1024).Select(i => i.ToString(Inv)).ToArray();

    /// <summary>The text of a value under no rule; null for a value that has none (an array).</summary>
    public static string? Default(object value, bool dateColumn) => value switch
    {
        string s => s,
        bool b => b ? "true" : "false",
        byte[] bytes => Convert.ToHexStringLower(bytes),
        DateTime d => dateColumn ? d.ToString("yyyy-MM-dd", Inv) : Iso(d),
        DateOnly d => d.ToString("yyyy-MM-dd", Inv),
        DateTimeOffset o => Iso(o),
        TimeSpan t => Time(t),
        TimeOnly t => t.ToString("HH:mm:ss.FFFFFFF", Inv),
        decimal m => m.ToString(Inv), // never an exponent; the scale is kept (12.50)
        double d => d.ToString("R", Inv),
        float f => f.ToString("R", Inv),
        Guid g => g.ToString("D"),
        Array => null,
        IFormattable f => f.ToString(null, Inv),
        _ => value.ToString(),
    };

    private static string? Bool(object value) => value switch
    {
        bool b => b ? "true" : "false",
        sbyte or byte or short or ushort or int or uint or long or ulong or decimal => Convert.ToDecimal(value, Inv) switch
        {
            0 => "false",
            1 => "true",
            _ => null,
        },
        string s => s.Trim().ToLowerInvariant() switch
        {
            "0" or "false" => "false",
            "1" or "true" => "true",
            _ => null,
        },
        _ => null,
    };

    private static string? Date(object value) => value switch
    {
        DateTime d => d.ToString("yyyy-MM-dd", Inv),
        DateOnly d => d.ToString("yyyy-MM-dd", Inv),
        DateTimeOffset o => o.ToString("yyyy-MM-dd", Inv),
        string s when DateTime.TryParseExact(s.Trim(), LocalFormats, Inv, DateTimeStyles.None, out var d) => d.ToString("yyyy-MM-dd", Inv),
        string s when DateTimeOffset.TryParseExact(s.Trim(), ZonedFormats, Inv, DateTimeStyles.None, out var o) => o.ToString("yyyy-MM-dd", Inv),
        _ => null,
    };

    private static string? DateTimeText(object value) => value switch
    {
        DateTime d => Iso(d),
        DateOnly d => Iso(d.ToDateTime(TimeOnly.MinValue)),
        DateTimeOffset o => Iso(o),
        string s when DateTime.TryParseExact(s.Trim(), LocalFormats, Inv, DateTimeStyles.None, out var d) => Iso(d),
        string s when DateTimeOffset.TryParseExact(s.Trim(), ZonedFormats, Inv, DateTimeStyles.None, out var o) => Iso(o),
        _ => null,
    };

    private static string Decode(byte[] bytes, ColumnText column, ref RowProblem? problem)
    {
        var text = column.Encoding.GetString(bytes);
        if (text.Contains(TextEncodings.InvalidMarker))
            problem ??= new RowProblem(column.Name, "encoding", $"bytes invalid in encoding '{column.Encoding.WebName}'");
        return text;
    }

    /// <summary><c>yyyy-MM-ddTHH:mm:ss</c>, then the fraction without trailing zeros if there is one, then Z for a UTC value.</summary>
    private static string Iso(DateTime d) =>
        d.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", Inv) + (d.Kind == DateTimeKind.Utc ? "Z" : "");

    private static string Iso(DateTimeOffset o) =>
        o.Offset == TimeSpan.Zero ? Iso(o.UtcDateTime) : o.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzzz", Inv);

    /// <summary><c>HH:mm:ss[.fffffff]</c> with as many hours as it takes (a MySQL TIME runs to 838 hours, and may be negative).</summary>
    private static string Time(TimeSpan t)
    {
        var sign = t < TimeSpan.Zero ? "-" : "";
        var a = t.Duration();
        var fraction = a.Ticks % TimeSpan.TicksPerSecond;
        var text = string.Create(Inv, $"{sign}{(long)a.TotalHours:00}:{a.Minutes:00}:{a.Seconds:00}");
        return fraction == 0 ? text : text + "." + fraction.ToString("0000000", Inv).TrimEnd('0');
    }
}
