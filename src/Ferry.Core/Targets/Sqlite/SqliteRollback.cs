using System.Globalization;
using System.Text.Json;
using Ferry.Manifest;
using Microsoft.Data.Sqlite;
using static Ferry.Targets.Sqlite.SqliteLedgerSchema;

namespace Ferry.Targets.Sqlite;

/// <summary>
/// Undoes a run on a SQLite target from <c>ferry_history_changes</c>: the versions it opened are
/// deleted, the versions it closed are current again and the versions it corrected get their images
/// back. SQLite keeps no undo log of the other modes, so a run that wrote rows of another mode is refused.
/// </summary>
internal static class SqliteRollback
{
    public static async Task<RollbackResult> RollbackAsync(MigrationManifest manifest, long runId, CancellationToken cancellationToken)
    {
        var path = SqliteTarget.DatabasePath(manifest);
        FileStream? runLock = null;
        if (path is not null)
        {
            if (!File.Exists(path))
                throw new TargetException($"the target database {SqliteTarget.Describe(manifest, path)} does not exist yet: no run has written to it");
            runLock = SqliteTarget.AcquireRunLock(manifest, path);
        }
        try
        {
            await using var connection = await SqliteTarget.OpenLedgerAsync(manifest, write: true, cancellationToken).ConfigureAwait(false);
            return await RollbackLockedAsync(connection, manifest, runId, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (runLock is not null)
                await runLock.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static async Task<RollbackResult> RollbackLockedAsync(SqliteConnection connection, MigrationManifest manifest, long runId, CancellationToken cancellationToken)
    {
        var status = await ScalarAsync(connection, "SELECT status FROM ferry_runs WHERE run_id = $run AND manifest = $manifest", cancellationToken,
            ("$run", runId), ("$manifest", manifest.FilePath)) as string ?? throw new TargetException($"there is no run {runId} of this manifest");
        if (status == "rolled_back")
            throw new TargetException($"run {runId} has been rolled back already");
        if (status == "running")
            throw new TargetException($"run {runId} was interrupted; resume it with 'ferry run' (or start afresh with --restart) before rolling it back");

        var entities = new List<(string Entity, string Mode, long Written)>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT entity, mode, inserted + updated FROM ferry_run_entities WHERE run_id = $run ORDER BY position DESC";
            command.Parameters.AddWithValue("$run", runId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                entities.Add((reader.GetString(0), reader.GetString(1), reader.GetInt64(2)));
        }
        if (entities.FirstOrDefault(e => e.Mode != "scd2" && e.Written > 0) is { Entity: not null } other)
            throw new TargetException($"run {runId} wrote rows of entity '{other.Entity}' in mode {other.Mode}; a SQLite target keeps the changes of scd2 entities only, " +
                "so this run cannot be rolled back (use a postgres target, whose undo log covers every mode)");
        var history = entities.Where(e => e.Mode == "scd2").ToList();
        if (history.Count > 0)
        {
            await SqliteTarget.ExecuteAsync(connection, SqliteEntityLoader.HistoryLedger, cancellationToken).ConfigureAwait(false);
            var later = await LaterRunsAsync(connection, runId, cancellationToken).ConfigureAwait(false);
            if (later.Count > 0)
                throw new TargetException($"run {runId} cannot be rolled back: later run(s) {string.Join(", ", later)} changed the same keys. Roll those back first, newest first");
        }
        await AllowRolledBackAsync(connection, cancellationToken).ConfigureAwait(false);

        var results = new List<RollbackEntity>();
        await SqliteTarget.ExecuteAsync(connection, "BEGIN IMMEDIATE", cancellationToken).ConfigureAwait(false);
        try
        {
            foreach (var (entity, _, _) in history)
            {
                var spec = manifest.Entities.FirstOrDefault(e => e.Name == entity)
                    ?? throw new TargetException($"run {runId} loaded entity '{entity}', which the manifest no longer has; its table is unknown");
                results.Add(await RollbackEntityAsync(connection, spec.Table, runId, entity, cancellationToken).ConfigureAwait(false));
            }
            await ExecuteAsync(connection, "UPDATE ferry_runs SET status = 'rolled_back', rolled_back_at = $now WHERE run_id = $run", cancellationToken,
                ("$run", runId), ("$now", SqliteTarget.Now())).ConfigureAwait(false);
            await SqliteTarget.ExecuteAsync(connection, "COMMIT", cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await SqliteTarget.ExecuteAsync(connection, "ROLLBACK", CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        return new RollbackResult(runId, results);
    }

    /// <summary>Later runs, not rolled back, that changed versions of a key this run changed, in a table it changed: newest first.</summary>
    private static async Task<List<long>> LaterRunsAsync(SqliteConnection connection, long runId, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = """
            WITH mine AS (
                SELECT DISTINCT e.target, k.value AS k
                FROM ferry_history_changes h JOIN ferry_run_entities e ON e.run_id = h.run_id AND e.entity = h.entity, json_each(h.keys) k
                WHERE h.run_id = $run
            )
            SELECT DISTINCT h.run_id
            FROM ferry_history_changes h JOIN ferry_run_entities e ON e.run_id = h.run_id AND e.entity = h.entity
                 JOIN ferry_runs r ON r.run_id = h.run_id, json_each(h.keys) k
            WHERE h.run_id > $run AND r.status <> 'rolled_back' AND EXISTS (SELECT 1 FROM mine m WHERE m.target = e.target AND m.k = k.value)
            ORDER BY 1 DESC
            """;
        command.Parameters.AddWithValue("$run", runId);
        var runs = new List<long>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            runs.Add(reader.GetInt64(0));
        return runs;
    }

    /// <summary>
    /// Deletes the versions the run opened, makes current again the versions it closed and gives the
    /// versions it corrected their earliest image from the run (the one from before it).
    /// </summary>
    private static async Task<RollbackEntity> RollbackEntityAsync(SqliteConnection connection, string table, long runId, string entity, CancellationToken cancellationToken)
    {
        var t = Quote(table);
        const string Versions = "SELECT v.value FROM ferry_history_changes h, json_each(h.version_ids) v WHERE h.run_id = $run AND h.entity = $entity AND h.action = ";
        // Deleted first: a version the run opened holds the current place of a version it closed.
        var deleted = await ExecuteAsync(connection, $"DELETE FROM {t} WHERE version_id IN ({Versions}'o')", cancellationToken, ("$run", runId), ("$entity", entity)).ConfigureAwait(false);
        var reopened = await ExecuteAsync(connection, $"UPDATE {t} SET valid_to = NULL, is_current = 1 WHERE version_id IN ({Versions}'c')", cancellationToken,
            ("$run", runId), ("$entity", entity)).ConfigureAwait(false);
        var images = new Dictionary<long, string>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = """
                SELECT v.value, i.value FROM ferry_history_changes h, json_each(h.version_ids) v, json_each(h.before) i
                WHERE h.run_id = $run AND h.entity = $entity AND h.action = 'u' AND i.key = v.key
                ORDER BY h.batch_no, h.rowid
                """;
            command.Parameters.AddWithValue("$run", runId);
            command.Parameters.AddWithValue("$entity", entity);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                images.TryAdd(reader.GetInt64(0), reader.GetString(1));
        }
        var restored = 0L;
        foreach (var (version, image) in images)
        {
            using var document = JsonDocument.Parse(image);
            var columns = document.RootElement.EnumerateObject().Select(p => p.Name).ToList();
            var sets = string.Join(", ", columns.Select(c => $"{Quote(c)} = json_extract($image, '$.\"{c.Replace("\"", "\\\"", StringComparison.Ordinal)}\"')"));
            restored += await ExecuteAsync(connection, $"UPDATE {t} SET {sets} WHERE version_id = $version", cancellationToken,
                ("$image", image), ("$version", version)).ConfigureAwait(false);
        }
        return new RollbackEntity(entity, deleted, reopened + restored, false);
    }

    /// <summary>
    /// A ledger made before rollback existed on SQLite refuses the status 'rolled_back' (its CHECK lists the
    /// others): its runs table is rebuilt with the status allowed, and gets the column rolled_back_at.
    /// </summary>
    private static async Task AllowRolledBackAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        var sql = (string)(await ScalarAsync(connection, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'ferry_runs'", cancellationToken).ConfigureAwait(false))!;
        if (!sql.Contains("'rolled_back'", StringComparison.Ordinal))
        {
            const string Statuses = "'partial', 'failed')";
            if (!sql.Contains(Statuses, StringComparison.Ordinal))
                throw new TargetException("the ledger's table ferry_runs is not one Ferry made; it cannot record a rollback");
            var rebuilt = sql.Replace(Statuses, "'partial', 'failed', 'rolled_back')", StringComparison.Ordinal);
            rebuilt = "CREATE TABLE ferry_runs_rebuilt" + rebuilt[(rebuilt.IndexOf('(', StringComparison.Ordinal) - 1)..];
            // The documented way to change a table's constraints: a new table, its rows, the old one dropped.
            await SqliteTarget.ExecuteAsync(connection, $"""
                PRAGMA foreign_keys = OFF;
                BEGIN IMMEDIATE;
                {rebuilt};
                INSERT INTO ferry_runs_rebuilt SELECT * FROM ferry_runs;
                DROP TABLE ferry_runs;
                ALTER TABLE ferry_runs_rebuilt RENAME TO ferry_runs;
                COMMIT;
                """, cancellationToken).ConfigureAwait(false);
        }
        if ((long)(await ScalarAsync(connection, "SELECT count(*) FROM pragma_table_info('ferry_runs') WHERE name = 'rolled_back_at'", cancellationToken).ConfigureAwait(false))! == 0)
            await SqliteTarget.ExecuteAsync(connection, "ALTER TABLE ferry_runs ADD COLUMN rolled_back_at TEXT", cancellationToken).ConfigureAwait(false);
    }

    private static async Task<object?> ScalarAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task<long> ExecuteAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
