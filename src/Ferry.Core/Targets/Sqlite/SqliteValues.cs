using System.Globalization;
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
