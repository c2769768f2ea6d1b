using System.Data.Common;
using System.Globalization;
using Npgsql;

namespace Ferry.Sources.Database;

/// <summary>PostgreSQL through Npgsql. It compares row values and uses a composite index to do so.</summary>
public sealed class PostgresDialect : ISqlDialect
{
    public static readonly PostgresDialect Instance = new();

    public string Name => "postgres";

    public DbConnection CreateConnection(string connectionString, string manifestDirectory) =>
        new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString).ConnectionString);

    public string Quote(string identifier) => $"\"{identifier.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";

    public string Parameter(int index) => "@p" + index.ToString(CultureInfo.InvariantCulture);

    public string Page(KeysetQuery query, bool afterCursor, int size) =>
        $"SELECT {query.Select} FROM {query.From}{(afterCursor ? " WHERE " + query.RowAfter(this) : "")} ORDER BY {query.OrderBy} LIMIT {size.ToString(CultureInfo.InvariantCulture)}";

    public string KeyAt(KeysetQuery query, long offset) =>
        $"SELECT {query.OrderBy} FROM {query.From} ORDER BY {query.OrderBy} LIMIT 1 OFFSET {offset.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// PostgreSQL checks text against the database encoding when it is stored, so its text needs no
    /// second decoding: a column is read as it is (<c>decode</c> then applies to <c>bytea</c> only).
    /// </summary>
    public string StoredBytes(string column) => column;

    public object GetValue(DbDataReader reader, int ordinal) => reader.GetValue(ordinal);
}
