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

    /// <summary>
    /// The UTF-8 text a mapped value that is stored as text (<see cref="ToStorage"/> gives a string
    /// for it) is stored as, written into <paramref name="buffer"/> without making a string of it;
    /// returns its length.
    /// </summary>
    public static int WriteText(object value, ref byte[] buffer)
    {
        while (true)
        {
            var written = 0;
            var done = value switch
            {
                string s => Encode(s, ref buffer, out written),
                DateOnly d => d.TryFormat(buffer, out written, "yyyy-MM-dd", CultureInfo.InvariantCulture),
                decimal m => m.TryFormat(buffer, out written, default, CultureInfo.InvariantCulture),
                Guid g => g.TryFormat(buffer, out written, "D"),
                _ => Encode(RowMapper.Format(value), ref buffer, out written),
            };
            if (done)
                return written;
            buffer = new byte[buffer.Length * 2];
        }
    }

    private static bool Encode(string text, ref byte[] buffer, out int written)
    {
        var max = Encoding.UTF8.GetMaxByteCount(text.Length);
        if (max > buffer.Length)
            buffer = new byte[Math.Max(max, buffer.Length * 2)];
        written = Encoding.UTF8.GetBytes(text, buffer);
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
