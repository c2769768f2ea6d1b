using Ferry.Diagnostics;
using Ferry.Engine;
using Ferry.Manifest;
using Npgsql;

namespace Ferry.Targets.Postgres;

/// <summary>
/// The production target: PostgreSQL, with the ledger in the <c>ferry</c> schema of the same
/// database. One connection does the run's work and holds its advisory lock, so a second run of the
/// same manifest is refused at once and a run whose process died releases the lock with its session.
/// </summary>
public sealed class PostgresTarget : ITarget
{
    private readonly NpgsqlConnection connection;
    private readonly MigrationManifest manifest;
    private readonly bool dryRun;
    private bool locked;

    private PostgresTarget(NpgsqlConnection connection, MigrationManifest manifest, bool dryRun)
    {
        this.connection = connection;
        this.manifest = manifest;
        this.dryRun = dryRun;
    }

    internal NpgsqlConnection Connection => connection;
    internal string Schema => manifest.Target.Schema;
    internal MigrationManifest Manifest => manifest;

    public static async Task<PostgresTarget> OpenForRunAsync(MigrationManifest manifest, bool dryRun, CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(manifest, cancellationToken).ConfigureAwait(false);
        try
        {
            var target = new PostgresTarget(connection, manifest, dryRun);
            if (dryRun)
            {
                // Everything, the ledger's creation included, happens in one transaction rolled back at the end.
                await target.ExecuteAsync("BEGIN", cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await target.AcquireRunLockAsync(cancellationToken).ConfigureAwait(false);
            }
            await EnsureLedgerAsync(connection, cancellationToken).ConfigureAwait(false);
            return target;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A connection for tenants loading beside the run's own connection, which holds the run lock and made the ledger.</summary>
    public static async Task<PostgresTarget> OpenLaneAsync(MigrationManifest manifest, CancellationToken cancellationToken) =>
        new(await OpenAsync(manifest, cancellationToken).ConfigureAwait(false), manifest, dryRun: false);

    /// <summary>Opens a connection to the manifest's database, with the session settings Ferry relies on.</summary>
    /// <remarks>
    /// Ferry's own statements run with the server's JIT compiler off: they are many and short, one set
    /// per batch, and their cost estimates (a subquery over a large table, thousands of rows written)
    /// cross the JIT thresholds, so that compiling took longer than running. Measured on an scd2 wave
    /// of 10,000 rows: the closing report 250 ms with JIT, 20 ms without. The project's own SQL
    /// (<paramref name="userSql"/>: the mart's publish files) keeps the server's setting.
    /// </remarks>
    internal static async Task<NpgsqlConnection> OpenAsync(MigrationManifest manifest, CancellationToken cancellationToken, bool userSql = false)
    {
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(manifest.Target.Connection.Reveal());
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or KeyNotFoundException)
        {
            throw new TargetException($"the target connection string is not valid for PostgreSQL: {SecretMasker.Scrub(ex.Message)}");
        }
        builder.ApplicationName ??= "ferry";
        builder.Timezone = "UTC";
        builder.Pooling = false;
        var given = Named(builder);
        if (!given.Contains("maxautoprepare"))
        {
            builder.MaxAutoPrepare = AutoPrepared;
            if (!given.Contains("autoprepareminusages"))
                builder.AutoPrepareMinUsages = 2;
        }
        if (!given.Contains("writebuffersize"))
            builder.WriteBufferSize = WriteBuffer;
        if (!userSql)
            builder.Options = string.IsNullOrWhiteSpace(builder.Options) ? "-c jit=off" : builder.Options + " -c jit=off";
        var connection = new NpgsqlConnection(builder.ConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw new TargetException($"cannot connect to the PostgreSQL target {Describe(builder)}: {SecretMasker.Scrub(ex.Message)}", ex);
        }
        return connection;
    }

    /// <summary>
    /// Statements a connection keeps prepared (Npgsql's automatic preparation) once it has sent them
    /// twice, unless the connection string sets <c>Max Auto Prepare</c> itself (0 turns it off, as for
    /// a pooler that cannot keep prepared statements). A run sends the same few statements for every
    /// batch (the landing, the COPY's version, the batch record and counts, the commit), and the server
    /// had parsed and planned each of them again every time: on a 2,000,000-row first load, about
    /// 1.3 of the server's 8 CPU-seconds. Prepared, a statement runs with a plan made once; the
    /// upsert's waves, whose work table holds other rows each time, ask for a plan per execution
    /// (<c>plan_cache_mode</c>, in <c>PostgresEntityLoader</c>).
    /// </summary>
    internal const int AutoPrepared = 64;

    /// <summary>
    /// Bytes a connection gathers before it sends them, unless the connection string sets <c>Write
    /// Buffer Size</c> itself; Npgsql's own default is 8 KB. A COPY's rows go to Npgsql 64 KB at a time
    /// (<c>BinaryCopyWriter</c>), and a write larger than the room left in that buffer went out as four
    /// sends: the buffer (an empty COPY message, twice) and the chunk's own header before the chunk,
    /// each a system call and a wake-up of the server. Here a chunk joins the buffer and goes out in one.
    /// On a 2,000,000-row first load the process made 7,600 sends instead of 36,000, and was the faster
    /// in 20 of 24 alternated pairs (wall-time medians 8.5 s against 9.2 s, and 10.4 s against 10.9 s
    /// when the machine was slower).
    /// </summary>
    internal const int WriteBuffer = 128 * 1024;

    /// <summary>The settings the connection string as given names, without spaces (compared without case).</summary>
    private static HashSet<string> Named(NpgsqlConnectionStringBuilder builder) =>
        new System.Data.Common.DbConnectionStringBuilder { ConnectionString = builder.ConnectionString }.Keys.Cast<string>()
            .Select(k => k.Replace(" ", "", StringComparison.Ordinal)).ToHashSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>host:port/database, the way a person names the target; never the password.</summary>
    internal static string Describe(NpgsqlConnectionStringBuilder builder) =>
        SecretMasker.Scrub($"{builder.Host}:{builder.Port}/{builder.Database}");

    internal static async Task EnsureLedgerAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        var inTransaction = await InTransactionAsync(connection, cancellationToken).ConfigureAwait(false);
        command.CommandText = (inTransaction ? "" : "BEGIN;") +
            $"SELECT pg_advisory_xact_lock({PostgresLedgerSchema.DdlLock});" + PostgresLedgerSchema.Create + (inTransaction ? "" : "COMMIT;");
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task<bool> InTransactionAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT now() <> statement_timestamp()";
        // Inside a transaction now() is the transaction's start, before this statement's own timestamp.
        return (bool)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    private async Task AcquireRunLockAsync(CancellationToken cancellationToken)
    {
        if (await TryRunLockAsync(cancellationToken).ConfigureAwait(false))
            return;
        await EnsureLedgerAsync(connection, cancellationToken).ConfigureAwait(false);
        string running;
        int? pid = null;
        string? host = null;
        await using (var who = connection.CreateCommand())
        {
            who.CommandText = "SELECT run_id, pid, host, started_at FROM ferry.runs WHERE manifest = @manifest AND status = 'running' ORDER BY run_id DESC LIMIT 1";
            who.Parameters.AddWithValue("manifest", manifest.FilePath);
            await using var reader = await who.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                pid = reader.IsDBNull(1) ? null : reader.GetInt32(1);
                host = reader.IsDBNull(2) ? null : reader.GetString(2);
                running = $"run {reader.GetInt64(0)} (process {pid} on {host}, started {reader.GetDateTime(3):yyyy-MM-dd HH:mm:ss}Z)";
            }
            else
                running = "another run";
        }
        // A process that died (kill -9) leaves its session, and so the lock, to the server until the
        // server notices the closed connection: at once when the session is idle, at the end of its
        // statement when it is busy. When the running run's process is known to be gone, wait for that.
        if (pid is { } id && host == Environment.MachineName && !ProcessAlive(id))
        {
            var deadline = DateTime.UtcNow + DeadHolderWait;
            while (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100, cancellationToken).ConfigureAwait(false);
                if (await TryRunLockAsync(cancellationToken).ConfigureAwait(false))
                    return;
            }
        }
        throw new TargetException($"{running} is loading this manifest into the target right now; a second run is refused. Wait for it to finish, or stop it");
    }

    /// <summary>How long a run waits for the session of a run whose process has died to end.</summary>
    private static readonly TimeSpan DeadHolderWait = TimeSpan.FromSeconds(30);

    private async Task<bool> TryRunLockAsync(CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT pg_try_advisory_lock({PostgresLedgerSchema.RunLockClass}, hashtext(@manifest))";
        command.Parameters.AddWithValue("manifest", manifest.FilePath);
        locked = (bool)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        return locked;
    }

    private static bool ProcessAlive(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>
    /// Releases the run lock before the connection closes. Closing alone would release it only once the
    /// server's session has ended, a moment after the client has gone on: a run or rollback started
    /// right after this one ended could still find the lock taken and be refused.
    /// </summary>
    internal static async Task UnlockAsync(NpgsqlConnection connection, string manifestPath)
    {
        if (connection.State != System.Data.ConnectionState.Open)
            return;
        try
        {
            await using var command = connection.CreateCommand();
            command.CommandText = $"SELECT pg_advisory_unlock({PostgresLedgerSchema.RunLockClass}, hashtext(@manifest))";
            command.Parameters.AddWithValue("manifest", manifestPath);
            await command.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (NpgsqlException)
        {
            // The connection is gone: so is its session, and the lock with it.
        }
    }

    /// <summary>How the run began (its as-of time, whether it reads the whole source), once it has.</summary>
    internal RunStart? Start { get; private set; }

    public async Task<RunBegin> BeginRunAsync(RunStart start, CancellationToken cancellationToken)
    {
        Start = start;
        return await RunLedger.BeginAsync(connection, PostgresLedgerSchema.Names, start, DateTime.UtcNow, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IEntityLoader> BeginEntityAsync(long runId, EntityPlan plan, CancellationToken cancellationToken) =>
        await PostgresEntityLoader.CreateAsync(this, runId, plan, dryRun, cancellationToken).ConfigureAwait(false);

    public Task FinishRunAsync(long runId, RunStatus status, string? error, CancellationToken cancellationToken) =>
        RunLedger.FinishAsync(connection, PostgresLedgerSchema.Names, runId, status, error, DateTime.UtcNow, cancellationToken);

    public async Task<KeyMap.LegacyKeySet> ReadLegacyKeysAsync(string entity, string tenant, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT legacy_key FROM ferry.key_map WHERE entity = @entity AND tenant = @tenant";
        command.Parameters.AddWithValue("entity", entity);
        command.Parameters.AddWithValue("tenant", tenant);
        return await KeyMap.LegacyKeySet.ReadAsync(command, cancellationToken).ConfigureAwait(false);
    }

    internal async Task ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Failures that a new connection may not meet again: the connection was lost or the server restarted.</summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        PostgresException pg => pg.IsTransient || pg.SqlState.StartsWith("08", StringComparison.Ordinal) || pg.SqlState is "57P01" or "57P02" or "57P03",
        NpgsqlException npgsql => npgsql.IsTransient || npgsql.InnerException is IOException or System.Net.Sockets.SocketException,
        // A connection refused or reset when the run starts is worth the same retries as one lost mid-run.
        TargetException { InnerException: { } inner } => IsTransient(inner),
        _ => false,
    };

    public async ValueTask DisposeAsync()
    {
        if (dryRun && connection.State == System.Data.ConnectionState.Open)
        {
            try
            {
                await ExecuteAsync("ROLLBACK", CancellationToken.None).ConfigureAwait(false);
            }
            catch (NpgsqlException)
            {
                // The connection is gone: the server has rolled the dry run back already.
            }
        }
        if (locked)
            await UnlockAsync(connection, manifest.FilePath).ConfigureAwait(false);
        await connection.DisposeAsync().ConfigureAwait(false);
    }
}
