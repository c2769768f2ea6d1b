using Npgsql;

namespace Ferry.Targets.Postgres;

/// <summary>The rollback of an scd2 entity on PostgreSQL, from <c>ferry.history_changes</c>.</summary>
internal static class PostgresHistory
{
    /// <summary>Later runs, not rolled back, that changed versions of a key this run changed, in the same table.</summary>
    public static async Task<List<long>> LaterRunsAsync(NpgsqlConnection connection, long runId, CancellationToken cancellationToken)
    {
        var runs = new List<long>();
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT to_regclass('ferry.history_changes') IS NOT NULL
            """;
        if (!(bool)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!)
            return runs;
        command.CommandText = """
            WITH mine AS (
                SELECT DISTINCT e.target, e.target_schema, k
                FROM ferry.history_changes h JOIN ferry.run_entities e ON e.run_id = h.run_id AND e.entity = h.entity, unnest(h.keys) k
                WHERE h.run_id = @run
            )
            SELECT DISTINCT h.run_id
            FROM ferry.history_changes h JOIN ferry.run_entities e ON e.run_id = h.run_id AND e.entity = h.entity
                 JOIN ferry.runs r ON r.run_id = h.run_id AND r.status <> 'rolled_back', unnest(h.keys) k
            WHERE h.run_id > @run
              AND EXISTS (SELECT FROM mine m WHERE m.target = e.target AND m.target_schema IS NOT DISTINCT FROM e.target_schema AND m.k = k)
            ORDER BY 1 DESC
            """;
        command.Parameters.AddWithValue("run", runId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            runs.Add(reader.GetInt64(0));
        return runs;
    }

    /// <summary>
    /// Deletes the versions the run opened, makes current again the versions it closed and gives the
    /// versions it corrected in place their earliest image from the run (the one from before it).
    /// </summary>
    public static async Task<RollbackEntity> RollbackEntityAsync(NpgsqlConnection connection, string table, long runId, string entity, CancellationToken cancellationToken)
    {
        const string Versions = "SELECT unnest(version_ids) FROM ferry.history_changes WHERE run_id = @run AND entity = @entity AND action = ";
        // Deleted first: a version the run opened holds the current place of a version it closed.
        var deleted = await ExecuteAsync(connection, $"DELETE FROM {table} WHERE version_id IN ({Versions}'o')", runId, entity, cancellationToken).ConfigureAwait(false);
        var reopened = await ExecuteAsync(connection, $"UPDATE {table} SET valid_to = NULL, is_current = true WHERE version_id IN ({Versions}'c')", runId, entity, cancellationToken).ConfigureAwait(false);
        var columns = new List<string>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = $"SELECT attname FROM pg_attribute WHERE attrelid = '{table.Replace("'", "''", StringComparison.Ordinal)}'::regclass AND attnum > 0 AND NOT attisdropped AND attname <> 'version_id'";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                columns.Add(reader.GetString(0));
        }
        var restored = await ExecuteAsync(connection, $"""
            UPDATE {table} t SET {string.Join(", ", columns.Select(c => $"{PostgresValues.Quote(c)} = r.{PostgresValues.Quote(c)}"))}
            FROM (SELECT DISTINCT ON (v) v, image
                  FROM (SELECT h.change_id, x.v, x.image FROM ferry.history_changes h,
                               unnest(h.version_ids, ARRAY(SELECT jsonb_array_elements(h.before))) AS x(v, image)
                        WHERE h.run_id = @run AND h.entity = @entity AND h.action = 'u') images
                  ORDER BY v, change_id) u,
                 jsonb_populate_record(NULL::{table}, u.image) r
            WHERE t.version_id = u.v
            """, runId, entity, cancellationToken).ConfigureAwait(false);
        return new RollbackEntity(entity, deleted, reopened + restored, false);
    }

    private static async Task<long> ExecuteAsync(NpgsqlConnection connection, string sql, long runId, string entity, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("run", runId);
        command.Parameters.AddWithValue("entity", entity);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
