using Ferry.Manifest;
using NpgsqlTypes;
using ValueType = Ferry.Manifest.ValueType;

namespace Ferry.Targets.Postgres;

/// <summary>How Ferry's value types map to PostgreSQL column types and binary COPY types.</summary>
internal static class PostgresValues
{
    public static string ColumnType(ValueType type) => type switch
    {
        ValueType.Int => "bigint",
        ValueType.Decimal => "numeric",
        ValueType.Real => "double precision",
        ValueType.Bool => "boolean",
        ValueType.Date => "date",
        ValueType.DateTime => "timestamptz",
        ValueType.Uuid => "uuid",
        _ => "text",
    };

    public static NpgsqlDbType CopyType(ValueType type) => type switch
    {
        ValueType.Int => NpgsqlDbType.Bigint,
        ValueType.Decimal => NpgsqlDbType.Numeric,
        ValueType.Real => NpgsqlDbType.Double,
        ValueType.Bool => NpgsqlDbType.Boolean,
        ValueType.Date => NpgsqlDbType.Date,
        ValueType.DateTime => NpgsqlDbType.TimestampTz,
        ValueType.Uuid => NpgsqlDbType.Uuid,
        _ => NpgsqlDbType.Text,
    };

    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>
    /// The business key of row alias <paramref name="alias"/> as text, the way Ferry writes keys
    /// (parts joined by U+001F), so that keys returned by the database match the rows of a batch.
    /// </summary>
    public static string KeyText(string alias, IReadOnlyList<ColumnSpec> keyColumns) => keyColumns.Count == 1
        ? $"{alias}.{Quote(keyColumns[0].Target)}::text"
        : $"concat_ws(chr(31), {string.Join(", ", keyColumns.Select(c => $"{alias}.{Quote(c.Target)}::text"))})";

    /// <summary>Matches the key columns of alias <paramref name="alias"/> with a stored business key text.</summary>
    public static string KeyFromText(string alias, IReadOnlyList<ColumnSpec> keyColumns, string keyText) => keyColumns.Count == 1
        ? $"{alias}.{Quote(keyColumns[0].Target)} = ({keyText})::{ColumnType(keyColumns[0].Type)}"
        : string.Join(" AND ", keyColumns.Select((c, i) => $"{alias}.{Quote(c.Target)} = split_part({keyText}, chr(31), {i + 1})::{ColumnType(c.Type)}"));
}
