using System.Data.Common;
using Microsoft.Data.Sqlite;
using MySqlConnector;

namespace Ferry.Bench;

/// <summary>
/// A legacy district database being written: its tables are created from DDL, then rows are
/// inserted through one prepared statement per table, all in one transaction (begun by the first
/// insert, after the DDL, which MariaDB would commit implicitly) that <see cref="Commit"/> ends. SQLite files are written without a journal (a generator's output is
/// thrown away when it fails); MariaDB gets <c>sql_mode=''</c> so that zero dates go in as the
/// legacy application wrote them.
/// </summary>
internal sealed class LegacyDatabaseWriter : IDisposable
{
    private readonly DbConnection _connection;
    private DbTransaction? _transaction;
    private readonly Dictionary<string, DbCommand> _inserts = new(StringComparer.Ordinal);

    private LegacyDatabaseWriter(DbConnection connection, bool mySql)
    {
        _connection = connection;
        IsMySql = mySql;
    }

    public bool IsMySql { get; }

    /// <summary>A new SQLite file (an existing one is replaced).</summary>
    public static LegacyDatabaseWriter CreateSqlite(string path)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(folder))
            Directory.CreateDirectory(folder);
        foreach (var suffix in new[] { "", "-wal", "-shm", "-journal" })
            File.Delete(path + suffix);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ConnectionString);
        connection.Open();
        Execute(connection, null, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA page_size = 8192;");
        return new LegacyDatabaseWriter(connection, mySql: false);
    }

    /// <summary>The database a MySQL/MariaDB connection string names, dropped and created afresh.</summary>
    public static LegacyDatabaseWriter CreateMySql(string connectionString)
    {
        var builder = new MySqlConnectionStringBuilder(connectionString);
        var database = builder.Database;
        if (string.IsNullOrEmpty(database))
            throw new ArgumentException("the MySQL connection string names no Database");
        builder.Database = "";
        builder.AllowUserVariables = true;
        using (var server = new MySqlConnection(builder.ConnectionString))
        {
            server.Open();
            Execute(server, null, $"DROP DATABASE IF EXISTS `{database}`; CREATE DATABASE `{database}` CHARACTER SET utf8mb4");
        }
        builder.Database = database;
        var connection = new MySqlConnection(builder.ConnectionString);
        connection.Open();
        Execute(connection, null, "SET SESSION sql_mode = ''");
        return new LegacyDatabaseWriter(connection, mySql: true);
    }

    /// <summary>Runs DDL or any other statement in the database's transaction.</summary>
    public void Execute(string sql) => Execute(_connection, _transaction, sql);

    /// <summary>Inserts one row; the statement for a (table, columns) pair is prepared once.</summary>
    public void Insert(string table, string[] columns, params object?[] values)
    {
        _transaction ??= _connection.BeginTransaction();
        if (!_inserts.TryGetValue(table, out var command))
        {
            command = _connection.CreateCommand();
            command.Transaction = _transaction;
            var quote = IsMySql ? "`" : "\"";
            command.CommandText = $"INSERT INTO {quote}{table}{quote} ({string.Join(", ", columns.Select(c => quote + c + quote))}) " +
                $"VALUES ({string.Join(", ", columns.Select((_, i) => "@p" + i))})";
            for (var i = 0; i < columns.Length; i++)
            {
                var parameter = command.CreateParameter();
                parameter.ParameterName = "@p" + i;
                command.Parameters.Add(parameter);
            }
            command.Prepare();
            _inserts[table] = command;
        }
        for (var i = 0; i < values.Length; i++)
            command.Parameters[i].Value = values[i] ?? DBNull.Value;
        command.ExecuteNonQuery();
    }

    public void Commit() => _transaction?.Commit();

    public void Dispose()
    {
        foreach (var command in _inserts.Values)
            command.Dispose();
        _transaction?.Dispose();
        _connection.Dispose();
    }

    private static void Execute(DbConnection connection, DbTransaction? transaction, string sql)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
