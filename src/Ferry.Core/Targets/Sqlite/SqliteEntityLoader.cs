using System.Text;
using System.Text.Json;
using Ferry.Contracts;
using Ferry.Diagnostics;
using Ferry.Engine;
using Ferry.Manifest;
using Microsoft.Data.Sqlite;

namespace Ferry.Targets.Sqlite;

/// <summary>
/// Loads one entity into SQLite. Each batch first lands in the staging table as <c>pending</c>
/// (its own commit), then a second transaction writes the production rows, moves the staging rows
/// to <c>imported</c> or <c>error</c> and records the batch in the ledger. A <c>replace</c> load and
/// a dry run hold one outer transaction for the whole entity.
/// </summary>
internal sealed class SqliteEntityLoader : IEntityLoader
{
    private const int LookupChunk = 500;

    private readonly SqliteConnection connection;
    private readonly long runId;
    private readonly EntityPlan plan;
    private readonly string table;
    private readonly string staging;
    private readonly int[] keyColumns;
    private readonly int[] otherColumns;
    private readonly List<SqliteCommand> commands = [];
    private readonly SqliteCommand stageInsert, stageErrors, stageSettle, stageCorrected, insert, batchInsert, entityUpdate;
    private readonly SqliteCommand? update, lookupOne, lookupMany;
    private bool entityOpen;

    private SqliteEntityLoader(SqliteConnection connection, long runId, EntityPlan plan)
    {
        this.connection = connection;
        this.runId = runId;
        this.plan = plan;
        table = plan.Spec.Table;
        staging = SqliteLedgerSchema.StagingTable(plan.Spec.Name);
        var columns = plan.Mapper.Columns;
        keyColumns = [.. plan.Mapper.KeyColumns];
        otherColumns = Enumerable.Range(0, columns.Count).Where(i => !keyColumns.Contains(i)).ToArray();
        string Col(int i) => Quote(columns[i].Target);

        stageInsert = Command($"INSERT INTO \"{staging}\" (run_id, batch_no, line, business_key, status, raw, errors, warnings) VALUES ($run, $batch, $line, $key, $status, $raw, $errors, $warnings)",
            "$run", "$batch", "$line", "$key", "$status", "$raw", "$errors", "$warnings");
        stageErrors = Command($"UPDATE \"{staging}\" SET errors = $errors WHERE stage_id = $id", "$errors", "$id");
        stageSettle = Command($"UPDATE \"{staging}\" SET status = CASE WHEN errors IS NULL THEN 'imported' ELSE 'error' END WHERE stage_id BETWEEN $first AND $last", "$first", "$last");
        stageCorrected = Command($"UPDATE \"{staging}\" SET status = 'imported', resolved_by_run = $run WHERE stage_id = $id AND status = 'error'", "$run", "$id");
        insert = Command($"INSERT INTO {Quote(table)} ({string.Join(", ", columns.Select(c => Quote(c.Target)))}) VALUES ({string.Join(", ", columns.Select((_, i) => "$c" + i))})",
            columns.Select((_, i) => "$c" + i).ToArray());
        if (keyColumns.Length > 0)
        {
            var keyMatch = string.Join(" AND ", keyColumns.Select(i => $"{Col(i)} = $c{i}"));
            if (otherColumns.Length > 0)
                update = Command($"UPDATE {Quote(table)} SET {string.Join(", ", otherColumns.Select(i => $"{Col(i)} = $c{i}"))} WHERE {keyMatch}",
                    columns.Select((_, i) => "$c" + i).ToArray());
            var selectList = string.Join(", ", Enumerable.Range(0, columns.Count).Select(Col));
            lookupOne = Command($"SELECT {selectList} FROM {Quote(table)} WHERE {keyMatch}", keyColumns.Select(i => "$c" + i).ToArray());
            if (keyColumns.Length == 1)
                lookupMany = Command($"SELECT {selectList} FROM {Quote(table)} WHERE {Col(keyColumns[0])} IN ({string.Join(", ", Enumerable.Range(0, LookupChunk).Select(i => "$k" + i))})",
                    Enumerable.Range(0, LookupChunk).Select(i => "$k" + i).ToArray());
        }
        batchInsert = Command("""
            INSERT INTO ferry_batches (run_id, entity, batch_no, first_line, last_line, rows_read, inserted, updated, unchanged, rejected, committed_at)
            VALUES ($run, $entity, $batch, $first, $last, $read, $ins, $upd, $unch, $rej, $now)
            """, "$run", "$entity", "$batch", "$first", "$last", "$read", "$ins", "$upd", "$unch", "$rej", "$now");
        entityUpdate = Command("""
            UPDATE ferry_run_entities SET rows_read = $read, inserted = $ins, updated = $upd, unchanged = $unch, rejected = $rej, warnings = $warn
            WHERE run_id = $run AND entity = $entity
            """, "$read", "$ins", "$upd", "$unch", "$rej", "$warn", "$run", "$entity");
    }

    public static async Task<SqliteEntityLoader> CreateAsync(SqliteTarget target, long runId, EntityPlan plan, bool dryRun, CancellationToken cancellationToken)
    {
        var connection = target.Connection;
        await EnsureTableAsync(connection, plan, cancellationToken).ConfigureAwait(false);
        await SqliteTarget.ExecuteAsync(connection, SqliteLedgerSchema.CreateStaging(SqliteLedgerSchema.StagingTable(plan.Spec.Name)), cancellationToken).ConfigureAwait(false);
        await using (var register = connection.CreateCommand())
        {
            register.CommandText = "INSERT INTO ferry_run_entities (run_id, entity, target, mode) VALUES ($run, $entity, $target, $mode)";
            register.Parameters.AddWithValue("$run", runId);
            register.Parameters.AddWithValue("$entity", plan.Spec.Name);
            register.Parameters.AddWithValue("$target", plan.Spec.Table);
            register.Parameters.AddWithValue("$mode", plan.Spec.Mode.ToString().ToLowerInvariant());
            await register.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        var loader = new SqliteEntityLoader(connection, runId, plan);
        if (plan.Spec.Mode == LoadMode.Replace || dryRun)
        {
            await SqliteTarget.ExecuteAsync(connection, "SAVEPOINT ferry_entity", cancellationToken).ConfigureAwait(false);
            loader.entityOpen = true;
            if (plan.Spec.Mode == LoadMode.Replace)
                await SqliteTarget.ExecuteAsync(connection, $"DELETE FROM {Quote(plan.Spec.Table)}", cancellationToken).ConfigureAwait(false);
        }
        return loader;
    }

    /// <summary>Creates the table from the mapping, or checks that an existing one can take the rows.</summary>
    private static async Task EnsureTableAsync(SqliteConnection connection, EntityPlan plan, CancellationToken cancellationToken)
    {
        var spec = plan.Spec;
        var existing = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        await using (var info = connection.CreateCommand())
        {
            info.CommandText = "SELECT name FROM pragma_table_info($table)";
            info.Parameters.AddWithValue("$table", spec.Table);
            await using var reader = await info.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                existing.Add(reader.GetString(0));
        }
        if (existing.Count == 0)
        {
            var columns = plan.Mapper.Columns.Select(c => $"{Quote(c.Target)} {SqliteValues.ColumnType(c.Type)}");
            var key = spec.Key.Count > 0 ? $", PRIMARY KEY ({string.Join(", ", spec.Key.Select(Quote))})" : "";
            await SqliteTarget.ExecuteAsync(connection, $"CREATE TABLE {Quote(spec.Table)} ({string.Join(", ", columns)}{key})", cancellationToken).ConfigureAwait(false);
            return;
        }
        var missing = plan.Mapper.Columns.Where(c => !existing.Contains(c.Target)).Select(c => c.Target).ToList();
        if (missing.Count > 0)
            throw new TargetException($"table {spec.Table} has no column {string.Join(", ", missing)}; add it or change the mapping of entity '{spec.Name}'");
        if (spec.Key.Count > 0 && !await HasUniqueIndexAsync(connection, spec, cancellationToken).ConfigureAwait(false))
            throw new TargetException($"table {spec.Table} has no primary key or unique index on ({string.Join(", ", spec.Key)}); entity '{spec.Name}' needs one to find rows by business key");
    }

    private static async Task<bool> HasUniqueIndexAsync(SqliteConnection connection, EntitySpec spec, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        // A single INTEGER PRIMARY KEY is the rowid itself and has no index in pragma_index_list,
        // so the declared primary key (pragma_table_info.pk) counts as a unique key too.
        command.CommandText = """
            SELECT il.name, group_concat(ii.name, char(31))
            FROM pragma_index_list($table) il JOIN pragma_index_info(il.name) ii
            WHERE il."unique" = 1 GROUP BY il.name
            UNION ALL
            SELECT 'primary key', group_concat(name, char(31)) FROM pragma_table_info($table) WHERE pk > 0 HAVING count(*) > 0
            """;
        command.Parameters.AddWithValue("$table", spec.Table);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var wanted = spec.Key.Order(StringComparer.OrdinalIgnoreCase).ToList();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            if (reader.GetString(1).Split('\u001F').Order(StringComparer.OrdinalIgnoreCase).SequenceEqual(wanted, StringComparer.OrdinalIgnoreCase))
                return true;
        return false;
    }

    public async Task<EntityCounts> LoadBatchAsync(Batch batch, CancellationToken cancellationToken)
    {
        var counts = new EntityCounts { RowsRead = batch.Rows.Count };
        var landed = await LandAsync(batch, cancellationToken).ConfigureAwait(false);

        await SqliteTarget.ExecuteAsync(connection, "SAVEPOINT ferry_batch", cancellationToken).ConfigureAwait(false);
        try
        {
            await WriteRowsAsync(batch, cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < batch.Rows.Count; i++)
            {
                var row = batch.Rows[i];
                if (row.Issues.Exists(x => !x.RejectsRow))
                    counts.Warnings++;
                switch (row.Action)
                {
                    case RowAction.Inserted: counts.Inserted++; break;
                    case RowAction.Updated: counts.Updated++; break;
                    case RowAction.Unchanged: counts.Unchanged++; break;
                    default: counts.Rejected++; break;
                }
                if (row.RefusedByTarget && landed is { } first)
                    await RunAsync(stageErrors, cancellationToken, IssuesJson(row.Issues, true), first + i).ConfigureAwait(false);
                if (row.Action != RowAction.Rejected && row.CorrectsStageId is { } corrected)
                    await RunAsync(stageCorrected, cancellationToken, runId, corrected).ConfigureAwait(false);
            }
            if (landed is { } firstId)
                await RunAsync(stageSettle, cancellationToken, firstId, firstId + batch.Rows.Count - 1).ConfigureAwait(false);
            else
                await StageRejectedAsync(batch, cancellationToken).ConfigureAwait(false);
            await RunAsync(batchInsert, cancellationToken, runId, plan.Spec.Name, batch.Number, batch.FirstLine, batch.LastLine,
                counts.RowsRead, counts.Inserted, counts.Updated, counts.Unchanged, counts.Rejected, SqliteTarget.Now()).ConfigureAwait(false);
            await SqliteTarget.ExecuteAsync(connection, "RELEASE ferry_batch", cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await SqliteTarget.ExecuteAsync(connection, "ROLLBACK TO ferry_batch; RELEASE ferry_batch", CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        return counts;
    }

    /// <summary>
    /// Lands every row of the batch in staging as pending, with what validation said of it, and
    /// commits; returns the first stage id (the batch's ids are consecutive).
    /// </summary>
    private async Task<long?> LandAsync(Batch batch, CancellationToken cancellationToken)
    {
        if (!plan.Spec.Staging || batch.Rows.Count == 0)
            return null;
        await SqliteTarget.ExecuteAsync(connection, "SAVEPOINT ferry_land", cancellationToken).ConfigureAwait(false);
        try
        {
            foreach (var row in batch.Rows)
                await StageAsync(batch, row, "pending", cancellationToken).ConfigureAwait(false);
            long lastId;
            await using (var last = connection.CreateCommand())
            {
                last.CommandText = "SELECT last_insert_rowid()";
                lastId = (long)(await last.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
            }
            await SqliteTarget.ExecuteAsync(connection, "RELEASE ferry_land", cancellationToken).ConfigureAwait(false);
            // One connection inserting in one transaction under the run lock: the ids are consecutive.
            return lastId - batch.Rows.Count + 1;
        }
        catch
        {
            await SqliteTarget.ExecuteAsync(connection, "ROLLBACK TO ferry_land; RELEASE ferry_land", CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Without staging, rejected rows are still kept, so that none is lost.</summary>
    private async Task StageRejectedAsync(Batch batch, CancellationToken cancellationToken)
    {
        foreach (var row in batch.Rows)
            if (row.Action == RowAction.Rejected)
                await StageAsync(batch, row, "error", cancellationToken).ConfigureAwait(false);
    }

    private Task StageAsync(Batch batch, BatchRow row, string status, CancellationToken cancellationToken) =>
        RunAsync(stageInsert, cancellationToken, runId, batch.Number, row.Line, (object?)row.Key ?? DBNull.Value, status,
            RawJson(batch.SourceColumns, row.Raw), IssuesJson(row.Issues, true), IssuesJson(row.Issues, false));

    private async Task WriteRowsAsync(Batch batch, CancellationToken cancellationToken)
    {
        var existing = await LookupAsync(batch, cancellationToken).ConfigureAwait(false);
        var mode = plan.Spec.Mode;
        foreach (var row in batch.Rows)
        {
            if (row.Rejected)
            {
                row.Action = RowAction.Rejected;
                continue;
            }
            var values = row.Values!;
            for (var i = 0; i < values.Length; i++)
                insert.Parameters[i].Value = SqliteValues.ToStorage(values[i]);
            object[]? stored = null;
            if (keyColumns.Length > 0 && existing is not null && !existing.TryGetValue(row.Key!, out stored))
                stored = null;
            else if (keyColumns.Length > 0 && existing is null)
                stored = await LookupOneAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (stored is null)
                {
                    await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    row.Action = RowAction.Inserted;
                }
                else if (mode != LoadMode.Upsert)
                {
                    Reject(row, "key", $"a row with key '{row.Key}' is already in {table}");
                    continue;
                }
                else if (Unchanged(stored))
                {
                    row.Action = RowAction.Unchanged;
                    continue;
                }
                else if (update is not null)
                {
                    for (var i = 0; i < values.Length; i++)
                        update.Parameters[i].Value = insert.Parameters[i].Value;
                    await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    row.Action = RowAction.Updated;
                }
            }
            catch (SqliteException ex) when (ex.SqliteErrorCode == 19 /* SQLITE_CONSTRAINT */ || ex.SqliteErrorCode == 20 /* SQLITE_MISMATCH */)
            {
                // SQLite undoes just the failed statement; the batch goes on without this row.
                Reject(row, "target", $"the target refused the row: {SecretMasker.Scrub(ex.Message)}");
                continue;
            }
            if (existing is not null && keyColumns.Length > 0)
                existing[row.Key!] = insert.Parameters.Cast<SqliteParameter>().Select(p => p.Value!).ToArray();
        }
    }

    private static void Reject(BatchRow row, string rule, string message)
    {
        row.Issues.Add(new ValidationIssue(Severity.Error, rule, null, message));
        row.Action = RowAction.Rejected;
        row.RefusedByTarget = true;
    }

    private bool Unchanged(object[] stored)
    {
        for (var i = 0; i < stored.Length; i++)
            if (!SqliteValues.Same(stored[i], insert.Parameters[i].Value!))
                return false;
        return true;
    }

    /// <summary>Finds the rows already in the target for the batch's keys, in chunks of <see cref="LookupChunk"/>.</summary>
    private async Task<Dictionary<string, object[]>?> LookupAsync(Batch batch, CancellationToken cancellationToken)
    {
        if (lookupMany is null)
            return null;
        var found = new Dictionary<string, object[]>(batch.Rows.Count, StringComparer.Ordinal);
        var keys = batch.Rows.Where(r => !r.Rejected).Select(r => r.Values![keyColumns[0]]).ToList();
        for (var start = 0; start < keys.Count; start += LookupChunk)
        {
            for (var i = 0; i < LookupChunk; i++)
                lookupMany.Parameters[i].Value = start + i < keys.Count ? SqliteValues.ToStorage(keys[start + i]) : DBNull.Value;
            await using var reader = await lookupMany.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var values = new object[reader.FieldCount];
                reader.GetValues(values);
                found[Mapping.RowMapper.Format(values[keyColumns[0]])] = values;
            }
        }
        return found;
    }

    private async Task<object[]?> LookupOneAsync(CancellationToken cancellationToken)
    {
        for (var k = 0; k < keyColumns.Length; k++)
            lookupOne!.Parameters[k].Value = insert.Parameters[keyColumns[k]].Value;
        await using var reader = await lookupOne!.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            return null;
        var values = new object[reader.FieldCount];
        reader.GetValues(values);
        return values;
    }

    public async Task CompleteAsync(EntityCounts totals, CancellationToken cancellationToken)
    {
        await RunAsync(entityUpdate, cancellationToken, totals.RowsRead, totals.Inserted, totals.Updated, totals.Unchanged, totals.Rejected, totals.Warnings, runId, plan.Spec.Name).ConfigureAwait(false);
        if (entityOpen)
        {
            await SqliteTarget.ExecuteAsync(connection, "RELEASE ferry_entity", cancellationToken).ConfigureAwait(false);
            entityOpen = false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (entityOpen)
            await SqliteTarget.ExecuteAsync(connection, "ROLLBACK TO ferry_entity; RELEASE ferry_entity", CancellationToken.None).ConfigureAwait(false);
        foreach (var command in commands)
            await command.DisposeAsync().ConfigureAwait(false);
    }

    private SqliteCommand Command(string sql, params string[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in parameters)
            command.Parameters.Add(new SqliteParameter(name, null));
        commands.Add(command);
        return command;
    }

    private static async Task RunAsync(SqliteCommand command, CancellationToken cancellationToken, params object[] values)
    {
        for (var i = 0; i < values.Length; i++)
            command.Parameters[i].Value = values[i];
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>The raw source values as a JSON object in column order; Ferry's own columns are left out.</summary>
    internal static string RawJson(IReadOnlyList<string> columns, string?[] raw)
    {
        using var buffer = new MemoryStream(256);
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            for (var i = 0; i < columns.Count; i++)
                if (!columns[i].StartsWith(Engine.RunEngine.ReservedPrefix, StringComparison.Ordinal))
                    json.WriteString(columns[i], raw[i]);
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static object IssuesJson(List<ValidationIssue> issues, bool rejecting)
    {
        var selected = issues.Where(x => x.RejectsRow == rejecting).ToList();
        return selected.Count == 0 ? DBNull.Value : JsonSerializer.Serialize(selected.Select(x => new
        {
            severity = x.Severity.ToString().ToLowerInvariant(),
            rule = x.Rule,
            column = x.Column,
            message = SecretMasker.Scrub(x.Message),
        }));
    }
}
