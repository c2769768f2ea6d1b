using System.Globalization;
using Ferry.Diagnostics;
using Ferry.Engine;
using Ferry.Manifest;
using Microsoft.Data.Sqlite;

namespace Ferry.Targets.Sqlite;

/// <summary>
/// The embedded default target: one SQLite file holding the production tables, the staging tables
/// and the ledger. A lock file beside it keeps two runs from loading the same target at once.
/// </summary>
public sealed class SqliteTarget : ITarget
{
    private readonly SqliteConnection connection;
    private readonly FileStream? runLock;
    private readonly bool dryRun;

    private SqliteTarget(SqliteConnection connection, FileStream? runLock, bool dryRun)
    {
        this.connection = connection;
        this.runLock = runLock;
        this.dryRun = dryRun;
    }

    internal SqliteConnection Connection => connection;

    /// <summary>
    /// Opens the target for a run. In a dry run nothing on disk changes: a missing database is
    /// replaced by an empty one in memory, and all work is rolled back at the end.
    /// </summary>
    public static async Task<SqliteTarget> OpenForRunAsync(MigrationManifest manifest, bool dryRun, CancellationToken cancellationToken)
    {
        var path = DatabasePath(manifest);
        if (path is not null)
            RefuseFolder(path);
        FileStream? runLock = null;
        if (!dryRun && path is not null)
            runLock = AcquireRunLock(path);
        try
        {
            var connection = dryRun && path is not null && !File.Exists(path)
                ? new SqliteConnection("Data Source=:memory:")
                : new SqliteConnection(ConnectionString(manifest, SqliteOpenMode.ReadWriteCreate));
            await OpenAsync(connection, manifest, cancellationToken).ConfigureAwait(false);
            // Transactions are SQL savepoints rather than SqliteTransaction objects, so that a dry run
            // can wrap the whole run in one outer transaction and roll it all back at the end.
            await ExecuteAsync(connection, dryRun
                ? "PRAGMA cache_size=-16384; PRAGMA foreign_keys=ON; BEGIN;"
                : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-16384; PRAGMA foreign_keys=ON;", cancellationToken).ConfigureAwait(false);
            return new SqliteTarget(connection, runLock, dryRun);
        }
        catch
        {
            runLock?.Dispose();
            throw;
        }
    }

    /// <summary>Opens the target to read the ledger (runs, status, rejects); never creates it.</summary>
    public static async Task<SqliteConnection> OpenLedgerAsync(MigrationManifest manifest, bool write, CancellationToken cancellationToken)
    {
        var path = DatabasePath(manifest);
        if (path is not null)
            RefuseFolder(path);
        if (path is not null && !File.Exists(path))
            throw new TargetException($"the target database {Path.GetFileName(path)} does not exist yet: no run has written to it");
        var connection = new SqliteConnection(ConnectionString(manifest, write ? SqliteOpenMode.ReadWrite : SqliteOpenMode.ReadOnly));
        await OpenAsync(connection, manifest, cancellationToken).ConfigureAwait(false);
        return connection;
    }

    /// <summary>The database file, resolved against the manifest's folder; null for an in-memory database.</summary>
    public static string? DatabasePath(MigrationManifest manifest)
    {
        SqliteConnectionStringBuilder builder;
        try
        {
            builder = new SqliteConnectionStringBuilder(manifest.Target.Connection.Reveal());
        }
        catch (ArgumentException ex)
        {
            throw new TargetException($"the target connection string is not valid for SQLite: {SecretMasker.Scrub(ex.Message)}");
        }
        var source = builder.DataSource;
        if (string.IsNullOrEmpty(source) || source == ":memory:" || builder.Mode == SqliteOpenMode.Memory)
            return null;
        return Path.GetFullPath(Path.Combine(manifest.Directory, source));
    }

    /// <summary>SQLite reports a folder only as "unable to open database file"; say what is wrong.</summary>
    internal static void RefuseFolder(string databasePath)
    {
        if (Directory.Exists(databasePath))
            throw new TargetException($"cannot open the SQLite target {Path.GetFileName(databasePath)}: {databasePath} is a folder, not a database file");
    }

    private static string ConnectionString(MigrationManifest manifest, SqliteOpenMode mode)
    {
        var builder = new SqliteConnectionStringBuilder(manifest.Target.Connection.Reveal()) { Mode = mode, Pooling = false };
        if (DatabasePath(manifest) is { } path)
            builder.DataSource = path;
        return builder.ToString();
    }

    private static async Task OpenAsync(SqliteConnection connection, MigrationManifest manifest, CancellationToken cancellationToken)
    {
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            // Opening is lazy in SQLite: read the schema now so that a file that is not a database fails here.
            await ExecuteAsync(connection, "SELECT count(*) FROM sqlite_master", cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException ex)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            var where = DatabasePath(manifest) is { } path ? Path.GetFileName(path) : "in-memory database";
            throw new TargetException($"cannot open the SQLite target {where}: {SecretMasker.Scrub(ex.Message)}", ex);
        }
    }

    private static FileStream AcquireRunLock(string databasePath)
    {
        var directory = Path.GetDirectoryName(databasePath)!;
        if (!Directory.Exists(directory))
            throw new TargetException($"cannot open the SQLite target {Path.GetFileName(databasePath)}: folder {directory} does not exist");
        try
        {
            return new FileStream(databasePath + ".ferry-lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (IOException ex)
        {
            throw new TargetException($"another ferry run is loading {Path.GetFileName(databasePath)} right now; wait for it to finish", ex);
        }
    }

    public async Task<long> BeginRunAsync(RunStart start, CancellationToken cancellationToken)
    {
        await ExecuteAsync(connection, SqliteLedgerSchema.Create, cancellationToken).ConfigureAwait(false);
        // We hold the run lock, so a run still marked running belongs to a process that died.
        await using (var stale = connection.CreateCommand())
        {
            stale.CommandText = "UPDATE ferry_runs SET status = 'failed', finished_at = $now, error = 'the process ended before the run finished' WHERE status = 'running'";
            stale.Parameters.AddWithValue("$now", Now());
            await stale.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO ferry_runs (name, manifest, source, correlation_id, started_at, status, host, pid)
            VALUES ($name, $manifest, $source, $correlation, $now, 'running', $host, $pid)
            RETURNING run_id
            """;
        command.Parameters.AddWithValue("$name", (object?)start.Name ?? DBNull.Value);
        command.Parameters.AddWithValue("$manifest", start.Manifest);
        command.Parameters.AddWithValue("$source", start.Source);
        command.Parameters.AddWithValue("$correlation", start.CorrelationId);
        command.Parameters.AddWithValue("$now", Now());
        command.Parameters.AddWithValue("$host", Environment.MachineName);
        command.Parameters.AddWithValue("$pid", Environment.ProcessId);
        return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    public async Task<IEntityLoader> BeginEntityAsync(long runId, EntityPlan plan, CancellationToken cancellationToken) =>
        await SqliteEntityLoader.CreateAsync(this, runId, plan, dryRun, cancellationToken).ConfigureAwait(false);

    public async Task FinishRunAsync(long runId, RunStatus status, string? error, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "UPDATE ferry_runs SET status = $status, finished_at = $now, error = $error WHERE run_id = $run";
        command.Parameters.AddWithValue("$status", status.ToString().ToLowerInvariant());
        command.Parameters.AddWithValue("$now", Now());
        command.Parameters.AddWithValue("$error", error is null ? DBNull.Value : SecretMasker.Scrub(error));
        command.Parameters.AddWithValue("$run", runId);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    internal static string Now() => DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    internal static async Task ExecuteAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (dryRun && connection.State == System.Data.ConnectionState.Open)
            await ExecuteAsync(connection, "ROLLBACK", CancellationToken.None).ConfigureAwait(false);
        await connection.DisposeAsync().ConfigureAwait(false);
        if (runLock is not null)
            await runLock.DisposeAsync().ConfigureAwait(false);
    }
}
