using Ferry.Manifest;
using Npgsql;
using NpgsqlTypes;
using static Ferry.Targets.Postgres.PostgresValues;

namespace Ferry.Targets.Postgres;

/// <summary>
/// Undoes part of a run from its undo log, in one transaction: one tenant's changes
/// (<c>ferry rollback RUN --tenant T</c>) or the tail of an entity's batches
/// (<c>--entity E [--tenant T] --batches A-B</c>). Rows the batches inserted are deleted, rows they
/// updated get their image from before the first of them back. The ledger then forgets those batches:
/// their records, staged rows and undo entries are deleted and their counts taken off the run's (per
/// entity and per tenant), the entity is no longer complete, and the run becomes <c>failed</c>, so
/// <c>ferry run --resume</c> loads them again from the batch before the range.
/// </summary>
internal static class PostgresPartialRollback
{
    public static async Task<RollbackResult> RollbackAsync(NpgsqlConnection connection, MigrationManifest manifest, long runId, RollbackScope scope, CancellationToken cancellationToken)
    {
        var what = scope.Describe();
        if (scope.Tenant is not null && !manifest.Tenants.Any(t => t.Id == scope.Tenant))
            throw new TargetException(manifest.Tenants.Count == 0 ? "the manifest has no tenants" : $"no tenant named '{scope.Tenant}' (the manifest has: {string.Join(", ", manifest.Tenants.Select(t => t.Id))})");
        var status = await ScalarAsync<string>(connection, "SELECT status FROM ferry.runs WHERE run_id = @run AND manifest = @manifest", runId, scope, cancellationToken, ("manifest", manifest.FilePath)).ConfigureAwait(false)
            ?? throw new TargetException($"there is no run {runId} of this manifest");
        if (status == "rolled_back")
            throw new TargetException($"run {runId} has been rolled back already");
        if (status == "running")
            throw new TargetException($"run {runId} was interrupted; resume it with 'ferry run' (or start afresh with --restart) before rolling part of it back");
        var specs = manifest.PerTenant()[0].Entities;
        if (specs.FirstOrDefault(e => e.Name == scope.Entity) is { Mode: LoadMode.Replace })
            throw new TargetException($"entity '{scope.Entity}' was loaded by replace, which is undone with its whole run: ferry rollback {runId}");

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        // The batches to undo, for every statement below.
        await ExecuteAsync(connection, """
            CREATE TEMP TABLE ferry_rollback ON COMMIT DROP AS
            SELECT entity, tenant, batch_no, rows_read, inserted, updated, unchanged, rejected, warnings FROM ferry.batches
            WHERE run_id = @run AND state = 'committed' AND (@tenant IS NULL OR tenant = @tenant) AND (@entity IS NULL OR entity = @entity)
              AND (@first IS NULL OR batch_no BETWEEN @first AND @last)
            """, runId, scope, cancellationToken).ConfigureAwait(false);
        if (await ScalarAsync<long>(connection, "SELECT count(*) FROM ferry_rollback", runId, scope, cancellationToken).ConfigureAwait(false) == 0)
            throw new TargetException($"run {runId} has no committed batches of {what}");
        if (scope.FirstBatch is not null)
        {
            // A range is the tail of what its entity loaded for its tenant: the checkpoint then goes back to the batch before it.
            var after = await ScalarAsync<int?>(connection, """
                SELECT max(b.batch_no) FROM ferry.batches b JOIN (SELECT DISTINCT entity, tenant FROM ferry_rollback) s
                  ON b.entity = s.entity AND b.tenant IS NOT DISTINCT FROM s.tenant
                WHERE b.run_id = @run AND b.batch_no > @last
                """, runId, scope, cancellationToken).ConfigureAwait(false);
            if (after is { } last)
                throw new TargetException($"batches {scope.FirstBatch}-{scope.LastBatch} are not the last that run {runId} loaded for {what}: batch {last} came later. Roll back {scope.FirstBatch}-{last}");
        }
        var later = new List<long>();
        await using (var conflicts = Command(connection, """
            WITH mine AS (
                SELECT u.entity, coalesce(k, u.business_key) AS k
                FROM ferry.undo u JOIN ferry_rollback s ON s.entity = u.entity AND s.batch_no = u.batch_no
                LEFT JOIN LATERAL unnest(u.keys) k ON true WHERE u.run_id = @run
            ), later_entities AS (
                SELECT le.run_id, le.entity, me.entity AS mine
                FROM ferry.run_entities me
                JOIN ferry.run_entities le ON le.run_id > me.run_id AND le.target = me.target AND le.target_schema IS NOT DISTINCT FROM me.target_schema
                JOIN ferry.runs r ON r.run_id = le.run_id AND r.status <> 'rolled_back'
                WHERE me.run_id = @run AND me.entity IN (SELECT entity FROM ferry_rollback)
            ), later AS (
                SELECT l.run_id, l.mine AS entity, u.action, coalesce(k, u.business_key) AS k
                FROM later_entities l JOIN ferry.undo u ON u.run_id = l.run_id AND u.entity = l.entity
                LEFT JOIN LATERAL unnest(u.keys) k ON true
            )
            SELECT later.run_id FROM later JOIN mine USING (entity, k)
            UNION SELECT run_id FROM later WHERE action = 'r'
            ORDER BY 1 DESC
            """, runId, scope))
        await using (var reader = await conflicts.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                later.Add(reader.GetInt64(0));
        if (later.Count > 0)
            throw new TargetException($"{what} of run {runId} cannot be rolled back: later run(s) {string.Join(", ", later)} changed the same rows. Roll those back first, newest first");

        var results = new List<RollbackEntity>();
        foreach (var spec in specs.Reverse())
        {
            if (await ScalarAsync<long>(connection, "SELECT count(*) FROM ferry_rollback WHERE entity = @name", runId, scope, cancellationToken, ("name", spec.Name)).ConfigureAwait(false) == 0)
                continue;
            var table = $"{Quote(manifest.Target.Schema)}.{Quote(spec.Table)}";
            var keys = spec.Key.Select(k => spec.Columns.First(c => c.Target == k)).ToList();
            if (keys.Count == 0)
            {
                if (await ScalarAsync<long>(connection, "SELECT coalesce(sum(inserted), 0) FROM ferry_rollback WHERE entity = @name", runId, scope, cancellationToken, ("name", spec.Name)).ConfigureAwait(false) > 0)
                    throw new TargetException($"entity '{spec.Name}' has no business key, so the rows run {runId} inserted cannot be told apart; it cannot be rolled back");
                continue;
            }
            const string Scoped = "FROM ferry.undo u JOIN ferry_rollback s ON s.entity = u.entity AND s.batch_no = u.batch_no WHERE u.run_id = @run AND u.entity = @name";
            var deleted = await ExecuteAsync(connection, $"""
                DELETE FROM {table} t USING (SELECT DISTINCT unnest(u.keys) AS business_key {Scoped} AND u.action = 'i') u
                WHERE {KeyFromText("t", keys, "u.business_key")}
                """, runId, scope, cancellationToken, ("name", spec.Name)).ConfigureAwait(false);
            // Key-map entries this run made for rows now deleted go too: a lookup must not find a parent the target lost.
            if (spec.LegacyKey is not null && spec.Columns.FirstOrDefault(c => c.UuidFromLegacy) is { } uuid)
                await ExecuteAsync(connection, $"""
                    DELETE FROM ferry.key_map_rows m USING {RolledBackTenants} s
                    WHERE m.run_id = @run AND m.entity = @name AND m.tenant = s.tenant
                      AND NOT EXISTS (SELECT FROM {table} t WHERE t.{Quote(uuid.Target)} = m.uuid);
                    WITH kept AS (
                        SELECT b.batch_no, bool_and(e.present) AS all_kept,
                               array_agg(e.legacy_key ORDER BY e.n) FILTER (WHERE e.present) AS legacy_keys,
                               array_agg(e.uuid ORDER BY e.n) FILTER (WHERE e.present) AS uuids
                        FROM ferry.key_map_batches b
                        JOIN {RolledBackTenants} s ON s.tenant = b.tenant
                        CROSS JOIN LATERAL (SELECT x.legacy_key, x.uuid, x.n, EXISTS (SELECT FROM {table} t WHERE t.{Quote(uuid.Target)} = x.uuid) AS present
                                            FROM unnest(b.legacy_keys, b.uuids) WITH ORDINALITY AS x (legacy_key, uuid, n)) e
                        WHERE b.run_id = @run AND b.entity = @name
                        GROUP BY b.batch_no
                    ), thinned AS (
                        UPDATE ferry.key_map_batches b SET legacy_keys = k.legacy_keys, uuids = k.uuids FROM kept k
                        WHERE b.run_id = @run AND b.entity = @name AND b.batch_no = k.batch_no AND NOT k.all_kept AND k.legacy_keys IS NOT NULL
                    )
                    DELETE FROM ferry.key_map_batches b USING kept k
                    WHERE b.run_id = @run AND b.entity = @name AND b.batch_no = k.batch_no AND k.legacy_keys IS NULL;
                    """, runId, scope, cancellationToken, ("name", spec.Name)).ConfigureAwait(false);
            // The earliest image within the undone batches is the row as it was before them.
            var restored = await PostgresRollback.RestoreAsync(connection, table, spec.Columns, keys,
                "ferry.undo u JOIN ferry_rollback s ON s.entity = u.entity AND s.batch_no = u.batch_no", "u.run_id = @run AND u.entity = @entity",
                runId, spec.Name, cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(connection, $"""
                DELETE FROM ferry.{Quote(PostgresLedgerSchema.StagingRows(spec.Name))} r USING ferry_rollback s
                WHERE r.run_id = @run AND s.entity = @name AND r.batch_no = s.batch_no
                """, runId, scope, cancellationToken, ("name", spec.Name)).ConfigureAwait(false);
            results.Add(new RollbackEntity(spec.Name, deleted, restored, false));
        }
        // The ledger forgets the batches: a resumed run loads them again, after the batch before them.
        await ExecuteAsync(connection, $"""
            DELETE FROM ferry.undo u USING ferry_rollback s WHERE u.run_id = @run AND u.entity = s.entity AND u.batch_no = s.batch_no;
            UPDATE ferry.run_tenants t SET rows_read = t.rows_read - s.rows_read, inserted = t.inserted - s.inserted, updated = t.updated - s.updated,
                unchanged = t.unchanged - s.unchanged, rejected = t.rejected - s.rejected, warnings = t.warnings - s.warnings, completed_at = NULL
            FROM (SELECT entity, tenant, sum(rows_read) AS rows_read, sum(inserted) AS inserted, sum(updated) AS updated, sum(unchanged) AS unchanged,
                         sum(rejected) AS rejected, sum(warnings) AS warnings FROM ferry_rollback GROUP BY entity, tenant) s
            WHERE t.run_id = @run AND t.entity = s.entity AND t.tenant = s.tenant;
            UPDATE ferry.run_entities e SET rows_read = e.rows_read - s.rows_read, inserted = e.inserted - s.inserted, updated = e.updated - s.updated,
                unchanged = e.unchanged - s.unchanged, rejected = e.rejected - s.rejected, warnings = e.warnings - s.warnings, completed_at = NULL
            FROM (SELECT entity, sum(rows_read) AS rows_read, sum(inserted) AS inserted, sum(updated) AS updated, sum(unchanged) AS unchanged,
                         sum(rejected) AS rejected, sum(warnings) AS warnings FROM ferry_rollback GROUP BY entity) s
            WHERE e.run_id = @run AND e.entity = s.entity;
            DELETE FROM ferry.batches b USING ferry_rollback s WHERE b.run_id = @run AND b.entity = s.entity AND b.batch_no = s.batch_no;
            UPDATE ferry.batches b SET stale = true FROM ferry.run_entities e, ferry.run_entities mine
            WHERE mine.run_id = @run AND mine.entity IN (SELECT entity FROM ferry_rollback)
              AND e.target = mine.target AND e.target_schema IS NOT DISTINCT FROM mine.target_schema
              AND b.run_id = e.run_id AND b.entity = e.entity AND NOT b.stale;
            UPDATE ferry.runs SET status = 'failed', error = @note WHERE run_id = @run;
            """, runId, scope, cancellationToken,
            ("note", $"{what} rolled back; 'ferry run --resume' loads {(scope.FirstBatch is null ? "them" : "those batches")} again")).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return new RollbackResult(runId, results);
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, string sql, long runId, RollbackScope scope, params (string Name, object? Value)[] extra)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("run", runId);
        command.Parameters.Add(new NpgsqlParameter("tenant", NpgsqlDbType.Text) { Value = (object?)scope.Tenant ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("entity", NpgsqlDbType.Text) { Value = (object?)scope.Entity ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("first", NpgsqlDbType.Integer) { Value = (object?)scope.FirstBatch ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("last", NpgsqlDbType.Integer) { Value = (object?)scope.LastBatch ?? DBNull.Value });
        foreach (var (name, value) in extra)
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }

    private static async Task<T?> ScalarAsync<T>(NpgsqlConnection connection, string sql, long runId, RollbackScope scope, CancellationToken cancellationToken, params (string Name, object? Value)[] extra)
    {
        await using var command = Command(connection, sql, runId, scope, extra);
        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is null or DBNull ? default : (T)Convert.ChangeType(value, Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The key-map tenants ('' without tenants) of the entity's batches being rolled back.</summary>
    private const string RolledBackTenants = "(SELECT DISTINCT coalesce(tenant, '') AS tenant FROM ferry_rollback WHERE entity = @name)";

    private static async Task<long> ExecuteAsync(NpgsqlConnection connection, string sql, long runId, RollbackScope scope, CancellationToken cancellationToken, params (string Name, object? Value)[] extra)
    {
        await using var command = Command(connection, sql, runId, scope, extra);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
