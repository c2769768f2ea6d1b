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
            runLock = AcquireRunLock(manifest, path);
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
                : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=16384; PRAGMA cache_size=-16384; PRAGMA foreign_keys=ON;", cancellationToken).ConfigureAwait(false);
            return new SqliteTarget(connection, runLock, dryRun);
        }
        catch
        {
            runLock?.Dispose();
            throw;
        }
    }

    /// <summary>Checks the target can be opened (or created), without changing it.</summary>
    public static async Task CheckAsync(MigrationManifest manifest, CancellationToken cancellationToken)
    {
        if (DatabasePath(manifest) is { } target)
            RefuseFolder(target);
        if (DatabasePath(manifest) is { } path && File.Exists(path))
            await (await OpenLedgerAsync(manifest, write: false, cancellationToken).ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
        else if (DatabasePath(manifest) is { } missing && !Directory.Exists(Path.GetDirectoryName(missing)))
            throw MissingFolder(manifest, missing, "create");
    }

    /// <summary>Opens the target to read the ledger (runs, status, rejects); never creates it.</summary>
    public static async Task<SqliteConnection> OpenLedgerAsync(MigrationManifest manifest, bool write, CancellationToken cancellationToken)
    {
        var path = DatabasePath(manifest);
        if (path is not null)
            RefuseFolder(path);
        if (path is not null && !File.Exists(path))
            throw new TargetException($"the target database {Describe(manifest, path)} does not exist yet: no run has written to it");
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
            var where = DatabasePath(manifest) is { } path ? Describe(manifest, path) : "in-memory database";
            throw new TargetException($"cannot open the SQLite target {where}: {SecretMasker.Scrub(ex.Message)}", ex);
        }
    }

    /// <summary>
    /// How messages name the database file: by its name, or not at all when its location came from
    /// a secret. The masker hides a secret only where its whole value appears, and a file or folder
    /// name is only part of it.
    /// </summary>
    public static string Describe(MigrationManifest manifest, string databasePath) =>
        LocationIsSecret(manifest) ? "(location hidden: it comes from a secret)" : Path.GetFileName(databasePath);

    /// <summary>The error for a database whose folder does not exist.</summary>
    public static TargetException MissingFolder(MigrationManifest manifest, string databasePath, string verb) =>
        new(LocationIsSecret(manifest)
            ? $"cannot {verb} the SQLite target {Describe(manifest, databasePath)}: its folder does not exist"
            : $"cannot {verb} the SQLite target {Path.GetFileName(databasePath)}: folder {Path.GetDirectoryName(databasePath)} does not exist");

    private static bool LocationIsSecret(MigrationManifest manifest)
    {
        var connection = manifest.Target.Connection;
        if (connection.Secrets.Count == 0)
            return false;
        var source = new SqliteConnectionStringBuilder(connection.Reveal()).DataSource;
        return connection.Secrets.Any(secret => secret.Length > 0 && source.Contains(secret, StringComparison.Ordinal));
    }

    private static FileStream AcquireRunLock(MigrationManifest manifest, string databasePath)
    {
        var directory = Path.GetDirectoryName(databasePath)!;
        if (!Directory.Exists(directory))
            throw MissingFolder(manifest, databasePath, "open");
        try
        {
            return new FileStream(databasePath + ".ferry-lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (IOException ex)
        {
            throw new TargetException($"another ferry run is loading {Describe(manifest, databasePath)} right now; wait for it to finish", ex);
        }
    }

    public async Task<RunBegin> BeginRunAsync(RunStart start, CancellationToken cancellationToken)
    {
        await ExecuteAsync(connection, SqliteLedgerSchema.Create, cancellationToken).ConfigureAwait(false);
        // We hold the run lock, so a run of this manifest still marked running belongs to a process that died.
        long? interrupted = null;
        string? fingerprint = null;
        await using (var latest = connection.CreateCommand())
        {
            latest.CommandText = "SELECT run_id, status, source_fingerprint FROM ferry_runs WHERE manifest = $manifest ORDER BY run_id DESC LIMIT 1";
            latest.Parameters.AddWithValue("$manifest", start.Manifest);
            await using var reader = await latest.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false)
                && (reader.GetString(1) == "running" || start.Resume && reader.GetString(1) == "failed"))
            {
                interrupted = reader.GetInt64(0);
                fingerprint = reader.IsDBNull(2) ? null : reader.GetString(2);
            }
        }
        if (interrupted is { } id && !start.Restart && !start.DryRun)
        {
            if (fingerprint != start.SourceFingerprint)
                throw new TargetException($"run {id} was interrupted, but its source has changed since; it cannot be resumed. Run again with --restart to start a new run");
            await using (var resume = connection.CreateCommand())
            {
                resume.CommandText = "UPDATE ferry_runs SET status = 'running', finished_at = NULL, error = NULL, correlation_id = $correlation, pid = $pid WHERE run_id = $run";
                resume.Parameters.AddWithValue("$correlation", start.CorrelationId);
                resume.Parameters.AddWithValue("$pid", Environment.ProcessId);
                resume.Parameters.AddWithValue("$run", id);
                await resume.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            return new RunBegin(id, true, await CheckpointsAsync(id, cancellationToken).ConfigureAwait(false));
        }
        await using (var stale = connection.CreateCommand())
        {
            stale.CommandText = "UPDATE ferry_runs SET status = 'failed', finished_at = $now, error = 'the process ended before the run finished' WHERE status = 'running'";
            stale.Parameters.AddWithValue("$now", Now());
            await stale.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO ferry_runs (name, manifest, source, correlation_id, started_at, status, host, pid, source_fingerprint)
            VALUES ($name, $manifest, $source, $correlation, $now, 'running', $host, $pid, $fingerprint)
            RETURNING run_id
            """;
        command.Parameters.AddWithValue("$name", (object?)start.Name ?? DBNull.Value);
        // A path may hold a substituted secret (path: ${INBOX}/requests.csv): the ledger keeps it masked.
        command.Parameters.AddWithValue("$manifest", SecretMasker.Scrub(start.Manifest));
        command.Parameters.AddWithValue("$source", SecretMasker.Scrub(start.Source));
        command.Parameters.AddWithValue("$correlation", start.CorrelationId);
        command.Parameters.AddWithValue("$now", Now());
        command.Parameters.AddWithValue("$host", Environment.MachineName);
        command.Parameters.AddWithValue("$pid", Environment.ProcessId);
        command.Parameters.AddWithValue("$fingerprint", start.SourceFingerprint);
        var runId = (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        return new RunBegin(runId, false, new Dictionary<string, EntityCheckpoint>());
    }

    /// <summary>Each entity's last committed batch and the counts of all its committed batches.</summary>
    private async Task<Dictionary<string, EntityCheckpoint>> CheckpointsAsync(long runId, CancellationToken cancellationToken)
    {
        var checkpoints = new Dictionary<string, EntityCheckpoint>(StringComparer.Ordinal);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT b.entity, max(b.batch_no), max(b.last_line), sum(b.rows_read), sum(b.inserted), sum(b.updated),
                   sum(b.unchanged), sum(b.rejected), sum(b.warnings), e.completed_at IS NOT NULL
            FROM ferry_batches b LEFT JOIN ferry_run_entities e ON e.run_id = b.run_id AND e.entity = b.entity
            WHERE b.run_id = $run GROUP BY b.entity
            """;
        command.Parameters.AddWithValue("$run", runId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            checkpoints[reader.GetString(0)] = new EntityCheckpoint(reader.GetInt32(1), reader.GetInt64(2), LedgerReader.Counts(reader, 3), reader.GetBoolean(9));
        return checkpoints;
    }

    public async Task<IEntityLoader> BeginEntityAsync(long runId, EntityPlan plan, EntityCheckpoint? checkpoint, CancellationToken cancellationToken) =>
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
