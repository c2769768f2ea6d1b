using System.Globalization;
using System.Text;
using Ferry.Mapping;
using ValueType = Ferry.Manifest.ValueType;

namespace Ferry.Targets.Sqlite;

/// <summary>How Ferry's typed values are stored in SQLite, and how stored values compare.</summary>
internal static class SqliteValues
{
    /// <summary>The declared column type. Decimals, dates and UUIDs are text so they round-trip exactly.</summary>
    public static string ColumnType(ValueType type) => type switch
    {
        ValueType.Int or ValueType.Bool => "INTEGER",
        ValueType.Real => "REAL",
        _ => "TEXT",
    };

    public static object ToStorage(object? value) => value switch
    {
        null => DBNull.Value,
        string s => s,
        long l => l,
        double d => d,
        bool b => b ? 1L : 0L,
        _ => RowMapper.Format(value),
    };

    /// <summary>Whether a mapped value is stored as text (<see cref="ToStorage"/> gives a string for it).</summary>
    public static bool IsText(object? value) => value is not (null or long or double or bool);

    /// <summary>
    /// Writes the UTF-8 text a mapped value that <see cref="IsText"/> is stored as into
    /// <paramref name="destination"/>, without making a string of it; false when it does not fit.
    /// </summary>
    public static bool TryWriteText(object value, Span<byte> destination, out int written) => value switch
    {
        string s => Encoding.UTF8.TryGetBytes(s, destination, out written),
        DateOnly d => TryWriteDate(d, destination, out written),
        decimal m => m.TryFormat(destination, out written, default, CultureInfo.InvariantCulture),
        Guid g => g.TryFormat(destination, out written, "D"),
        _ => Encoding.UTF8.TryGetBytes(RowMapper.Format(value), destination, out written),
    };

    /// <summary>yyyy-MM-dd, as <see cref="RowMapper.Format"/> writes a date.</summary>
    private static bool TryWriteDate(DateOnly date, Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < 10)
            return false;
        var (year, month, day) = date;
        destination[0] = (byte)('0' + year / 1000);
        destination[1] = (byte)('0' + year / 100 % 10);
        destination[2] = (byte)('0' + year / 10 % 10);
        destination[3] = (byte)('0' + year % 10);
        destination[4] = (byte)'-';
        destination[5] = (byte)('0' + month / 10);
        destination[6] = (byte)('0' + month % 10);
        destination[7] = (byte)'-';
        destination[8] = (byte)('0' + day / 10);
        destination[9] = (byte)('0' + day % 10);
        written = 10;
        return true;
    }

    /// <summary>Whether a stored value equals a value about to be stored (both in storage form).</summary>
    public static bool Same(object stored, object incoming)
    {
        if (stored is DBNull || incoming is DBNull)
            return stored is DBNull && incoming is DBNull;
        return (stored, incoming) switch
        {
            (string a, string b) => string.Equals(a, b, StringComparison.Ordinal),
            (long a, long b) => a == b,
            (double a, double b) => a.Equals(b),
            (long a, double b) => a == b,
            (double a, long b) => a == b,
            // A column of the user's own table may hold another storage class than Ferry writes.
            _ => string.Equals(Text(stored), Text(incoming), StringComparison.Ordinal),
        };
    }

    private static string Text(object value) => value switch
    {
        byte[] bytes => Convert.ToHexString(bytes),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
