using Ferry.Manifest;
using Npgsql;
using static Ferry.Targets.Postgres.PostgresValues;

namespace Ferry.Targets.Postgres;

/// <summary>What a rollback undid, per entity.</summary>
public sealed record RollbackResult(long RunId, IReadOnlyList<RollbackEntity> Entities);

public sealed record RollbackEntity(string Entity, long Deleted, long Restored, bool Replaced);

/// <summary>
/// Returns the target to its state before a run, from the run's undo log: rows it inserted are
/// deleted, rows it updated get their before-images back, a replaced table gets its old contents.
/// All of it happens in one transaction, under the manifest's run lock.
/// </summary>
public static class PostgresRollback
{
    public static async Task<RollbackResult> RollbackAsync(MigrationManifest manifest, long runId, CancellationToken cancellationToken)
    {
        await using var connection = await PostgresTarget.OpenAsync(manifest, cancellationToken).ConfigureAwait(false);
        await using (var locking = connection.CreateCommand())
        {
            locking.CommandText = $"SELECT pg_try_advisory_lock({PostgresLedgerSchema.RunLockClass}, hashtext(@manifest))";
            locking.Parameters.AddWithValue("manifest", manifest.FilePath);
            if (!(bool)(await locking.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!)
                throw new TargetException("a run of this manifest is loading the target right now; roll back when it has finished");
        }
        try
        {
            return await RollbackLockedAsync(connection, manifest, runId, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await PostgresTarget.UnlockAsync(connection, manifest.FilePath).ConfigureAwait(false);
        }
    }

    private static async Task<RollbackResult> RollbackLockedAsync(NpgsqlConnection connection, MigrationManifest manifest, long runId, CancellationToken cancellationToken)
    {
        var status = await ScalarAsync<string>(connection, "SELECT status FROM ferry.runs WHERE run_id = @run AND manifest = @manifest", runId, manifest, cancellationToken).ConfigureAwait(false)
            ?? throw new TargetException($"there is no run {runId} of this manifest");
        if (status == "rolled_back")
            throw new TargetException($"run {runId} has been rolled back already");
        if (status == "running")
            throw new TargetException($"run {runId} was interrupted; resume it with 'ferry run' (or start afresh with --restart) before rolling it back");

        // A later run that changed the same rows of the same table (or replaced a table this run loaded, or
        // changed anything in a table this run replaced) must be undone first, or its before-images would
        // bring this run's values back, or this rollback would wipe its changes out. Runs into another
        // schema's table of the same name are no obstacle.
        var later = new List<long>();
        await using (var conflicts = connection.CreateCommand())
        {
            conflicts.CommandText = """
                WITH later_entities AS (
                    SELECT le.run_id, le.entity, me.entity AS mine
                    FROM ferry.run_entities me
                    JOIN ferry.run_entities le ON le.run_id > me.run_id AND le.target = me.target AND le.target_schema IS NOT DISTINCT FROM me.target_schema
                    JOIN ferry.runs r ON r.run_id = le.run_id AND r.status <> 'rolled_back'
                    WHERE me.run_id = @run
                ), mine AS (
                    SELECT u.entity, u.action, coalesce(k, u.business_key) AS k
                    FROM ferry.undo u LEFT JOIN LATERAL unnest(u.keys) k ON true WHERE u.run_id = @run
                ), later AS (
                    SELECT l.run_id, l.mine AS entity, u.action, coalesce(k, u.business_key) AS k
                    FROM later_entities l JOIN ferry.undo u ON u.run_id = l.run_id AND u.entity = l.entity
                    LEFT JOIN LATERAL unnest(u.keys) k ON true
                )
                SELECT later.run_id FROM later JOIN mine USING (entity, k)
                UNION SELECT run_id FROM later WHERE action = 'r' AND entity IN (SELECT entity FROM mine)
                UNION SELECT run_id FROM later WHERE entity IN (SELECT entity FROM mine WHERE action = 'r')
                ORDER BY 1 DESC
                """;

            conflicts.Parameters.AddWithValue("run", runId);
            await using var reader = await conflicts.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                later.Add(reader.GetInt64(0));
        }
        if (later.Count > 0)
            throw new TargetException($"run {runId} cannot be rolled back: later run(s) {string.Join(", ", later)} changed the same rows. Roll those back first, newest first");

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var results = new List<RollbackEntity>();
        // Entities are undone in the reverse of the order they were loaded, children before parents.
        foreach (var spec in manifest.Entities.Reverse())
        {
            var entity = spec.Name;
            var table = $"{Quote(manifest.Target.Schema)}.{Quote(spec.Table)}";
            var keys = spec.Key.Select(k => spec.Columns.First(c => c.Target == k)).ToList();
            var columns = spec.Columns;
            var kept = $"ferry.{Quote($"replaced_{runId}_{entity}")}";
            var replaced = await ScalarAsync<bool?>(connection,
                "SELECT true FROM ferry.undo WHERE run_id = @run AND entity = @entity AND action = 'r' LIMIT 1", runId, manifest, cancellationToken, entity).ConfigureAwait(false) is true;
            if (replaced)
            {
                await ExecuteAsync(connection, $"TRUNCATE {table}; INSERT INTO {table} SELECT * FROM {kept}; DROP TABLE {kept};", runId, entity, cancellationToken).ConfigureAwait(false);
                results.Add(new RollbackEntity(entity, 0, 0, true));
                continue;
            }
            if (keys.Count == 0)
            {
                if (await ScalarAsync<long?>(connection, "SELECT inserted FROM ferry.run_entities WHERE run_id = @run AND entity = @entity", runId, manifest, cancellationToken, entity).ConfigureAwait(false) is > 0)
                    throw new TargetException($"entity '{entity}' has no business key, so the rows run {runId} inserted cannot be told apart; it cannot be rolled back");
                continue;
            }
            var deleted = await ExecuteAsync(connection, $"""
                DELETE FROM {table} t USING (SELECT DISTINCT unnest(keys) AS business_key FROM ferry.undo WHERE run_id = @run AND entity = @entity AND action = 'i') u
                WHERE {KeyFromText("t", keys, "u.business_key")}
                """, runId, entity, cancellationToken).ConfigureAwait(false);
            // The earliest image of each row is the one from before the run; a row the run inserted is gone already.
            var restored = await ExecuteAsync(connection, $"""
                UPDATE {table} t SET ({string.Join(", ", columns.Select(c => Quote(c.Target)))}) =
                    ({string.Join(", ", columns.Select(c => "r." + Quote(c.Target)))})
                FROM (SELECT DISTINCT ON (business_key) business_key, before
                      FROM (SELECT u.batch_no, coalesce(u.keys[e.n], u.business_key) AS business_key, coalesce(e.image, u.before) AS before
                            FROM ferry.undo u
                            LEFT JOIN LATERAL jsonb_array_elements(CASE WHEN u.keys IS NOT NULL THEN u.before END) WITH ORDINALITY e(image, n) ON true
                            WHERE u.run_id = @run AND u.entity = @entity AND u.action = 'u') images
                      ORDER BY business_key, batch_no) u,
                     jsonb_populate_record(NULL::{table}, u.before) r
                WHERE {KeyFromText("t", keys, "u.business_key")}
                """, runId, entity, cancellationToken).ConfigureAwait(false);
            results.Add(new RollbackEntity(entity, deleted, restored, false));
        }
        // The legacy keys the run mapped first go with its rows; entries of earlier runs stay (their rows do).
        await ExecuteAsync(connection, "DELETE FROM ferry.key_map WHERE run_id = @run", runId, null, cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, "UPDATE ferry.runs SET status = 'rolled_back', rolled_back_at = now() WHERE run_id = @run", runId, null, cancellationToken).ConfigureAwait(false);
        // What the tables hold no longer follows from the batch records of the runs that loaded them:
        // none of those records skips a row any more.
        await ExecuteAsync(connection, """
            UPDATE ferry.batches b SET stale = true FROM ferry.run_entities e, ferry.run_entities mine
            WHERE mine.run_id = @run AND e.target = mine.target AND e.target_schema IS NOT DISTINCT FROM mine.target_schema
              AND b.run_id = e.run_id AND b.entity = e.entity AND NOT b.stale
            """, runId, null, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return new RollbackResult(runId, results);
    }

    private static async Task<T?> ScalarAsync<T>(NpgsqlConnection connection, string sql, long runId, MigrationManifest manifest, CancellationToken cancellationToken, string? entity = null)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("run", runId);
        if (sql.Contains("@manifest", StringComparison.Ordinal))
            command.Parameters.AddWithValue("manifest", manifest.FilePath);
        if (entity is not null)
            command.Parameters.AddWithValue("entity", entity);
        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is null or DBNull ? default : (T)value;
    }

    private static async Task<long> ExecuteAsync(NpgsqlConnection connection, string sql, long runId, string? entity, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("run", runId);
        if (entity is not null)
            command.Parameters.AddWithValue("entity", entity);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
