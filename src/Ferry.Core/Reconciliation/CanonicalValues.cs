using System.Globalization;
using Ferry.Mapping;
using ValueType = Ferry.Manifest.ValueType;

namespace Ferry.Reconciliation;

/// <summary>
/// One form for a value whether it comes from the mapping or is read back from a target, so that
/// both hash alike: SQLite returns decimals, dates and UUIDs as text and booleans as 0/1; PostgreSQL
/// returns its own types, pads nothing but keeps a numeric column's scale and timestamps to the
/// microsecond. Decimals lose trailing zeros (12.50 = 12.5), date-times become UTC truncated to the
/// microsecond, and a stored value that does not read as the column's type stays as its text (and so
/// differs, visibly, from the mapped value).
/// </summary>
internal static class CanonicalValues
{
    public static object? Canon(ValueType type, object? value)
    {
        if (value is null or DBNull)
            return null;
        try
        {
            return type switch
            {
                ValueType.Text => value as string ?? Text(value),
                ValueType.Int => value switch
                {
                    long => value, // already canonical: the same box, not a new one
                    int i => (long)i,
                    short s => (long)s,
                    byte b => (long)b,
                    decimal d when decimal.Truncate(d) == d => (long)d,
                    string s when long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) => l,
                    _ => Text(value),
                },
                ValueType.Decimal => value switch
                {
                    decimal d => Normalize(d),
                    long l => (decimal)l,
                    int i => (decimal)i,
                    double f => Normalize((decimal)f),
                    string s when decimal.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => Normalize(d),
                    _ => Text(value),
                },
                ValueType.Real => value switch
                {
                    double => value,
                    float f => (double)f,
                    long l => (double)l,
                    decimal d => (double)d,
                    string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) => f,
                    _ => Text(value),
                },
                ValueType.Bool => value switch
                {
                    bool => value,
                    long l when l is 0 or 1 => l == 1,
                    int i when i is 0 or 1 => i == 1,
                    string s when ValueConverter.TryParse(ValueType.Bool, s, null, out var b) => b,
                    _ => Text(value),
                },
                ValueType.Date => value switch
                {
                    DateOnly => value,
                    DateTime t => DateOnly.FromDateTime(t),
                    string s when ValueConverter.TryParse(ValueType.Date, s, null, out var d) => d,
                    _ => Text(value),
                },
                ValueType.DateTime => value switch
                {
                    DateTime t => Utc(t),
                    DateTimeOffset o => Utc(o.UtcDateTime),
                    DateOnly d => Utc(d.ToDateTime(TimeOnly.MinValue)),
                    string s when ValueConverter.TryParse(ValueType.DateTime, s, null, out var t) => Utc((DateTime)t!),
                    _ => Text(value),
                },
                ValueType.Uuid => value switch
                {
                    Guid => value,
                    string s when Guid.TryParse(s, out var g) => g,
                    _ => Text(value),
                },
                _ => Text(value),
            };
        }
        catch (OverflowException)
        {
            return Text(value);
        }
    }

    /// <summary>12.50 → 12.5, 3.000 → 3: the scale a column keeps is no difference in value.</summary>
    public static decimal Normalize(decimal value)
    {
        var text = value.ToString(CultureInfo.InvariantCulture);
        if (!text.Contains('.', StringComparison.Ordinal))
            return value;
        return decimal.Parse(text.TrimEnd('0').TrimEnd('.'), NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    /// <summary>UTC, to the microsecond (what PostgreSQL keeps); a time without a zone is taken as UTC, as Ferry stores it.</summary>
    private static DateTime Utc(DateTime time)
    {
        var utc = time.Kind switch
        {
            DateTimeKind.Local => time.ToUniversalTime(),
            DateTimeKind.Unspecified => DateTime.SpecifyKind(time, DateTimeKind.Utc),
            _ => time,
        };
        return new DateTime(utc.Ticks - utc.Ticks % 10, DateTimeKind.Utc);
    }

    /// <summary>A value as a person reads it in a report.</summary>
    public static string? Show(object? value) => value switch
    {
        null => null,
        DateTime t => t.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture).TrimEnd('.') + "Z",
        _ => RowMapper.Format(value),
    };

    private static string Text(object value) => value switch
    {
        byte[] bytes => Convert.ToHexStringLower(bytes),
        _ => RowMapper.Format(value),
    };

    /// <summary>The business key of canonical values: their texts (<see cref="Show"/>) joined by U+001F.</summary>
    public static string Key(object?[] values, IReadOnlyList<int> keyColumns) => new KeyBuffer().Of(values, keyColumns).ToString();

    /// <summary>
    /// Writes the text of <see cref="Key"/> into <paramref name="buffer"/> (made larger when it is too small)
    /// and returns its length. A text, UUID, integer or date key makes no string: a reconciliation
    /// reads the key of each of millions of rows on both sides and keeps only a few as text.
    /// </summary>
    public static int KeyChars(object?[] values, IReadOnlyList<int> keyColumns, ref char[] buffer)
    {
        var length = 0;
        for (var i = 0; i < keyColumns.Count; i++)
        {
            if (i > 0)
            {
                if (length == buffer.Length)
                    Array.Resize(ref buffer, Math.Max(64, buffer.Length * 2));
                buffer[length++] = '\u001F';
            }
            length = Append(values[keyColumns[i]], ref buffer, length);
        }
        return length;
    }

    private static int Append(object? value, ref char[] buffer, int at)
    {
        int written;
        while (!TryWrite(value, buffer.AsSpan(at), out written))
            Array.Resize(ref buffer, Math.Max(64, buffer.Length * 2));
        return at + written;
    }

    /// <summary>The value's text as <see cref="Show"/> gives it (null as nothing).</summary>
    private static bool TryWrite(object? value, Span<char> span, out int written)
    {
        switch (value)
        {
            case null:
                written = 0;
                return true;
            case string text:
                written = text.Length;
                return text.TryCopyTo(span);
            case Guid uuid:
                return uuid.TryFormat(span, out written, "D");
            case long number:
                return number.TryFormat(span, out written, default, CultureInfo.InvariantCulture);
            case DateOnly date:
                return date.TryFormat(span, out written, "yyyy-MM-dd", CultureInfo.InvariantCulture);
            default:
                var shown = Show(value)!;
                written = shown.Length;
                return shown.TryCopyTo(span);
        }
    }

    /// <summary>A key as a report shows it: composite parts joined by " | ".</summary>
    public static string ShowKey(string key) => key.Replace("\u001F", " | ", StringComparison.Ordinal);
}

/// <summary>
/// The text of <see cref="CanonicalValues.Key"/> in a buffer used again for every row: a reconciliation
/// reads the key of each of millions of rows and keeps only a few as strings.
/// </summary>
internal sealed class KeyBuffer
{
    private char[] chars = new char[64];

    /// <summary>The key's text, valid until the next call.</summary>
    public ReadOnlySpan<char> Of(object?[] values, IReadOnlyList<int> keyColumns)
    {
        var length = CanonicalValues.KeyChars(values, keyColumns, ref chars); // may replace chars: read them after
        return chars.AsSpan(0, length);
    }
}
