using Ferry.Contracts;
using Ferry.Diagnostics;
using Ferry.Engine;
using Ferry.Manifest;
using Microsoft.Data.Sqlite;

namespace Ferry.Targets.Sqlite;

/// <summary>
/// Loads one entity into SQLite. Each batch first lands in the staging table as <c>pending</c>
/// (its own commit), then a second transaction writes the production rows, settles the staging
/// rows to <c>imported</c> or <c>error</c> and records the batch in the ledger. A <c>replace</c>
/// load and a dry run hold one outer transaction for the whole entity.
/// </summary>
internal sealed class SqliteEntityLoader : IEntityLoader
{
    private const int LookupChunk = 500;

    private readonly SqliteConnection connection;
    private readonly long runId;
    private readonly EntityPlan plan;
    private readonly string table;
    private readonly int[] keyColumns;
    private readonly List<IDisposable> statements = [];
    private readonly SqliteStatement stageInsert, stageErrors, stageSettle, stageCorrected, insert, batchInsert, entityAdd, entityComplete;
    private readonly SqliteStatement? update, lookupOne, lookupMany;
    private readonly StagingJson json = new();
    private readonly object[] row;
    private readonly HashSet<string> batchKeys = new(StringComparer.Ordinal), repeatedKeys = new(StringComparer.Ordinal);
    private bool entityOpen;

    private SqliteEntityLoader(SqliteConnection connection, long runId, EntityPlan plan)
    {
        this.connection = connection;
        this.runId = runId;
        this.plan = plan;
        table = plan.Spec.Table;
        var staging = Quote(SqliteLedgerSchema.StagingTable(plan.Spec.Name));
        var columns = plan.Mapper.Columns;
        row = new object[columns.Count];
        keyColumns = [.. plan.Mapper.KeyColumns];
        var otherColumns = Enumerable.Range(0, columns.Count).Where(i => !keyColumns.Contains(i)).ToArray();
        string Col(int i) => Quote(columns[i].Target);
        string Params(int count, int from = 1) => string.Join(", ", Enumerable.Range(from, count).Select(i => "?" + i));

        stageInsert = Statement($"INSERT INTO {staging} (run_id, batch_no, line, business_key, status, raw, errors, warnings) VALUES ({Params(8)})");
        stageErrors = Statement($"UPDATE {staging} SET errors = ?1 WHERE stage_id = ?2");
        stageSettle = Statement($"UPDATE {staging} SET status = CASE WHEN errors IS NULL THEN 'imported' ELSE 'error' END WHERE stage_id BETWEEN ?1 AND ?2");
        stageCorrected = Statement($"UPDATE {staging} SET status = 'imported', resolved_by_run = ?1 WHERE stage_id = ?2 AND status = 'error'");
        insert = Statement($"INSERT INTO {Quote(table)} ({string.Join(", ", columns.Select(c => Quote(c.Target)))}) VALUES ({Params(columns.Count)})");
        if (keyColumns.Length > 0)
        {
            // Parameters ?1..?n are the row's columns in mapping order, in every statement.
            var keyMatch = string.Join(" AND ", keyColumns.Select(i => $"{Col(i)} = ?{i + 1}"));
            if (otherColumns.Length > 0)
                update = Statement($"UPDATE {Quote(table)} SET {string.Join(", ", otherColumns.Select(i => $"{Col(i)} = ?{i + 1}"))} WHERE {keyMatch}");
            var selectList = string.Join(", ", Enumerable.Range(0, columns.Count).Select(Col));
            lookupOne = Statement($"SELECT {selectList} FROM {Quote(table)} WHERE {keyMatch}");
            if (keyColumns.Length == 1)
                lookupMany = Statement($"SELECT {selectList} FROM {Quote(table)} WHERE {Col(keyColumns[0])} IN ({Params(LookupChunk)})");
        }
        batchInsert = Statement("""
            INSERT INTO ferry_batches (run_id, entity, batch_no, first_line, last_line, rows_read, inserted, updated, unchanged, rejected, warnings, committed_at)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
            """);
        // Each batch adds its counts in its own transaction, so a run that stops part-way (a fatal
        // row, a crash) still records exactly what it committed.
        entityAdd = Statement("""
            UPDATE ferry_run_entities SET rows_read = rows_read + ?1, inserted = inserted + ?2, updated = updated + ?3,
                unchanged = unchanged + ?4, rejected = rejected + ?5, warnings = warnings + ?6
            WHERE run_id = ?7 AND entity = ?8
            """);
        entityComplete = Statement("UPDATE ferry_run_entities SET completed_at = ?1 WHERE run_id = ?2 AND entity = ?3");
    }

    public static async Task<SqliteEntityLoader> CreateAsync(SqliteTarget target, long runId, EntityPlan plan, bool dryRun, CancellationToken cancellationToken)
    {
        var connection = target.Connection;
        await EnsureTableAsync(connection, plan, cancellationToken).ConfigureAwait(false);
        var staging = SqliteLedgerSchema.StagingTable(plan.Spec.Name);
        await SqliteTarget.ExecuteAsync(connection, SqliteLedgerSchema.CreateStaging(staging), cancellationToken).ConfigureAwait(false);
        var loader = new SqliteEntityLoader(connection, runId, plan);
        using (var register = new SqliteStatement(connection, "INSERT OR IGNORE INTO ferry_run_entities (run_id, entity, target, mode, position) VALUES (?1, ?2, ?3, ?4, ?5)"))
            Run(register, runId, plan.Spec.Name, plan.Spec.Table, plan.Spec.Mode.ToString().ToLowerInvariant(), (long)plan.Position);
        // Rows an interrupted attempt landed but never loaded: their batch is read again from the source.
        using (var clear = new SqliteStatement(connection, $"DELETE FROM {Quote(staging)} WHERE run_id = ?1 AND status = 'pending'"))
            Run(clear, runId);
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

    // SQLite runs in-process and its calls complete synchronously, so the batch work below is
    // synchronous; the async signature is the target interface's, for networked databases.
    public async Task<EntityCounts> LoadBatchAsync(Batch batch, CancellationToken cancellationToken)
    {
        var counts = new EntityCounts { RowsRead = batch.Rows.Count };
        var landed = await LandAsync(batch, cancellationToken).ConfigureAwait(false);

        await SqliteTarget.ExecuteAsync(connection, "SAVEPOINT ferry_batch", cancellationToken).ConfigureAwait(false);
        try
        {
            WriteRows(batch, cancellationToken);
            for (var i = 0; i < batch.Rows.Count; i++)
            {
                var row = batch.Rows[i];
                counts.Tally(row);
                if (row.RefusedByTarget && landed is { } first)
                    Run(stageErrors, StagingJson.Issues(row.Issues, true), first + i);
                if (row.Action != RowAction.Rejected && row.CorrectsStageId is { } corrected)
                    Run(stageCorrected, runId, corrected);
            }
            if (landed is { } firstId)
                Run(stageSettle, firstId, firstId + batch.Rows.Count - 1);
            else
                StageRejected(batch);
            Run(batchInsert, runId, plan.Spec.Name, batch.Number, batch.FirstLine, batch.LastLine,
                counts.RowsRead, counts.Inserted, counts.Updated, counts.Unchanged, counts.Rejected, counts.Warnings, SqliteTarget.Now());
            Run(entityAdd, counts.RowsRead, counts.Inserted, counts.Updated, counts.Unchanged, counts.Rejected, counts.Warnings, runId, plan.Spec.Name);
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
                Stage(batch, row, "pending");
            // One connection inserting in one transaction under the run lock: the ids are consecutive.
            var first = connection.Handle is { } db ? SQLitePCL.raw.sqlite3_last_insert_rowid(db) - batch.Rows.Count + 1 : 0;
            await SqliteTarget.ExecuteAsync(connection, "RELEASE ferry_land", cancellationToken).ConfigureAwait(false);
            return first;
        }
        catch
        {
            await SqliteTarget.ExecuteAsync(connection, "ROLLBACK TO ferry_land; RELEASE ferry_land", CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Without staging, rejected rows are still kept, so that none is lost.</summary>
    private void StageRejected(Batch batch)
    {
        foreach (var row in batch.Rows)
            if (row.Action == RowAction.Rejected)
                Stage(batch, row, "error");
    }

    private void Stage(Batch batch, BatchRow row, string status)
    {
        stageInsert.Bind(0, runId);
        stageInsert.Bind(1, (long)batch.Number);
        stageInsert.Bind(2, row.Line);
        stageInsert.Bind(3, row.Key);
        stageInsert.Bind(4, status);
        stageInsert.BindUtf8(5, json.Raw(batch.SourceColumns, row.Raw));
        stageInsert.Bind(6, StagingJson.Issues(row.Issues, true));
        stageInsert.Bind(7, StagingJson.Issues(row.Issues, false));
        stageInsert.Execute();
    }

    private void WriteRows(Batch batch, CancellationToken cancellationToken)
    {
        var existing = Lookup(batch);
        FindRepeatedKeys(batch);
        var mode = plan.Spec.Mode;
        foreach (var current in batch.Rows)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (current.Rejected)
            {
                current.Action = RowAction.Rejected;
                continue;
            }
            var values = current.Values!;
            for (var i = 0; i < values.Length; i++)
                row[i] = SqliteValues.ToStorage(values[i]);
            object[]? stored = null;
            if (keyColumns.Length > 0)
                stored = existing is not null ? existing.GetValueOrDefault(current.Key!) : LookupOne();
            try
            {
                if (stored is null)
                {
                    Execute(insert);
                    current.Action = RowAction.Inserted;
                }
                else if (mode != LoadMode.Upsert)
                {
                    Reject(current, "key", $"a row with key '{current.Key}' is already in {table}");
                    continue;
                }
                else if (Same(stored))
                {
                    current.Action = RowAction.Unchanged;
                    continue;
                }
                else
                {
                    if (update is not null)
                        Execute(update);
                    current.Action = RowAction.Updated;
                }
            }
            catch (SqliteException ex) when (ex.SqliteErrorCode is 19 /* SQLITE_CONSTRAINT */ or 20 /* SQLITE_MISMATCH */)
            {
                // SQLite undoes just the failed statement; the batch goes on without this row.
                Reject(current, "target", $"the target refused the row: {SecretMasker.Scrub(ex.Message)}");
                continue;
            }
            // A later row of this batch with the same key must see this one.
            if (existing is not null && repeatedKeys.Contains(current.Key!))
                existing[current.Key!] = (object[])row.Clone();
        }
    }

    /// <summary>Keys that more than one row of the batch carries: only those rows need remembering once written.</summary>
    private void FindRepeatedKeys(Batch batch)
    {
        batchKeys.Clear();
        repeatedKeys.Clear();
        foreach (var current in batch.Rows)
            if (!current.Rejected && !batchKeys.Add(current.Key!))
                repeatedKeys.Add(current.Key!);
    }

    private void Execute(SqliteStatement statement)
    {
        for (var i = 0; i < statement.ParameterCount; i++)
            statement.Bind(i, row[i]);
        statement.Execute();
    }

    private static void Reject(BatchRow row, string rule, string message)
    {
        row.Issues.Add(new ValidationIssue(Severity.Error, rule, null, message));
        row.Action = RowAction.Rejected;
        row.RefusedByTarget = true;
    }

    private bool Same(object[] stored)
    {
        for (var i = 0; i < stored.Length; i++)
            if (!SqliteValues.Same(stored[i], row[i]))
                return false;
        return true;
    }

    /// <summary>Finds the rows already in the target for the batch's keys, <see cref="LookupChunk"/> keys a query.</summary>
    private Dictionary<string, object[]>? Lookup(Batch batch)
    {
        if (lookupMany is null)
            return null;
        var found = new Dictionary<string, object[]>(batch.Rows.Count, StringComparer.Ordinal);
        var keys = batch.Rows.Where(r => !r.Rejected).Select(r => r.Values![keyColumns[0]]).ToList();
        for (var start = 0; start < keys.Count; start += LookupChunk)
        {
            for (var i = 0; i < LookupChunk; i++)
                lookupMany.Bind(i, start + i < keys.Count ? SqliteValues.ToStorage(keys[start + i]) : null);
            while (lookupMany.Step())
            {
                var values = ReadRow(lookupMany);
                found[Mapping.RowMapper.Format(values[keyColumns[0]])] = values;
            }
        }
        return found;
    }

    private object[]? LookupOne()
    {
        for (var k = 0; k < keyColumns.Length; k++)
            lookupOne!.Bind(keyColumns[k], row[keyColumns[k]]);
        if (!lookupOne!.Step())
            return null;
        var values = ReadRow(lookupOne);
        lookupOne.Reset();
        return values;
    }

    private static object[] ReadRow(SqliteStatement statement)
    {
        var values = new object[statement.ColumnCount];
        for (var i = 0; i < values.Length; i++)
            values[i] = statement.Column(i);
        return values;
    }

    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        Run(entityComplete, SqliteTarget.Now(), runId, plan.Spec.Name);
        if (entityOpen)
        {
            await SqliteTarget.ExecuteAsync(connection, "RELEASE ferry_entity", cancellationToken).ConfigureAwait(false);
            entityOpen = false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var statement in statements)
            statement.Dispose();
        json.Dispose();
        if (entityOpen)
            await SqliteTarget.ExecuteAsync(connection, "ROLLBACK TO ferry_entity; RELEASE ferry_entity", CancellationToken.None).ConfigureAwait(false);
    }

    private SqliteStatement Statement(string sql)
    {
        var statement = new SqliteStatement(connection, sql);
        statements.Add(statement);
        return statement;
    }

    private static void Run(SqliteStatement statement, params object?[] values)
    {
        for (var i = 0; i < values.Length; i++)
            statement.Bind(i, values[i]);
        statement.Execute();
    }

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
