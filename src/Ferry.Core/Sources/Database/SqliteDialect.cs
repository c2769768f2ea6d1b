using System.Data.Common;
using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Ferry.Sources.Database;

/// <summary>
/// A legacy SQLite file, opened read-only unless the connection string sets <c>Mode</c>. SQLite
/// compares row values (3.15 and later), so a composite key pages with <c>(k1, k2) &gt; (@p0, @p1)</c>.
/// </summary>
public sealed class SqliteDialect : ISqlDialect
{
    public static readonly SqliteDialect Instance = new();

    public string Name => "sqlite";

    public DbConnection CreateConnection(string connectionString, string manifestDirectory)
    {
        var builder = new SqliteConnectionStringBuilder(connectionString) { Pooling = false };
        var given = new DbConnectionStringBuilder { ConnectionString = connectionString };
        var memory = builder.DataSource is "" or ":memory:" || builder.DataSource.StartsWith("file:", StringComparison.OrdinalIgnoreCase);
        if (!memory)
        {
            builder.DataSource = Path.GetFullPath(Path.Combine(manifestDirectory, builder.DataSource));
            // Read-only also keeps a missing file from being created empty: the open fails instead.
            if (!given.ContainsKey("Mode"))
                builder.Mode = SqliteOpenMode.ReadOnly;
            if (!File.Exists(builder.DataSource))
                throw new ArgumentException($"the source database {builder.DataSource} does not exist");
        }
        return new SqliteConnection(builder.ConnectionString);
    }

    public string Quote(string identifier) => $"\"{identifier.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";

    public string Parameter(int index) => "@p" + index.ToString(CultureInfo.InvariantCulture);

    public string Page(KeysetQuery query, bool afterCursor, int size) =>
        $"SELECT {query.Select} FROM {query.From}{(afterCursor ? " WHERE " + query.RowAfter(this) : "")} ORDER BY {query.OrderBy} LIMIT {size.ToString(CultureInfo.InvariantCulture)}";

    public string KeyAt(KeysetQuery query, long offset) =>
        $"SELECT {query.OrderBy} FROM {query.From} ORDER BY {query.OrderBy} LIMIT 1 OFFSET {offset.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>SQLite stores text as bytes without checking them; a blob cast hands them over unchanged.</summary>
    public string StoredBytes(string column) => $"CAST({column} AS BLOB)";

    public object GetValue(DbDataReader reader, int ordinal) => reader.GetValue(ordinal);

    /// <summary>
    /// Through SQLite's own statement API (<see cref="SqlitePageRows"/>); a key of a type it does not bind
    /// (a cursor the caller gave), or a process whose SQLite is not the bundle's e_sqlite3, through the driver.
    /// </summary>
    public Task<IPageRows> OpenPageAsync(DbConnection connection, string sql, object[]? lastKey, CancellationToken cancellationToken) =>
        connection is SqliteConnection sqlite && SqlitePageRows.Usable && (lastKey is null || lastKey.All(SqlitePageRows.Binds))
            ? Task.FromResult(SqlitePageRows.Open(this, sqlite, sql, lastKey))
            : DbPageRows.OpenAsync(this, connection, sql, lastKey, cancellationToken);
}
