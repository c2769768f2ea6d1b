using System.Data.Common;
using Ferry.Diagnostics;
using Ferry.Engine;

namespace Ferry.Targets;

/// <summary>
/// Starting and finishing runs in a target's ledger, the same on every target: a run of this
/// manifest left <c>running</c> (its process died, since the caller holds the run lock) is resumed
/// from its checkpoints; otherwise a new run is recorded.
/// </summary>
internal static class RunLedger
{
    /// <param name="now">The current time as the target stores it (text for SQLite, a timestamp for PostgreSQL).</param>
    public static async Task<RunBegin> BeginAsync(DbConnection connection, LedgerNames names, RunStart start, object now, CancellationToken cancellationToken)
    {
        var runs = names.Table("runs");
        long? interrupted = null;
        string? fingerprint = null;
        await using (var latest = LedgerReader.Command(connection, $"SELECT run_id, status, source_fingerprint FROM {runs} WHERE manifest = @manifest ORDER BY run_id DESC LIMIT 1",
            ("manifest", start.Manifest)))
        await using (var reader = await latest.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
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
            await ExecuteAsync(connection, $"UPDATE {runs} SET status = 'running', finished_at = NULL, error = NULL, correlation_id = @correlation, pid = @pid, host = @host WHERE run_id = @run",
                cancellationToken, ("correlation", start.CorrelationId), ("pid", Environment.ProcessId), ("host", Environment.MachineName), ("run", id)).ConfigureAwait(false);
            await ClearLandedAsync(connection, names, id, cancellationToken).ConfigureAwait(false);
            return new RunBegin(id, true, await CheckpointsAsync(connection, names, id, cancellationToken).ConfigureAwait(false));
        }
        await ExecuteAsync(connection, $"UPDATE {runs} SET status = 'failed', finished_at = @now, error = 'the process ended before the run finished' WHERE manifest = @manifest AND status = 'running'",
            cancellationToken, ("now", now), ("manifest", start.Manifest)).ConfigureAwait(false);
        await using var insert = LedgerReader.Command(connection, $"""
            INSERT INTO {runs} (name, manifest, source, source_fingerprint, correlation_id, started_at, status, host, pid)
            VALUES (@name, @manifest, @source, @fingerprint, @correlation, @now, 'running', @host, @pid)
            RETURNING run_id
            """,
            ("name", start.Name), ("manifest", start.Manifest), ("source", SecretMasker.Scrub(start.Source)), ("fingerprint", start.SourceFingerprint),
            ("correlation", start.CorrelationId), ("now", now), ("host", Environment.MachineName), ("pid", Environment.ProcessId));
        var runId = Convert.ToInt64(await insert.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        return new RunBegin(runId, false, new Dictionary<string, EntityCheckpoint>());
    }

    /// <summary>
    /// Clears the batches the interrupted run landed but never loaded, with their rows' records, before
    /// any entity starts: the tenants of an entity share its batch numbers, so a batch number a tenant
    /// left landed may be the next one another tenant takes.
    /// </summary>
    private static async Task ClearLandedAsync(DbConnection connection, LedgerNames names, long runId, CancellationToken cancellationToken)
    {
        var batches = names.Table("batches");
        var entities = new List<string>();
        await using (var landed = LedgerReader.Command(connection, $"SELECT DISTINCT entity FROM {batches} WHERE run_id = @run AND state = 'landed'", ("run", runId)))
        await using (var reader = await landed.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                entities.Add(reader.GetString(0));
        foreach (var entity in entities)
            await ExecuteAsync(connection, $"""
                DELETE FROM {names.RowsTable(entity)} WHERE run_id = @run
                    AND batch_no IN (SELECT batch_no FROM {batches} WHERE run_id = @run AND entity = @entity AND state = 'landed');
                DELETE FROM {batches} WHERE run_id = @run AND entity = @entity AND state = 'landed';
                """, cancellationToken, ("run", runId), ("entity", entity)).ConfigureAwait(false);
    }

    /// <summary>
    /// Each entity's last committed batch and the counts of all its committed batches. A batch record
    /// still <c>landed</c> (staged, never loaded) is no checkpoint: the batch is read again.
    /// </summary>
    private static async Task<Dictionary<string, EntityCheckpoint>> CheckpointsAsync(DbConnection connection, LedgerNames names, long runId, CancellationToken cancellationToken)
    {
        var checkpoints = new Dictionary<string, EntityCheckpoint>(StringComparer.Ordinal);
        // With tenants, each entity of each tenant has its own checkpoint, and is complete on its own.
        await using var command = LedgerReader.Command(connection, $"""
            SELECT b.entity, b.tenant, max(b.batch_no), max(b.last_line), sum(b.rows_read), sum(b.inserted), sum(b.updated),
                   sum(b.unchanged), sum(b.rejected), sum(b.warnings),
                   max(CASE WHEN (b.tenant IS NULL AND e.completed_at IS NOT NULL) OR t.completed_at IS NOT NULL THEN 1 ELSE 0 END)
            FROM {names.Table("batches")} b
            LEFT JOIN {names.Table("run_entities")} e ON e.run_id = b.run_id AND e.entity = b.entity
            LEFT JOIN {names.Table("run_tenants")} t ON t.run_id = b.run_id AND t.entity = b.entity AND t.tenant = b.tenant
            WHERE b.run_id = @run AND b.state = 'committed' GROUP BY b.entity, b.tenant
            """, ("run", runId));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            checkpoints[EntityCheckpoint.KeyOf(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1))] =
                new EntityCheckpoint(reader.GetInt32(2), reader.GetInt64(3), LedgerReader.Counts(reader, 4), Convert.ToInt32(reader.GetValue(10), System.Globalization.CultureInfo.InvariantCulture) == 1);
        return checkpoints;
    }

    /// <remarks>
    /// An ordinary commit: on PostgreSQL it waits for the disk, and so makes durable every batch the
    /// run committed without waiting (<c>synchronous_commit = off</c>) before it.
    /// </remarks>
    public static Task FinishAsync(DbConnection connection, LedgerNames names, long runId, RunStatus status, string? error, object now, CancellationToken cancellationToken) =>
        ExecuteAsync(connection, $"UPDATE {names.Table("runs")} SET status = @status, finished_at = @now, error = @error WHERE run_id = @run", cancellationToken,
            ("status", status.ToString().ToLowerInvariant()), ("now", now), ("error", error is null ? null : SecretMasker.Scrub(error)), ("run", runId));

    private static async Task ExecuteAsync(DbConnection connection, string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        await using var command = LedgerReader.Command(connection, sql, parameters);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
