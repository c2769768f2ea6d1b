using System.Data.Common;
using Ferry.Diagnostics;
using Ferry.Manifest;
using Ferry.Targets.Postgres;
using Ferry.Targets.Sqlite;
using Npgsql;
using NpgsqlTypes;

namespace Ferry.Pipeline;

/// <summary>Where a registered file stands: <c>registered</c> → <c>validated</c> → <c>loaded</c>, or <c>rejected</c>; a loaded one can become <c>rolled_back</c>.</summary>
public static class FileStatus
{
    public const string Registered = "registered";
    public const string Validated = "validated";
    public const string Loaded = "loaded";
    public const string Rejected = "rejected";
    public const string RolledBack = "rolled_back";
}

/// <summary>One file in the registry. Its id is the dataset version.</summary>
/// <param name="Path">The file, relative to the manifest's folder.</param>
/// <param name="Report">JSON: what validation found (every problem of a rejected file, up to a limit, and counts).</param>
public sealed record RegisteredFile(
    long Id, string FileType, string Path, string Name, string Sha256, long Size, DateTime ModifiedAt, DateOnly FileDate,
    string Status, long? RunId, string? Report, DateTime RegisteredAt, DateTime UpdatedAt);

/// <summary>One step of the pipeline as the audit trail records it.</summary>
public sealed record AuditEvent(
    long Id, DateTime At, string Step, long? FileId, long? RunId, string? Counts, long DurationMs, string Outcome, string? Message, string? Error);

/// <summary>
/// The file registry (<c>ferry.files</c> / <c>ferry_files</c>) and the audit trail (<c>ferry.audit</c> /
/// <c>ferry_audit</c>), in the target's ledger beside the runs. Several manifests may share a target:
/// each sees its own files and events. A SQLite target is held under its run lock while this is open.
/// </summary>
public sealed class PipelineLedger : IAsyncDisposable
{
    private readonly DbConnection connection;
    private readonly IAsyncDisposable owner;
    private readonly bool postgres;
    private readonly string manifest;
    private readonly string files;
    private readonly string audit;

    private PipelineLedger(DbConnection connection, IAsyncDisposable owner, bool postgres, string manifest)
    {
        this.connection = connection;
        this.owner = owner;
        this.postgres = postgres;
        this.manifest = manifest;
        files = postgres ? "ferry.files" : "ferry_files";
        audit = postgres ? "ferry.audit" : "ferry_audit";
    }

    internal DbConnection Connection => connection;

    /// <summary>Opens the target's ledger, creating it (and the SQLite file) if needed.</summary>
    public static async Task<PipelineLedger> OpenAsync(MigrationManifest manifest, CancellationToken cancellationToken)
    {
        if (manifest.Target.Kind == TargetKind.Postgres)
        {
            var connection = await PostgresTarget.OpenAsync(manifest, cancellationToken).ConfigureAwait(false);
            try
            {
                await PostgresTarget.EnsureLedgerAsync(connection, cancellationToken).ConfigureAwait(false);
                await ExecuteAsync(connection, $"BEGIN; SELECT pg_advisory_xact_lock({PostgresLedgerSchema.DdlLock}); {PostgresSchema} COMMIT;", cancellationToken).ConfigureAwait(false);
                return new PipelineLedger(connection, connection, true, manifest.FilePath);
            }
            catch
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
        var target = await SqliteTarget.OpenForRunAsync(manifest, dryRun: false, cancellationToken).ConfigureAwait(false);
        try
        {
            await ExecuteAsync(target.Connection, SqliteLedgerSchema.Create + SqliteSchema, cancellationToken).ConfigureAwait(false);
            return new PipelineLedger(target.Connection, target, false, manifest.FilePath);
        }
        catch
        {
            await target.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private const string PostgresSchema = """
        CREATE TABLE IF NOT EXISTS ferry.files (
            id            bigserial PRIMARY KEY,
            manifest      text NOT NULL,
            file_type     text NOT NULL,
            path          text NOT NULL,
            name          text NOT NULL,
            sha256        text NOT NULL,
            size          bigint NOT NULL,
            modified_at   timestamptz NOT NULL,
            file_date     date NOT NULL,
            status        text NOT NULL CHECK (status IN ('registered', 'validated', 'loaded', 'rejected', 'rolled_back')),
            run_id        bigint,
            report        jsonb,
            registered_at timestamptz NOT NULL,
            updated_at    timestamptz NOT NULL
        );
        DO $$ BEGIN IF to_regclass('ferry.files_hash') IS NULL THEN CREATE INDEX files_hash ON ferry.files (manifest, sha256); END IF; END $$;
        CREATE TABLE IF NOT EXISTS ferry.audit (
            id          bigserial PRIMARY KEY,
            manifest    text NOT NULL,
            at          timestamptz NOT NULL,
            step        text NOT NULL,
            file_id     bigint,
            run_id      bigint,
            counts      jsonb,
            duration_ms bigint NOT NULL,
            outcome     text NOT NULL,
            message     text,
            error       text
        );
        DO $$ BEGIN IF to_regclass('ferry.audit_manifest') IS NULL THEN CREATE INDEX audit_manifest ON ferry.audit (manifest, id); END IF; END $$;
        """;

    private const string SqliteSchema = """
        CREATE TABLE IF NOT EXISTS ferry_files (
            id            INTEGER PRIMARY KEY,
            manifest      TEXT NOT NULL,
            file_type     TEXT NOT NULL,
            path          TEXT NOT NULL,
            name          TEXT NOT NULL,
            sha256        TEXT NOT NULL,
            size          INTEGER NOT NULL,
            modified_at   TEXT NOT NULL,
            file_date     TEXT NOT NULL,
            status        TEXT NOT NULL CHECK (status IN ('registered', 'validated', 'loaded', 'rejected', 'rolled_back')),
            run_id        INTEGER,
            report        TEXT,
            registered_at TEXT NOT NULL,
            updated_at    TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS ferry_files_hash ON ferry_files (manifest, sha256);
        CREATE TABLE IF NOT EXISTS ferry_audit (
            id          INTEGER PRIMARY KEY,
            manifest    TEXT NOT NULL,
            at          TEXT NOT NULL,
            step        TEXT NOT NULL,
            file_id     INTEGER,
            run_id      INTEGER,
            counts      TEXT,
            duration_ms INTEGER NOT NULL,
            outcome     TEXT NOT NULL,
            message     TEXT,
            error       TEXT
        );
        CREATE INDEX IF NOT EXISTS ferry_audit_manifest ON ferry_audit (manifest, id);
        """;

    private const string FileColumns = "id, file_type, path, name, sha256, size, modified_at, file_date, status, run_id, report, registered_at, updated_at";

    /// <summary>Every file of the manifest, in the order it was registered.</summary>
    public Task<List<RegisteredFile>> ListAsync(CancellationToken cancellationToken) =>
        FilesAsync($"SELECT {FileColumns} FROM {files} WHERE manifest = @manifest ORDER BY id", cancellationToken);

    public async Task<RegisteredFile?> GetAsync(long id, CancellationToken cancellationToken) =>
        (await FilesAsync($"SELECT {FileColumns} FROM {files} WHERE manifest = @manifest AND id = @id", cancellationToken, ("id", id)).ConfigureAwait(false)).FirstOrDefault();

    /// <summary>The files registered with this content, newest first.</summary>
    public Task<List<RegisteredFile>> WithHashAsync(string sha256, CancellationToken cancellationToken) =>
        FilesAsync($"SELECT {FileColumns} FROM {files} WHERE manifest = @manifest AND sha256 = @sha ORDER BY id DESC", cancellationToken, ("sha", sha256));

    /// <summary>Files still to be validated or loaded, in processing order: file date, then name.</summary>
    public Task<List<RegisteredFile>> PendingAsync(CancellationToken cancellationToken) =>
        FilesAsync($"SELECT {FileColumns} FROM {files} WHERE manifest = @manifest AND status IN ('registered', 'validated') ORDER BY file_date, name, id", cancellationToken);

    public async Task<long> RegisterAsync(string fileType, string path, string name, string sha256, long size, DateTime modifiedAt, DateOnly fileDate, CancellationToken cancellationToken)
    {
        await using var command = Command($"""
            INSERT INTO {files} (manifest, file_type, path, name, sha256, size, modified_at, file_date, status, registered_at, updated_at)
            VALUES (@manifest, @type, @path, @name, @sha, @size, @modified, @date, 'registered', @now, @now) RETURNING id
            """, ("type", fileType), ("path", path), ("name", name), ("sha", sha256), ("size", size),
            ("modified", modifiedAt), ("date", fileDate), ("now", DateTime.UtcNow));
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Moves a file to <paramref name="status"/>; a null run or report leaves the one it has.</summary>
    public async Task SetStatusAsync(long id, string status, long? runId, string? reportJson, CancellationToken cancellationToken)
    {
        await using var command = Command($"""
            UPDATE {files} SET status = @status, run_id = coalesce(@run, run_id), report = coalesce(@report, report), updated_at = @now
            WHERE manifest = @manifest AND id = @id
            """, ("id", id), ("status", status), ("run", (object?)runId ?? DBNull.Value), ("now", DateTime.UtcNow));
        AddJson(command, "report", reportJson);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Records one step in the audit trail. The message and error pass the secret masker.</summary>
    public async Task AuditAsync(string step, long? fileId, long? runId, string? countsJson, TimeSpan duration, string outcome,
        string? message, string? error, CancellationToken cancellationToken)
    {
        await using var command = Command($"""
            INSERT INTO {audit} (manifest, at, step, file_id, run_id, counts, duration_ms, outcome, message, error)
            VALUES (@manifest, @now, @step, @file, @run, @counts, @duration, @outcome, @message, @error)
            """, ("now", DateTime.UtcNow), ("step", step), ("file", (object?)fileId ?? DBNull.Value), ("run", (object?)runId ?? DBNull.Value),
            ("duration", (long)duration.TotalMilliseconds), ("outcome", outcome),
            ("message", message is null ? DBNull.Value : SecretMasker.Scrub(message)), ("error", error is null ? DBNull.Value : SecretMasker.Scrub(error)));
        AddJson(command, "counts", countsJson);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The newest <paramref name="limit"/> audit events, oldest first.</summary>
    public async Task<List<AuditEvent>> ListAuditAsync(int limit, CancellationToken cancellationToken)
    {
        await using var command = Command($"""
            SELECT id, at, step, file_id, run_id, counts, duration_ms, outcome, message, error FROM (
                SELECT * FROM {audit} WHERE manifest = @manifest ORDER BY id DESC LIMIT @limit) newest ORDER BY id
            """, ("limit", limit));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var events = new List<AuditEvent>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            events.Add(new AuditEvent(reader.GetInt64(0), Utc(reader.GetDateTime(1)), reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetInt64(3), reader.IsDBNull(4) ? null : reader.GetInt64(4),
                reader.IsDBNull(5) ? null : reader.GetString(5), reader.GetInt64(6), reader.GetString(7),
                reader.IsDBNull(8) ? null : reader.GetString(8), reader.IsDBNull(9) ? null : reader.GetString(9)));
        return events;
    }

    private async Task<List<RegisteredFile>> FilesAsync(string sql, CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        await using var command = Command(sql, parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var found = new List<RegisteredFile>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            found.Add(new RegisteredFile(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                reader.GetString(4), reader.GetInt64(5), Utc(reader.GetDateTime(6)), reader.GetFieldValue<DateOnly>(7), reader.GetString(8),
                reader.IsDBNull(9) ? null : reader.GetInt64(9), reader.IsDBNull(10) ? null : reader.GetString(10),
                Utc(reader.GetDateTime(11)), Utc(reader.GetDateTime(12))));
        return found;
    }

    private static DateTime Utc(DateTime value) => DateTime.SpecifyKind(value, DateTimeKind.Utc);

    private DbCommand Command(string sql, params (string Name, object Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        Add(command, "manifest", manifest);
        foreach (var (name, value) in parameters)
            Add(command, name, value);
        return command;
    }

    private static void Add(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }

    private void AddJson(DbCommand command, string name, string? json)
    {
        if (postgres)
            command.Parameters.Add(new NpgsqlParameter(name, NpgsqlDbType.Jsonb) { Value = (object?)json ?? DBNull.Value });
        else
            Add(command, name, (object?)json ?? DBNull.Value);
    }

    private static async Task ExecuteAsync(DbConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => owner.DisposeAsync();
}
