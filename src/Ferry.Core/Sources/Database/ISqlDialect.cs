using System.Data.Common;
using Ferry.Manifest;

namespace Ferry.Sources.Database;

/// <summary>
/// What differs between the databases a source can read: connecting, quoting, parameters, and the
/// SQL of a keyset page. One class per database; the SQL is built without a connection, so that it
/// can be tested for a server these machines cannot run (SQL Server).
/// </summary>
public interface ISqlDialect
{
    /// <summary>The source type as the manifest names it.</summary>
    string Name { get; }

    /// <summary>
    /// A connection (not yet opened) with the options Ferry's value rules rely on, whatever the
    /// connection string says; a relative file is resolved against <paramref name="manifestDirectory"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The connection string is not valid.</exception>
    DbConnection CreateConnection(string connectionString, string manifestDirectory);

    /// <summary>An identifier quoted so that any name (a keyword, spaces, mixed case) is taken as it is.</summary>
    string Quote(string identifier);

    /// <summary>The placeholder of the <paramref name="index"/>th parameter, as SQL text and as the parameter's name.</summary>
    string Parameter(int index);

    /// <summary>
    /// The next <paramref name="size"/> rows in key order: the first page, or with
    /// <paramref name="afterCursor"/> the rows whose key is greater than the parameters
    /// <c>Parameter(0)…Parameter(k-1)</c> (the last key read).
    /// </summary>
    string Page(KeysetQuery query, bool afterCursor, int size);

    /// <summary>The key of the row at <paramref name="offset"/> (0-based) in key order: where a resumed read starts.</summary>
    string KeyAt(KeysetQuery query, long offset);

    /// <summary>SQL for the bytes a column stores, past any character conversion by the server or the driver.</summary>
    string StoredBytes(string column);

    /// <summary>A value as the driver gives it (<see cref="DBNull"/> for NULL), with this database's exceptions (MySQL's zero dates and exact decimals).</summary>
    object GetValue(DbDataReader reader, int ordinal);

    /// <summary>Runs a page's SQL (<see cref="Page"/>) with <paramref name="lastKey"/> as its parameters; through ADO.NET unless the database reads faster otherwise.</summary>
    Task<IPageRows> OpenPageAsync(DbConnection connection, string sql, object[]? lastKey, CancellationToken cancellationToken) =>
        DbPageRows.OpenAsync(this, connection, sql, lastKey, cancellationToken);
}

/// <summary>The dialect of each kind of database source.</summary>
public static class SqlDialects
{
    public static ISqlDialect For(SourceKind kind) => kind switch
    {
        SourceKind.Sqlite => SqliteDialect.Instance,
        SourceKind.Postgres => PostgresDialect.Instance,
        SourceKind.MySql => MySqlDialect.Instance,
        SourceKind.SqlServer => SqlServerDialect.Instance,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a database source"),
    };
}
