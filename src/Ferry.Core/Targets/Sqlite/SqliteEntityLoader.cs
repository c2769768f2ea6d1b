using Ferry.Contracts;
using Ferry.Diagnostics;
using Ferry.Engine;
using Ferry.Manifest;
using Microsoft.Data.Sqlite;
using static Ferry.Targets.Sqlite.SqliteLedgerSchema;

namespace Ferry.Targets.Sqlite;

/// <summary>
/// Loads one entity into SQLite. With staging, each batch first lands as one <c>landed</c> record in
/// <c>ferry_batches</c> (every row's source line and business key) plus a record of its own in the
/// rows table for each rejected or warned row, and commits; a second transaction writes the
/// production rows, records the rows the target refused, turns the batch record <c>committed</c>
/// with its counts and settles the batch's own row records to <c>imported</c> or <c>error</c>.
/// A <c>replace</c> load and a dry run hold one outer transaction for the whole entity.
/// </summary>
/// <remarks>
/// Production writes take one of two paths per batch. When most rows are expected to be new (the
/// table was empty when the entity began, or the previous batch mostly inserted), each row is
/// inserted straight away and looked up only when its key is already there. Otherwise the batch's
/// keys are looked up first, <see cref="LookupChunk"/> a query, and each stored row is compared
/// value by value with the incoming one: only a row that differs is written. Either way the
/// comparison is against what the table holds, so a row changed behind Ferry's back is put right.
/// </remarks>
internal sealed partial class SqliteEntityLoader : IEntityLoader
{
    private const int LookupChunk = 500;

    private readonly SqliteConnection connection;
    private readonly long runId;
    private readonly EntityPlan plan;
    private readonly string table;
    private readonly int[] keyColumns;
    private readonly List<IDisposable> statements = [];
    private readonly SqliteStatement rowInsert, rowErrors, rowSettle, rowCorrected, insert, batchLand, batchCommit, batchInsert, entityAdd, entityComplete, tenantAdd, tenantComplete;
    private readonly SqliteStatement begin, commit;
    private readonly SqliteStatement? insertNew, update, lookupOne, lookupMany, keyMapInsert;
    private readonly StagingJson json = new();
    private readonly BatchJson batchJson = new();
    private readonly HashSet<string> repeatedKeys = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> keyIndex = new(StringComparer.Ordinal);
    private Match[] matches = [];
    private readonly object?[] probeKeys = new object?[LookupChunk];
    private bool[] recorded = []; // the rows of the batch that landed with a record of their own
    private char[] keyChars = new char[256];
    private bool entityOpen;

    /// <summary>Insert before looking up: most of the rows are expected to be new.</summary>
    private bool insertFirst;

    /// <summary>What the batched lookup found for a row of the batch.</summary>
    private enum Match : byte { NotLookedUp, Missing, Same, Different }

    private SqliteEntityLoader(SqliteConnection connection, long runId, EntityPlan plan)
    {
        this.connection = connection;
        this.runId = runId;
        this.plan = plan;
        table = plan.Spec.Table;
        var rows = Quote(RowsTable(plan.Spec.Name));
        var columns = plan.Mapper.Columns;
        keyColumns = [.. plan.Mapper.KeyColumns];
        var otherColumns = Enumerable.Range(0, columns.Count).Where(i => !keyColumns.Contains(i)).ToArray();
        string Col(int i) => Quote(columns[i].Target);
        string Params(int count, int from = 1) => string.Join(", ", Enumerable.Range(from, count).Select(i => "?" + i));

        begin = Statement("SAVEPOINT ferry_batch");
        commit = Statement("RELEASE ferry_batch");
        rowInsert = Statement($"INSERT INTO {rows} (stage_id, run_id, batch_no, line, business_key, status, raw, errors, warnings) VALUES ({Params(9)})");
        rowErrors = Statement($"UPDATE {rows} SET errors = ?1 WHERE stage_id = ?2");
        rowSettle = Statement($"UPDATE {rows} SET status = CASE WHEN errors IS NULL THEN 'imported' ELSE 'error' END WHERE stage_id BETWEEN ?1 AND ?2 AND status = 'pending'");
        rowCorrected = Statement($"UPDATE {rows} SET status = 'imported', resolved_by_run = ?1 WHERE stage_id = ?2 AND status = 'error'");
        var insertSql = $"INSERT INTO {Quote(table)} ({string.Join(", ", columns.Select(c => Quote(c.Target)))}) VALUES ({Params(columns.Count)})";
        insert = Statement(insertSql);
        // An scd2 entity's statements are its own (SqliteEntityLoader.History.cs).
        if (keyColumns.Length > 0 && plan.Spec.Mode != LoadMode.Scd2)
        {
            // A row whose key is there already is left alone (and then looked up); any other
            // constraint still fails the statement. A key index the conflict target does not match
            // (another collation, say) leaves only the plain insert, whose key conflict is then caught.
            try
            {
                insertNew = Statement($"{insertSql} ON CONFLICT ({string.Join(", ", keyColumns.Select(Col))}) DO NOTHING");
            }
            catch (SqliteException)
            {
                insertNew = null;
            }
            // Parameters ?1..?n are the row's columns in mapping order, in every statement.
            var keyMatch = string.Join(" AND ", keyColumns.Select(i => $"{Col(i)} = ?{i + 1}"));
            if (otherColumns.Length > 0)
                update = Statement($"UPDATE {Quote(table)} SET {string.Join(", ", otherColumns.Select(i => $"{Col(i)} = ?{i + 1}"))} WHERE {keyMatch}");
            var selectList = string.Join(", ", Enumerable.Range(0, columns.Count).Select(Col));
            lookupOne = Statement($"SELECT {selectList} FROM {Quote(table)} WHERE {keyMatch}");
            if (keyColumns.Length == 1)
                lookupMany = Statement($"SELECT {selectList} FROM {Quote(table)} WHERE {Col(keyColumns[0])} IN ({Params(LookupChunk)})");
        }
        // The counts are given (not left to their defaults): a ledger upgraded from an earlier version has none.
        batchLand = Statement("""
            INSERT INTO ferry_batches (run_id, entity, batch_no, first_line, last_line, rows_read, inserted, updated, unchanged, rejected, warnings, committed_at, state, lines, keys, tenant)
            VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, 0, 0, 0, 0, ?6, 'landed', ?7, ?8, ?9)
            """);
        batchCommit = Statement("""
            UPDATE ferry_batches SET state = 'committed', rows_read = ?4, inserted = ?5, updated = ?6, unchanged = ?7, rejected = ?8, warnings = ?9, committed_at = ?10
            WHERE run_id = ?1 AND entity = ?2 AND batch_no = ?3 AND state = 'landed'
            """);
        batchInsert = Statement("""
            INSERT INTO ferry_batches (run_id, entity, batch_no, first_line, last_line, rows_read, inserted, updated, unchanged, rejected, warnings, committed_at, state, tenant)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'committed', ?13)
            """);
        // Each batch adds its counts in its own transaction, so a run that stops part-way (a fatal
        // row, a crash) still records exactly what it committed.
        entityAdd = Statement("""
            UPDATE ferry_run_entities SET rows_read = rows_read + ?1, inserted = inserted + ?2, updated = updated + ?3,
                unchanged = unchanged + ?4, rejected = rejected + ?5, warnings = warnings + ?6
            WHERE run_id = ?7 AND entity = ?8
            """);
        tenantAdd = Statement("""
            UPDATE ferry_run_tenants SET rows_read = rows_read + ?1, inserted = inserted + ?2, updated = updated + ?3,
                unchanged = unchanged + ?4, rejected = rejected + ?5, warnings = warnings + ?6
            WHERE run_id = ?7 AND entity = ?8 AND tenant = ?9
            """);
        entityComplete = Statement("UPDATE ferry_run_entities SET completed_at = ?1 WHERE run_id = ?2 AND entity = ?3");
        // An entry already there is never changed: the same legacy key always had the same UUID.
        // (Bind gives an empty text as NULL: no tenant is the empty tenant.)
        if (plan.Spec.LegacyKey is not null)
            keyMapInsert = Statement("INSERT INTO ferry_key_map (entity, tenant, legacy_key, uuid, run_id) VALUES (?1, coalesce(?2, ''), ?3, ?4, ?5) ON CONFLICT DO NOTHING");
        tenantComplete = Statement("UPDATE ferry_run_tenants SET completed_at = ?1 WHERE run_id = ?2 AND entity = ?3 AND tenant = ?4");
    }

    public static async Task<SqliteEntityLoader> CreateAsync(SqliteTarget target, long runId, EntityPlan plan, bool dryRun, CancellationToken cancellationToken)
    {
        var connection = target.Connection;
        await EnsureTableAsync(connection, plan, cancellationToken).ConfigureAwait(false);
        await EnsureStagingAsync(connection, plan.Spec.Name, cancellationToken).ConfigureAwait(false);
        var loader = new SqliteEntityLoader(connection, runId, plan);
        if (plan.Spec.Mode == LoadMode.Scd2)
            await loader.BeginHistoryAsync(target, cancellationToken).ConfigureAwait(false);
        using (var register = new SqliteStatement(connection, "INSERT OR IGNORE INTO ferry_run_entities (run_id, entity, target, mode, position) VALUES (?1, ?2, ?3, ?4, ?5)"))
            Run(register, runId, plan.Spec.Name, plan.Spec.Table, plan.Spec.Mode.ToString().ToLowerInvariant(), (long)plan.Position);
        if (plan.Tenant is not null)
            using (var registerTenant = new SqliteStatement(connection, "INSERT OR IGNORE INTO ferry_run_tenants (run_id, entity, tenant) VALUES (?1, ?2, ?3)"))
                Run(registerTenant, runId, plan.Spec.Name, plan.Tenant);
        // Batches an interrupted attempt landed but never loaded, with their rows' records: they are
        // read again from the source. (Only a landed batch has pending row records. Tenants loading at the
        // same time take turns per call, and a batch lands and loads within one call: no other tenant's
        // batch is landed now.)
        await SqliteTarget.ExecuteAsync(connection, "SAVEPOINT ferry_clear", cancellationToken).ConfigureAwait(false);
        using (var clearRows = new SqliteStatement(connection, $"DELETE FROM {Quote(RowsTable(plan.Spec.Name))} WHERE run_id = ?1 AND status = 'pending'"))
            Run(clearRows, runId);
        using (var clearBatches = new SqliteStatement(connection, "DELETE FROM ferry_batches WHERE run_id = ?1 AND entity = ?2 AND tenant IS ?3 AND state = 'landed'"))
            Run(clearBatches, runId, plan.Spec.Name, plan.Tenant);
        await SqliteTarget.ExecuteAsync(connection, "RELEASE ferry_clear", cancellationToken).ConfigureAwait(false);
        if (plan.Spec.Mode == LoadMode.Replace || dryRun)
        {
            await SqliteTarget.ExecuteAsync(connection, "SAVEPOINT ferry_entity", cancellationToken).ConfigureAwait(false);
            loader.entityOpen = true;
            if (plan.Spec.Mode == LoadMode.Replace)
                await SqliteTarget.ExecuteAsync(connection, $"DELETE FROM {Quote(plan.Spec.Table)}", cancellationToken).ConfigureAwait(false);
        }
        await using (var any = connection.CreateCommand())
        {
            any.CommandText = $"SELECT EXISTS (SELECT 1 FROM {Quote(plan.Spec.Table)})";
            loader.insertFirst = (long)(await any.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))! == 0;
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
        if (spec.Mode == LoadMode.Scd2)
        {
            await EnsureHistoryTableAsync(connection, plan, existing, cancellationToken).ConfigureAwait(false);
            return;
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
        StageId.Check(plan.Spec.Name, runId, batch.Number);
        var counts = new EntityCounts { RowsRead = batch.Rows.Count };
        var staging = plan.Spec.Staging && batch.Rows.Count > 0;
        var ownRecords = staging && Land(batch);
        FaultInjection.Point("sqlite.after-land", batch.Number);

        begin.Execute();
        try
        {
            WriteRows(batch, cancellationToken);
            var first = StageId.For(runId, batch.Number, 1);
            for (var i = 0; i < batch.Rows.Count; i++)
            {
                var row = batch.Rows[i];
                counts.Tally(row);
                if (!staging && row.Action == RowAction.Rejected)
                    Record(batch, row, i, "error");
                else if (row.RefusedByTarget && ownRecords && recorded[i])
                    Run(rowErrors, StagingJson.Issues(row.Issues, true), first + i);
                else if (row.RefusedByTarget)
                    Record(batch, row, i, "error");
                if (row.Action != RowAction.Rejected && row.CorrectsStageId is { } corrected)
                    Run(rowCorrected, runId, corrected);
                // The key map entry commits with the row it maps.
                if (keyMapInsert is not null && row.Action != RowAction.Rejected && row.Legacy is { } entry)
                    Run(keyMapInsert, plan.Spec.Name, plan.Tenant ?? "", entry.LegacyKey, entry.Uuid, runId);
            }
            if (ownRecords)
                Run(rowSettle, first, first + batch.Rows.Count - 1);
            // The batch's checkpoint: without its landed record there would be none, and a resumed
            // run would load the batch again and count it twice.
            if (staging)
            {
                if (Run(batchCommit, runId, plan.Spec.Name, (long)batch.Number,
                        counts.RowsRead, counts.Inserted, counts.Updated, counts.Unchanged, counts.Rejected, counts.Warnings, SqliteTarget.Now()) != 1)
                    throw new TargetException($"batch {batch.Number} of entity '{plan.Spec.Name}' has no landed record in ferry_batches to commit");
            }
            else
                Run(batchInsert, runId, plan.Spec.Name, (long)batch.Number, batch.FirstLine, batch.LastLine,
                    counts.RowsRead, counts.Inserted, counts.Updated, counts.Unchanged, counts.Rejected, counts.Warnings, SqliteTarget.Now(), plan.Tenant);
            Run(entityAdd, counts.RowsRead, counts.Inserted, counts.Updated, counts.Unchanged, counts.Rejected, counts.Warnings, runId, plan.Spec.Name);
            if (plan.Tenant is not null)
                Run(tenantAdd, counts.RowsRead, counts.Inserted, counts.Updated, counts.Unchanged, counts.Rejected, counts.Warnings, runId, plan.Spec.Name, plan.Tenant);
            FaultInjection.Point("sqlite.before-commit", batch.Number);
            commit.Execute();
        }
        catch
        {
            await SqliteTarget.ExecuteAsync(connection, "ROLLBACK TO ferry_batch; RELEASE ferry_batch", CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        FaultInjection.Point("sqlite.after-commit", batch.Number);
        // The next batch probes first when this one found most of its rows already there.
        var written = counts.Inserted + counts.Updated + counts.Unchanged;
        insertFirst = counts.Inserted * 2 > written || written == 0 && insertFirst;
        return counts;
    }

    /// <summary>
    /// Lands the batch and commits: its <c>landed</c> record, with every row's line and key, and a
    /// pending record of its own for each row validation rejected or warned about. Returns whether
    /// there were such rows.
    /// </summary>
    private bool Land(Batch batch)
    {
        var ownRecords = false;
        if (recorded.Length < batch.Rows.Count)
            recorded = new bool[batch.Rows.Count];
        begin.Execute();
        try
        {
            batchLand.Bind(0, runId);
            batchLand.Bind(1, plan.Spec.Name);
            batchLand.Bind(2, (long)batch.Number);
            batchLand.Bind(3, batch.FirstLine);
            batchLand.Bind(4, batch.LastLine);
            batchLand.Bind(5, SqliteTarget.Now());
            batchLand.BindUtf8(6, batchJson.Lines(batch.Rows));
            batchLand.BindUtf8(7, batchJson.Keys(batch.Rows));
            batchLand.Bind(8, plan.Tenant);
            batchLand.Execute();
            for (var i = 0; i < batch.Rows.Count; i++)
            {
                var row = batch.Rows[i];
                recorded[i] = row.Rejected || row.HasIssues;
                if (recorded[i])
                {
                    Record(batch, row, i, "pending");
                    ownRecords = true;
                }
            }
            commit.Execute();
        }
        catch
        {
            using var rollback = connection.CreateCommand();
            rollback.CommandText = "ROLLBACK TO ferry_batch; RELEASE ferry_batch";
            rollback.ExecuteNonQuery();
            throw;
        }
        return ownRecords;
    }

    /// <summary>Writes the record of its own of the <paramref name="ordinal"/>-th row (0-based) of the batch.</summary>
    private void Record(Batch batch, BatchRow row, int ordinal, string status)
    {
        rowInsert.Bind(0, StageId.For(runId, batch.Number, ordinal + 1));
        rowInsert.Bind(1, runId);
        rowInsert.Bind(2, (long)batch.Number);
        rowInsert.Bind(3, row.Line);
        rowInsert.Bind(4, row.Key);
        rowInsert.Bind(5, status);
        rowInsert.BindUtf8(6, json.Raw(batch.SourceColumns, row.Raw));
        rowInsert.Bind(7, StagingJson.Issues(row.Issues, true));
        rowInsert.Bind(8, StagingJson.Issues(row.Issues, false));
        rowInsert.Execute();
    }

    private void WriteRows(Batch batch, CancellationToken cancellationToken)
    {
        using var held = new SqliteNative.Held(connection.Handle!.DangerousGetHandle());
        if (history is not null)
        {
            WriteHistory(batch, cancellationToken);
            return;
        }
        var probed = !insertFirst && Probe(batch);
        var upsert = plan.Spec.Mode == LoadMode.Upsert;
        for (var i = 0; i < batch.Rows.Count; i++)
        {
            var current = batch.Rows[i];
            if (current.Rejected)
            {
                current.Action = RowAction.Rejected;
                continue;
            }
            if (!current.ToWrite)
                continue;
            if ((i & 1023) == 0)
                cancellationToken.ThrowIfCancellationRequested();
            var values = current.Values!;
            try
            {
                var match = probed ? matches[i] : Match.NotLookedUp;
                if (keyColumns.Length == 0)
                {
                    Execute(insert, values);
                    current.Action = RowAction.Inserted;
                    continue;
                }
                if (match is Match.NotLookedUp or Match.Missing)
                {
                    // Insert unless the key is there (a key the lookup did not recognise is found
                    // here too); only then find out how the stored row compares.
                    if (Insert(values))
                    {
                        current.Action = RowAction.Inserted;
                        continue;
                    }
                    match = LookupOne(values) switch
                    {
                        null => Match.Missing,
                        true => Match.Same,
                        false => Match.Different,
                    };
                    if (match == Match.Missing)
                    {
                        // The key index is not the one that refused the row: let the insert say what did.
                        Execute(insert, values);
                        current.Action = RowAction.Inserted;
                        continue;
                    }
                }
                if (!upsert)
                    Reject(current, "key", $"a row with key '{current.Key}' is already in {table}");
                else if (match == Match.Same)
                    current.Action = RowAction.Unchanged;
                else
                {
                    if (update is not null)
                        Execute(update, values);
                    current.Action = RowAction.Updated;
                }
            }
            catch (SqliteException ex) when (ex.SqliteErrorCode is 19 /* SQLITE_CONSTRAINT */ or 20 /* SQLITE_MISMATCH */)
            {
                // SQLite undoes just the failed statement; the batch goes on without this row.
                Reject(current, "target", $"the target refused the row: {SecretMasker.Scrub(ex.Message)}");
            }
        }
    }

    /// <summary>Inserts a row unless its key is already in the table; false when it is.</summary>
    private bool Insert(object?[] values)
    {
        if (insertNew is not null)
            return Execute(insertNew, values) > 0;
        try
        {
            Execute(insert, values);
            return true;
        }
        catch (SqliteException ex) when (ex.SqliteExtendedErrorCode is 1555 /* SQLITE_CONSTRAINT_PRIMARYKEY */ or 2067 /* SQLITE_CONSTRAINT_UNIQUE */)
        {
            return false;
        }
    }

    private static int Execute(SqliteStatement statement, object?[] values)
    {
        statement.BindValues(values);
        return statement.Execute();
    }

    private static void Reject(BatchRow row, string rule, string message)
    {
        row.Issues.Add(new ValidationIssue(Severity.Error, rule, null, message));
        row.Action = RowAction.Rejected;
        row.RefusedByTarget = true;
    }

    /// <summary>
    /// Looks up the batch's keys, <see cref="LookupChunk"/> a query, and compares each stored row
    /// with the incoming one as it is read; fills <see cref="matches"/>. A key repeated within the
    /// batch is not looked up here: each of its rows must see what the row before it wrote.
    /// </summary>
    private bool Probe(Batch batch)
    {
        if (lookupMany is null)
            return false;
        var rows = batch.Rows;
        if (matches.Length < rows.Count)
            matches = new Match[rows.Count];
        // Each key's row; a key more than one row carries is noted, and none of its rows looked up here.
        keyIndex.Clear();
        repeatedKeys.Clear();
        for (var i = 0; i < rows.Count; i++)
            if (!rows[i].Rejected && !keyIndex.TryAdd(rows[i].Key!, i))
                repeatedKeys.Add(rows[i].Key!);
        var key = keyColumns[0];
        var bound = 0;
        for (var i = 0; i < rows.Count; i++)
        {
            var current = rows[i];
            matches[i] = Match.NotLookedUp;
            if (!current.ToWrite || repeatedKeys.Count > 0 && repeatedKeys.Contains(current.Key!))
                continue;
            matches[i] = Match.Missing;
            probeKeys[bound++] = current.Values![key];
            if (bound == LookupChunk)
            {
                ReadMatches(rows, key);
                bound = 0;
            }
        }
        if (bound > 0)
        {
            Array.Clear(probeKeys, bound, LookupChunk - bound);
            ReadMatches(rows, key);
        }
        return true;
    }

    private void ReadMatches(IReadOnlyList<BatchRow> rows, int key)
    {
        var lookup = keyIndex.GetAlternateLookup<ReadOnlySpan<char>>();
        lookupMany!.BindValues(probeKeys);
        while (lookupMany.Step())
        {
            int i;
            if (lookupMany.ColumnKey(key, ref keyChars, out var length))
            {
                if (!lookup.TryGetValue(keyChars.AsSpan(0, length), out i))
                    continue;
            }
            else if (!keyIndex.TryGetValue(Mapping.RowMapper.Format(lookupMany.Column(key)), out i))
                continue;
            // A stored key that formats differently from the batch's is simply not found here; the
            // row's insert then meets it and looks it up on its own.
            if (matches[i] == Match.Missing)
                matches[i] = SameAsStored(lookupMany, rows[i].Values!) ? Match.Same : Match.Different;
        }
    }

    /// <summary>Looks the row up by its key: null when it is not there, else whether it equals the stored row.</summary>
    private bool? LookupOne(object?[] values)
    {
        lookupOne!.BindValues(values.AsSpan(0, lookupOne.ParameterCount));
        if (!lookupOne.Step())
            return null;
        var same = SameAsStored(lookupOne, values);
        lookupOne.Reset();
        return same;
    }

    private static bool SameAsStored(SqliteStatement stored, object?[] values)
    {
        for (var i = 0; i < values.Length; i++)
            if (!stored.ColumnMatches(i, values[i]))
                return false;
        return true;
    }

    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        if (history is not null)
            await CloseMissingAsync(cancellationToken).ConfigureAwait(false);
        Run(entityComplete, SqliteTarget.Now(), runId, plan.Spec.Name);
        if (plan.Tenant is not null)
            Run(tenantComplete, SqliteTarget.Now(), runId, plan.Spec.Name, plan.Tenant);
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

    /// <summary>Runs a statement with these values (storage form); returns the number of rows it changed.</summary>
    private static int Run(SqliteStatement statement, params object?[] values)
    {
        for (var i = 0; i < values.Length; i++)
            statement.Bind(i, values[i]);
        return statement.Execute();
    }
}
