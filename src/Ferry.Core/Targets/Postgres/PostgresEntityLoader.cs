using Ferry.Contracts;
using Ferry.Diagnostics;
using Ferry.Engine;
using Ferry.Manifest;
using Npgsql;
using NpgsqlTypes;
using static Ferry.Targets.Postgres.PostgresValues;

namespace Ferry.Targets.Postgres;

/// <summary>
/// Loads one entity into PostgreSQL. A batch lands in staging as <c>pending</c> by binary COPY and
/// commits; then one transaction copies the valid rows into a temporary table, records the
/// before-images of the rows about to change, upserts with <c>INSERT … ON CONFLICT</c>, settles
/// staging, and writes the batch and its counts to the ledger. A crash at any instant leaves either
/// the whole batch with its checkpoint or none of it.
/// </summary>
internal sealed class PostgresEntityLoader : IEntityLoader
{
    private readonly PostgresTarget target;
    private readonly NpgsqlConnection connection;
    private readonly long runId;
    private readonly EntityPlan plan;
    private readonly IReadOnlyList<ColumnSpec> columns;
    private readonly IReadOnlyList<ColumnSpec> keys;
    private readonly string table, staging, work;
    private readonly NpgsqlDbType[] copyTypes;
    private readonly bool outer; // a replace load or a dry run: batches are savepoints inside one transaction
    private readonly bool dryRun;
    private readonly StagingJson json = new();
    private string writeSql = "", captureSql = "", recaptureSql = "";
    private bool open;
    private bool workDirty; // the work table holds rows from an earlier write in this transaction

    private PostgresEntityLoader(PostgresTarget target, long runId, EntityPlan plan, bool dryRun)
    {
        this.dryRun = dryRun;
        outer = dryRun || plan.Spec.Mode == LoadMode.Replace;
        this.target = target;
        connection = target.Connection;
        this.runId = runId;
        this.plan = plan;
        columns = plan.Mapper.Columns;
        keys = plan.Mapper.KeyColumns.Select(i => columns[i]).ToList();
        table = $"{Quote(target.Schema)}.{Quote(plan.Spec.Table)}";
        staging = $"ferry.{Quote(PostgresLedgerSchema.StagingTable(plan.Spec.Name))}";
        work = Quote("ferry_work_" + plan.Spec.Name);
        copyTypes = columns.Select(c => CopyType(c.Type)).ToArray();
    }

    /// <summary>
    /// The statements that write a wave, once the target's own column types are known: the work
    /// table holds Ferry's types, and each value is cast to the target column's type, so a user's
    /// table with integer, varchar or text-for-uuid columns takes the rows as PostgreSQL would.
    /// </summary>
    private void BuildStatements(IReadOnlyDictionary<string, string> types)
    {
        string From(string alias, ColumnSpec c) => $"{alias}.{Quote(c.Target)}::{types[c.Target]}";
        var list = string.Join(", ", columns.Select(c => Quote(c.Target)));
        var select = string.Join(", ", columns.Select(c => From("s", c)));
        var undoInsert = "INSERT INTO ferry.undo (run_id, entity, batch_no, action, business_key) SELECT @run, @entity, @batch, 'i', k FROM written WHERE inserted";
        if (keys.Count == 0)
        {
            writeSql = $"INSERT INTO {table} ({list}) SELECT {select} FROM {work} s ORDER BY ord";
            captureSql = recaptureSql = "";
            return;
        }
        var keyList = string.Join(", ", keys.Select(c => Quote(c.Target)));
        var others = columns.Where(c => !keys.Contains(c)).ToList();
        var conflict = plan.Spec.Mode != LoadMode.Upsert || others.Count == 0
            ? "DO NOTHING"
            : $"DO UPDATE SET {string.Join(", ", others.Select(c => $"{Quote(c.Target)} = EXCLUDED.{Quote(c.Target)}"))} " +
              $"WHERE ({string.Join(", ", others.Select(c => "t." + Quote(c.Target)))}) IS DISTINCT FROM ({string.Join(", ", others.Select(c => "EXCLUDED." + Quote(c.Target)))})";
        writeSql = $"""
            WITH written AS (
                INSERT INTO {table} AS t ({list}) SELECT {select} FROM {work} s ORDER BY ord
                ON CONFLICT ({keyList}) {conflict}
                RETURNING {KeyText("t", keys)} AS k, (xmax = 0) AS inserted
            ), undo AS ({undoInsert})
            SELECT k, inserted FROM written
            """;
        // The image of every row the upsert is about to change, taken in the same transaction.
        captureSql = plan.Spec.Mode != LoadMode.Upsert || others.Count == 0 ? "" : $"""
            INSERT INTO ferry.undo (run_id, entity, batch_no, action, business_key, before)
            SELECT @run, @entity, @batch, 'u', {KeyText("t", keys)}, to_jsonb(t)
            FROM {table} t JOIN {work} s ON {string.Join(" AND ", keys.Select(c => $"t.{Quote(c.Target)} = {From("s", c)}"))}
            WHERE ({string.Join(", ", others.Select(c => "t." + Quote(c.Target)))}) IS DISTINCT FROM ({string.Join(", ", others.Select(c => From("s", c)))})
            """;
        // A key repeated within a batch is written again by a later wave of the same batch: its image from
        // before the run is the one already taken (or it was inserted by the run), so none is taken again;
        // rollback could not tell two images of one batch apart.
        recaptureSql = captureSql.Length == 0 ? "" : captureSql +
            $" AND NOT EXISTS (SELECT 1 FROM ferry.undo p WHERE p.entity = @entity AND p.business_key = {KeyText("t", keys)} AND p.run_id = @run)";
    }

    public static async Task<PostgresEntityLoader> CreateAsync(PostgresTarget target, long runId, EntityPlan plan, bool dryRun, CancellationToken cancellationToken)
    {
        var loader = new PostgresEntityLoader(target, runId, plan, dryRun);
        await loader.PrepareAsync(cancellationToken).ConfigureAwait(false);
        return loader;
    }

    private async Task PrepareAsync(CancellationToken cancellationToken)
    {
        BuildStatements(await EnsureTableAsync(cancellationToken).ConfigureAwait(false));
        var workColumns = string.Join(", ", columns.Select(c => $"{Quote(c.Target)} {ColumnType(c.Type)}"));
        await ExecuteAsync($"""
            {(dryRun ? "" : "BEGIN;")}
            SELECT pg_advisory_xact_lock({PostgresLedgerSchema.DdlLock});
            {PostgresLedgerSchema.CreateStaging(plan.Spec.Name)}
            INSERT INTO ferry.run_entities (run_id, entity, target, target_schema, mode, position) VALUES (@run, @entity, @target, @schema, @mode, @position) ON CONFLICT DO NOTHING;
            DELETE FROM {staging} WHERE run_id = @run AND status = 'pending';
            {(dryRun ? "" : "COMMIT;")}
            CREATE TEMP TABLE IF NOT EXISTS {work} (ord integer NOT NULL, {workColumns}) ON COMMIT DELETE ROWS;
            """, cancellationToken, ("target", plan.Spec.Table), ("schema", target.Schema), ("mode", plan.Spec.Mode.ToString().ToLowerInvariant()), ("position", plan.Position)).ConfigureAwait(false);
        if (!outer)
            return;
        await ExecuteAsync(dryRun ? "SAVEPOINT ferry_entity" : "BEGIN", cancellationToken).ConfigureAwait(false);
        open = true;
        if (plan.Spec.Mode == LoadMode.Replace)
        {
            // The table's contents before the replace are kept, so the run can be rolled back.
            var kept = $"ferry.{Quote($"replaced_{runId}_{plan.Spec.Name}")}";
            await ExecuteAsync($"""
                DROP TABLE IF EXISTS {kept};
                CREATE TABLE {kept} AS TABLE {table};
                INSERT INTO ferry.undo (run_id, entity, batch_no, action, business_key) VALUES (@run, @entity, 0, 'r', '');
                TRUNCATE {table};
                """, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Creates the table from the mapping, or checks an existing one; returns each column's type there,
    /// by its catalog name and without its modifier (<c>pg_catalog."varchar"</c>, <c>pg_catalog.bpchar</c>):
    /// an explicit cast to <c>varchar(40)</c> or <c>character</c> (that is, <c>char(1)</c>) would cut a longer
    /// value silently, whereas the insert's own assignment to the column refuses it (and rounds numerics as
    /// PostgreSQL does).
    /// </summary>
    private async Task<Dictionary<string, string>> EnsureTableAsync(CancellationToken cancellationToken)
    {
        var existing = await ColumnTypesAsync(cancellationToken).ConfigureAwait(false);
        if (existing.Count == 0)
        {
            var definitions = columns.Select(c => $"{Quote(c.Target)} {ColumnType(c.Type)}");
            var key = keys.Count > 0 ? $", PRIMARY KEY ({string.Join(", ", keys.Select(c => Quote(c.Target)))})" : "";
            await ExecuteAsync($"CREATE SCHEMA IF NOT EXISTS {Quote(target.Schema)}; CREATE TABLE IF NOT EXISTS {table} ({string.Join(", ", definitions)}{key})", cancellationToken).ConfigureAwait(false);
            return columns.ToDictionary(c => c.Target, c => ColumnType(c.Type));
        }
        var missing = columns.Where(c => !existing.ContainsKey(c.Target)).Select(c => c.Target).ToList();
        if (missing.Count > 0)
            throw new TargetException($"table {target.Schema}.{plan.Spec.Table} has no column {string.Join(", ", missing)}; add it or change the mapping of entity '{plan.Spec.Name}'");
        if (keys.Count == 0)
            return existing;
        await using var unique = connection.CreateCommand();
        unique.CommandText = """
            SELECT count(*) FROM pg_index i
            WHERE i.indrelid = (quote_ident(@schema) || '.' || quote_ident(@table))::regclass AND i.indisunique AND i.indpred IS NULL
              AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a
                   WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) = @keys
              AND i.indnkeyatts = cardinality(@keys)
            """;
        unique.Parameters.AddWithValue("schema", target.Schema);
        unique.Parameters.AddWithValue("table", plan.Spec.Table);
        unique.Parameters.AddWithValue("keys", keys.Select(c => c.Target).Order(StringComparer.Ordinal).ToArray());
        if ((long)(await unique.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))! == 0)
            throw new TargetException($"table {target.Schema}.{plan.Spec.Table} has no primary key or unique index on ({string.Join(", ", plan.Spec.Key)}); entity '{plan.Spec.Name}' needs one to find rows by business key");
        return existing;
    }

    private async Task<Dictionary<string, string>> ColumnTypesAsync(CancellationToken cancellationToken)
    {
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        await using var info = connection.CreateCommand();
        info.CommandText = """
            SELECT a.attname, format('%I.%I', n.nspname, t.typname) FROM pg_attribute a
            JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE a.attrelid = to_regclass(quote_ident(@schema) || '.' || quote_ident(@table)) AND a.attnum > 0 AND NOT a.attisdropped
            """;
        info.Parameters.AddWithValue("schema", target.Schema);
        info.Parameters.AddWithValue("table", plan.Spec.Table);
        await using var reader = await info.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            types[reader.GetString(0)] = reader.GetString(1);
        return types;
    }


    public async Task<EntityCounts> LoadBatchAsync(Batch batch, CancellationToken cancellationToken)
    {
        var counts = new EntityCounts { RowsRead = batch.Rows.Count };
        if (plan.Spec.Staging && batch.Rows.Count > 0)
        {
            await BeginAsync("ferry_land", cancellationToken).ConfigureAwait(false);
            try
            {
                // The landing need not wait for its own flush to disk: the batch transaction's commit,
                // which does wait, flushes the log up to and past it. Lost in a crash before that, the
                // landed rows would only be cleared and landed again by the resumed run.
                if (!outer)
                    await ExecuteAsync("SET LOCAL synchronous_commit = off", cancellationToken).ConfigureAwait(false);
                await StageAsync(batch, batch.Rows, "pending", cancellationToken).ConfigureAwait(false);
                await CommitAsync("ferry_land", cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await AbortAsync("ferry_land").ConfigureAwait(false);
                throw;
            }
        }
        FaultInjection.Point("postgres.after-land", batch.Number);

        await BeginAsync("ferry_batch", cancellationToken).ConfigureAwait(false);
        try
        {
            await WriteBatchAsync(batch, counts, cancellationToken).ConfigureAwait(false);
            FaultInjection.Point("postgres.before-commit", batch.Number);
            await CommitAsync("ferry_batch", cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await AbortAsync("ferry_batch").ConfigureAwait(false);
            throw;
        }
        FaultInjection.Point("postgres.after-commit", batch.Number);
        return counts;
    }

    private async Task WriteBatchAsync(Batch batch, EntityCounts counts, CancellationToken cancellationToken)
    {
        var waves = Waves(batch.Rows);
        for (var w = 0; w < waves.Count; w++)
            await WriteWaveAsync(batch.Number, waves[w], w > 0, cancellationToken).ConfigureAwait(false);
        foreach (var row in batch.Rows)
        {
            if (row.Rejected)
                row.Action = RowAction.Rejected;
            counts.Tally(row);
        }
        await SettleAsync(batch, cancellationToken).ConfigureAwait(false);
        await ExecuteAsync("""
            INSERT INTO ferry.batches (run_id, entity, batch_no, first_line, last_line, rows_read, inserted, updated, unchanged, rejected, warnings)
            VALUES (@run, @entity, @batch, @first, @last, @read, @ins, @upd, @unch, @rej, @warn);
            UPDATE ferry.run_entities SET rows_read = rows_read + @read, inserted = inserted + @ins, updated = updated + @upd,
                unchanged = unchanged + @unch, rejected = rejected + @rej, warnings = warnings + @warn
            WHERE run_id = @run AND entity = @entity;
            """, cancellationToken,
            ("batch", batch.Number), ("first", batch.FirstLine), ("last", batch.LastLine), ("read", (int)counts.RowsRead),
            ("ins", (int)counts.Inserted), ("upd", (int)counts.Updated), ("unch", (int)counts.Unchanged), ("rej", (int)counts.Rejected),
            ("warn", (int)counts.Warnings)).ConfigureAwait(false);
    }

    /// <summary>Undoes an unfinished transaction (or savepoint); a broken connection has undone it already.</summary>
    private async Task AbortAsync(string name)
    {
        if (connection.State != System.Data.ConnectionState.Open)
            return;
        try
        {
            await ExecuteAsync(outer ? $"ROLLBACK TO {name}; RELEASE {name}" : "ROLLBACK", CancellationToken.None).ConfigureAwait(false);
        }
        catch (NpgsqlException)
        {
            // The server has already rolled back what the broken connection left open.
        }
        workDirty = true;
    }

    /// <summary>
    /// Splits a batch's valid rows so that no key repeats within a part: one statement may not
    /// change a row twice. A repeated key starts a new part, so later rows win, as in the source.
    /// </summary>
    private List<List<BatchRow>> Waves(IReadOnlyList<BatchRow> rows)
    {
        var waves = new List<List<BatchRow>> { new() };
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var row in rows)
        {
            if (row.Rejected)
                continue;
            if (keys.Count > 0 && !seen.Add(row.Key!))
            {
                waves.Add([]);
                seen.Clear();
                seen.Add(row.Key!);
            }
            waves[^1].Add(row);
        }
        return waves;
    }

    private async Task WriteWaveAsync(int batch, List<BatchRow> rows, bool again, CancellationToken cancellationToken)
    {
        if (rows.Count == 0)
            return;
        await ExecuteAsync("SAVEPOINT ferry_wave", cancellationToken).ConfigureAwait(false);
        try
        {
            await WriteAsync(batch, rows, again, cancellationToken).ConfigureAwait(false);
            await ExecuteAsync("RELEASE ferry_wave", cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ex.SqlState.StartsWith("22", StringComparison.Ordinal) || ex.SqlState.StartsWith("23", StringComparison.Ordinal))
        {
            // A row the target refuses (a constraint, a value out of range) fails the whole statement.
            // Find it: write the rows one by one, each under its own savepoint.
            await ExecuteAsync("ROLLBACK TO ferry_wave; RELEASE ferry_wave", cancellationToken).ConfigureAwait(false);
            foreach (var row in rows)
            {
                await ExecuteAsync("SAVEPOINT ferry_row", cancellationToken).ConfigureAwait(false);
                try
                {
                    await WriteAsync(batch, [row], again, cancellationToken).ConfigureAwait(false);
                    await ExecuteAsync("RELEASE ferry_row", cancellationToken).ConfigureAwait(false);
                }
                catch (PostgresException rowError) when (rowError.SqlState.StartsWith("22", StringComparison.Ordinal) || rowError.SqlState.StartsWith("23", StringComparison.Ordinal))
                {
                    await ExecuteAsync("ROLLBACK TO ferry_row; RELEASE ferry_row", cancellationToken).ConfigureAwait(false);
                    row.Issues.Add(new ValidationIssue(Severity.Error, "target", rowError.ColumnName,
                        $"the target refused the row: {SecretMasker.Scrub(rowError.MessageText)}{(rowError.Detail is { } d ? $" ({SecretMasker.Scrub(d)})" : "")}"));
                    row.Action = RowAction.Rejected;
                    row.RefusedByTarget = true;
                    row.Values = null;
                }
            }
        }
    }

    /// <param name="again">A later wave of the batch: its keys may have been written by this run already.</param>
    private async Task WriteAsync(int batch, List<BatchRow> rows, bool again, CancellationToken cancellationToken)
    {
        if (workDirty)
            await ExecuteAsync($"TRUNCATE {work}", cancellationToken).ConfigureAwait(false);
        workDirty = true;
        await using (var copy = await connection.BeginBinaryImportAsync(
            $"COPY {work} (ord, {string.Join(", ", columns.Select(c => Quote(c.Target)))}) FROM STDIN (FORMAT BINARY)", cancellationToken).ConfigureAwait(false))
        {
            for (var i = 0; i < rows.Count; i++)
            {
                if (i == rows.Count / 2)
                    FaultInjection.Point("postgres.mid-copy", batch);
                await copy.StartRowAsync(cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(i, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
                var values = rows[i].Values!;
                for (var c = 0; c < values.Length; c++)
                {
                    if (values[c] is { } value)
                        await copy.WriteAsync(value, copyTypes[c], cancellationToken).ConfigureAwait(false);
                    else
                        await copy.WriteNullAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            await copy.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }
        if (captureSql.Length > 0)
            await ExecuteAsync(again ? recaptureSql : captureSql, cancellationToken, ("batch", batch)).ConfigureAwait(false);

        await using var command = connection.CreateCommand();
        command.CommandText = writeSql;
        AddRunParameters(command);
        command.Parameters.AddWithValue("batch", batch);
        if (keys.Count == 0)
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            foreach (var row in rows)
                row.Action = RowAction.Inserted;
            return;
        }
        var written = new Dictionary<string, bool>(StringComparer.Ordinal);
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                written[reader.GetString(0)] = reader.GetBoolean(1);
        foreach (var row in rows)
        {
            if (written.TryGetValue(row.Key!, out var inserted))
                row.Action = inserted ? RowAction.Inserted : RowAction.Updated;
            else if (plan.Spec.Mode == LoadMode.Upsert)
                row.Action = RowAction.Unchanged;
            else
            {
                row.Issues.Add(new ValidationIssue(Severity.Error, "key", null, $"a row with key '{row.Key}' is already in {target.Schema}.{plan.Spec.Table}"));
                row.Action = RowAction.Rejected;
                row.RefusedByTarget = true;
            }
        }
    }

    /// <summary>Moves the batch's staging rows to imported or error, records corrections; without staging, keeps the rejects.</summary>
    private async Task SettleAsync(Batch batch, CancellationToken cancellationToken)
    {
        if (!plan.Spec.Staging)
        {
            var rejected = batch.Rows.Where(r => r.Action == RowAction.Rejected).ToList();
            if (rejected.Count > 0)
                await StageAsync(batch, rejected, "error", cancellationToken).ConfigureAwait(false);
        }
        else
        {
            foreach (var row in batch.Rows.Where(r => r.RefusedByTarget))
                await ExecuteAsync($"UPDATE {staging} SET errors = @errors::jsonb WHERE run_id = @run AND batch_no = @batch AND line = @line", cancellationToken,
                    ("errors", StagingJson.Issues(row.Issues, true)), ("batch", batch.Number), ("line", row.Line)).ConfigureAwait(false);
            await ExecuteAsync($"UPDATE {staging} SET status = CASE WHEN errors IS NULL THEN 'imported' ELSE 'error' END WHERE run_id = @run AND batch_no = @batch",
                cancellationToken, ("batch", batch.Number)).ConfigureAwait(false);
        }
        var corrected = batch.Rows.Where(r => r.Action != RowAction.Rejected && r.CorrectsStageId is not null).Select(r => r.CorrectsStageId!.Value).ToArray();
        if (corrected.Length > 0)
            await ExecuteAsync($"UPDATE {staging} SET status = 'imported', resolved_by_run = @run WHERE stage_id = ANY(@ids) AND status = 'error'",
                cancellationToken, ("ids", corrected)).ConfigureAwait(false);
    }

    private async Task StageAsync(Batch batch, IEnumerable<BatchRow> rows, string status, CancellationToken cancellationToken)
    {
        await using var copy = await connection.BeginBinaryImportAsync(
            $"COPY {staging} (run_id, batch_no, line, business_key, status, raw, errors, warnings) FROM STDIN (FORMAT BINARY)", cancellationToken).ConfigureAwait(false);
        foreach (var row in rows)
        {
            await copy.StartRowAsync(cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(runId, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(batch.Number, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(row.Line, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
            await WriteTextAsync(copy, row.Key, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(status, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(System.Text.Encoding.UTF8.GetString(json.Raw(batch.SourceColumns, row.Raw)), NpgsqlDbType.Json, cancellationToken).ConfigureAwait(false);
            await WriteTextAsync(copy, StagingJson.Issues(row.Issues, true), NpgsqlDbType.Jsonb, cancellationToken).ConfigureAwait(false);
            await WriteTextAsync(copy, StagingJson.Issues(row.Issues, false), NpgsqlDbType.Jsonb, cancellationToken).ConfigureAwait(false);
        }
        await copy.CompleteAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task WriteTextAsync(NpgsqlBinaryImporter copy, string? value, NpgsqlDbType type, CancellationToken cancellationToken)
    {
        if (value is null)
            await copy.WriteNullAsync(cancellationToken).ConfigureAwait(false);
        else
            await copy.WriteAsync(value, type, cancellationToken).ConfigureAwait(false);
    }

    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        await ExecuteAsync("UPDATE ferry.run_entities SET completed_at = now() WHERE run_id = @run AND entity = @entity", cancellationToken).ConfigureAwait(false);
        if (open)
        {
            await ExecuteAsync(dryRun ? "RELEASE ferry_entity" : "COMMIT", cancellationToken).ConfigureAwait(false);
            open = false;
        }
    }

    private Task BeginAsync(string name, CancellationToken cancellationToken) =>
        ExecuteAsync(outer ? $"SAVEPOINT {name}" : "BEGIN", cancellationToken);

    private async Task CommitAsync(string name, CancellationToken cancellationToken)
    {
        await ExecuteAsync(outer ? $"RELEASE {name}" : "COMMIT", cancellationToken).ConfigureAwait(false);
        if (!outer)
            workDirty = false; // ON COMMIT DELETE ROWS has emptied it
    }

    private void AddRunParameters(NpgsqlCommand command)
    {
        command.Parameters.AddWithValue("run", runId);
        command.Parameters.AddWithValue("entity", plan.Spec.Name);
    }

    private async Task ExecuteAsync(string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        if (sql.Contains("@run", StringComparison.Ordinal))
            command.Parameters.AddWithValue("run", runId);
        if (sql.Contains("@entity", StringComparison.Ordinal))
            command.Parameters.AddWithValue("entity", plan.Spec.Name);
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        json.Dispose();
        if (open && connection.State == System.Data.ConnectionState.Open)
        {
            try
            {
                await ExecuteAsync(dryRun ? "ROLLBACK TO ferry_entity; RELEASE ferry_entity" : "ROLLBACK", CancellationToken.None).ConfigureAwait(false);
            }
            catch (NpgsqlException)
            {
                // The connection broke: the server has rolled the transaction back.
            }
        }
    }
}
