using System.Data.Common;
using System.Globalization;
using MySqlConnector;

namespace Ferry.Sources.Database;

/// <summary>
/// MySQL and MariaDB through MySqlConnector. The connection is set so that values arrive as stored:
/// <c>TINYINT(1)</c> as a number (not a bool, unless the manifest says <c>bool</c>), <c>CHAR(36)</c> as
/// text (not a Guid), zero dates as <see cref="ZeroDate"/> (not an exception). MySQL compares row
/// values, but for <c>(k1, k2) &gt; (…)</c> MariaDB 10.11 scans the whole index where the condition
/// spelt out gets an index range (EXPLAIN), so composite keys page with it spelt out.
/// </summary>
/// <remarks>
/// MySqlConnector always talks <c>utf8mb4</c> (its <c>CharacterSet</c> option is ignored): the server
/// converts each text column from the character set it declares, so a correctly declared latin1
/// column arrives as proper text. Bytes that do not match the declared set (UTF-8 stored in a latin1
/// column) arrive garbled; <c>decode</c> reads such a column's stored bytes instead.
/// </remarks>
public sealed class MySqlDialect : ISqlDialect
{
    public static readonly MySqlDialect Instance = new();

    public string Name => "mysql";

    public DbConnection CreateConnection(string connectionString, string manifestDirectory) =>
        new MySqlConnection(new MySqlConnectionStringBuilder(connectionString)
        {
            AllowZeroDateTime = true,
            ConvertZeroDateTime = false,
            TreatTinyAsBoolean = false,
            GuidFormat = MySqlGuidFormat.None,
        }.ConnectionString);

    public string Quote(string identifier) => $"`{identifier.Replace("`", "``", StringComparison.Ordinal)}`";

    public string Parameter(int index) => "@p" + index.ToString(CultureInfo.InvariantCulture);

    public string Page(KeysetQuery query, bool afterCursor, int size) =>
        $"SELECT {query.Select} FROM {query.From}{(afterCursor ? " WHERE " + query.ExpandedAfter(this) : "")} ORDER BY {query.OrderBy} LIMIT {size.ToString(CultureInfo.InvariantCulture)}";

    public string KeyAt(KeysetQuery query, long offset) =>
        $"SELECT {query.OrderBy} FROM {query.From} ORDER BY {query.OrderBy} LIMIT 1 OFFSET {offset.ToString(CultureInfo.InvariantCulture)}";

    public string StoredBytes(string column) => $"CAST({column} AS BINARY)";

    /// <summary>
    /// A DECIMAL as the server wrote it (exact, any precision up to 65 digits, where .NET's decimal
    /// holds 28); a date or datetime as a DateTime, or a <see cref="ZeroDate"/> when it has a zero part.
    /// </summary>
    public object GetValue(DbDataReader reader, int ordinal)
    {
        if (reader.GetFieldType(ordinal) == typeof(decimal))
            return reader.IsDBNull(ordinal) ? DBNull.Value : ((MySqlDataReader)reader).GetMySqlDecimal(ordinal).ToString();
        var value = reader.GetValue(ordinal);
        return value is MySqlDateTime date
            ? date.IsValidDateTime ? date.GetDateTime() : new ZeroDate(date.Year, date.Month, date.Day, date.Hour, date.Minute, date.Second)
            : value;
    }
}
