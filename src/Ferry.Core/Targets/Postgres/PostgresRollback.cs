using Ferry.Manifest;
using Npgsql;
using static Ferry.Targets.Postgres.PostgresValues;

namespace Ferry.Targets.Postgres;

/// <summary>
/// Part of a run to undo: one tenant's changes, or a range of one entity's batches (of one tenant).
/// Batch numbers are the ledger's (<c>ferry.batches.batch_no</c>); a tenant's batches are those of
/// the range that the tenant loaded.
/// </summary>
public sealed record RollbackScope(string? Tenant = null, string? Entity = null, int? FirstBatch = null, int? LastBatch = null)
{
    public bool Partial => Tenant is not null || Entity is not null;

    public string Describe() =>
        (Entity is null ? "" : $"entity {Entity}") +
        (FirstBatch is null ? "" : $" batches {FirstBatch}-{LastBatch}") +
        (Tenant is null ? "" : $"{(Entity is null ? "" : " of ")}tenant {Tenant}");
}

/// <summary>
/// Returns the target to its state before a run, from the run's undo log: rows it inserted are
/// deleted, rows it updated get their before-images back, a replaced table gets its old contents.
/// All of it happens in one transaction, under the manifest's run lock.
/// </summary>
public static class PostgresRollback
{
    public static Task<RollbackResult> RollbackAsync(MigrationManifest manifest, long runId, CancellationToken cancellationToken) =>
        RollbackAsync(manifest, runId, new RollbackScope(), cancellationToken);

    public static async Task<RollbackResult> RollbackAsync(MigrationManifest manifest, long runId, RollbackScope scope, CancellationToken cancellationToken)
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
            return scope.Partial
                ? await PostgresPartialRollback.RollbackAsync(connection, manifest, runId, scope, cancellationToken).ConfigureAwait(false)
                : await RollbackLockedAsync(connection, manifest, runId, cancellationToken).ConfigureAwait(false);
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
        later = [.. later.Union(await PostgresHistory.LaterRunsAsync(connection, runId, cancellationToken).ConfigureAwait(false)).OrderDescending()];
        if (later.Count > 0)
            throw new TargetException($"run {runId} cannot be rolled back: later run(s) {string.Join(", ", later)} changed the same rows. Roll those back first, newest first");

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var results = new List<RollbackEntity>();
        // Entities are undone in the reverse of the order they were loaded, children before parents.
        // With tenants the business key (and so each undo key) starts with the tenant column.
        foreach (var spec in manifest.PerTenant()[0].Entities.Reverse())
        {
            var entity = spec.Name;
            var table = $"{Quote(manifest.Target.Schema)}.{Quote(spec.Table)}";
            var keys = spec.Key.Select(k => spec.Columns.First(c => c.Target == k)).ToList();
            var columns = spec.Columns;
            var kept = $"ferry.{Quote($"replaced_{runId}_{entity}")}";
            if (spec.Mode == LoadMode.Scd2)
            {
                results.Add(await PostgresHistory.RollbackEntityAsync(connection, table, runId, entity, cancellationToken).ConfigureAwait(false));
                continue;
            }
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
            var restored = await RestoreAsync(connection, table, columns, keys,
                "ferry.undo u", "u.run_id = @run AND u.entity = @entity", runId, entity, cancellationToken).ConfigureAwait(false);
            results.Add(new RollbackEntity(entity, deleted, restored, false));
        }
        // The legacy keys the run mapped first go with its rows; entries of earlier runs stay (their rows do).
        await ExecuteAsync(connection, "DELETE FROM ferry.key_map_rows WHERE run_id = @run; DELETE FROM ferry.key_map_batches WHERE run_id = @run", runId, null, cancellationToken).ConfigureAwait(false);
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

    /// <summary>
    /// Gives each row the undo entries <paramref name="from"/> and <paramref name="where"/> select
    /// (over <c>ferry.undo u</c>, with <c>@run</c> and <c>@entity</c>) updated its earliest image among them back: the row as it was
    /// before them. An image is the row's text in the table's row type (ledgers made before that
    /// keep jsonb ones), so a table whose columns changed since the run cannot take it back.
    /// </summary>
    internal static async Task<long> RestoreAsync(NpgsqlConnection connection, string table, IReadOnlyList<ColumnSpec> columns, IReadOnlyList<ColumnSpec> keys,
        string from, string where, long runId, string entity, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            UPDATE {table} t SET ({string.Join(", ", columns.Select(c => Quote(c.Target)))}) =
                ({string.Join(", ", columns.Select(c => "(r.image)." + Quote(c.Target)))})
            FROM (SELECT DISTINCT ON (business_key) business_key, literal, before
                  FROM (SELECT u.batch_no, coalesce(u.keys[e.n], u.business_key) AS business_key, e.literal, coalesce(e.image, u.before) AS before
                        FROM {from}
                        LEFT JOIN LATERAL (SELECT i.literal, NULL::jsonb AS image, i.n FROM unnest(u.images) WITH ORDINALITY i(literal, n)
                                           UNION ALL
                                           SELECT NULL, j.image, j.n
                                           FROM jsonb_array_elements(CASE WHEN u.images IS NULL AND u.keys IS NOT NULL THEN u.before END) WITH ORDINALITY j(image, n)) e ON true
                        WHERE {where} AND u.action = 'u') images
                  ORDER BY business_key, batch_no) u,
                 LATERAL (SELECT CASE WHEN u.literal IS NOT NULL THEN u.literal::{table} ELSE jsonb_populate_record(NULL::{table}, u.before) END AS image) r
            WHERE {KeyFromText("t", keys, "u.business_key")};
            """;
        command.Parameters.AddWithValue("run", runId);
        command.Parameters.AddWithValue("entity", entity);
        try
        {
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.InvalidTextRepresentation or PostgresErrorCodes.InvalidDatetimeFormat
                                              or PostgresErrorCodes.DatatypeMismatch or PostgresErrorCodes.NumericValueOutOfRange)
        {
            throw new TargetException($"run {runId} cannot be rolled back: the before-images of {table} no longer fit the table, whose columns changed since the run ({e.MessageText})");
        }
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
