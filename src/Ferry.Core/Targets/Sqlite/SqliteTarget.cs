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
        await SqliteLedgerSchema.UpgradeAsync(connection, cancellationToken).ConfigureAwait(false);
        return await RunLedger.BeginAsync(connection, SqliteLedgerSchema.Names, start, Now(), cancellationToken).ConfigureAwait(false);
    }

    public async Task<IEntityLoader> BeginEntityAsync(long runId, EntityPlan plan, CancellationToken cancellationToken) =>
        await SqliteEntityLoader.CreateAsync(this, runId, plan, dryRun, cancellationToken).ConfigureAwait(false);

    public Task FinishRunAsync(long runId, RunStatus status, string? error, CancellationToken cancellationToken) =>
        RunLedger.FinishAsync(connection, SqliteLedgerSchema.Names, runId, status, error, Now(), cancellationToken);

    public async Task<KeyMap.LegacyKeySet> ReadLegacyKeysAsync(string entity, string tenant, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT legacy_key FROM ferry_key_map WHERE entity = $entity AND tenant = $tenant";
        command.Parameters.AddWithValue("$entity", entity);
        command.Parameters.AddWithValue("$tenant", tenant);
        return await KeyMap.LegacyKeySet.ReadAsync(command, cancellationToken).ConfigureAwait(false);
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
