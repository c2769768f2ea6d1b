using System.Globalization;
using System.Text.Json;
using Ferry.Diagnostics;
using Ferry.Engine;
using Ferry.Manifest;
using Microsoft.Data.Sqlite;
using static Ferry.Targets.Sqlite.SqliteLedgerSchema;

namespace Ferry.Targets.Sqlite;

/// <summary>
/// An <c>scd2</c> entity: each row is compared with its key's current version, which it leaves alone,
/// corrects in place or closes for a new one (see docs/manifest.md, "History"). Every version a batch
/// opens, closes or changes is listed in <c>ferry_history_changes</c> in the batch's transaction, so
/// that the run can be rolled back exactly.
/// </summary>
internal sealed partial class SqliteEntityLoader
{
    private History? history;
    private RunStart? startOfRun;

    /// <summary>The statements and the run's as-of time of an scd2 entity, and what the batch changed.</summary>
    private sealed class History
    {
        public required HistorySpec Spec { get; init; }
        public required string AsOf { get; init; }
        /// <summary>The latest other run into the table, when its as-of time is later than this run's: this run is late.</summary>
        public required (long Run, string AsOf)? Later { get; init; }
        public required int[] Tracked { get; init; }
        public required int[] Others { get; init; }
        public required SqliteStatement Current, Latest, Open, Close, Image, Correct, Log;
        public readonly Changes Opened = new(), Closed = new(), Corrected = new();
    }

    /// <summary>The versions one kind of change touched in a batch, with their keys (and before-images).</summary>
    private sealed class Changes
    {
        public readonly List<long> Versions = [];
        public readonly List<string?> Keys = [];
        public readonly List<string> Images = [];

        public void Add(long version, string? key)
        {
            Versions.Add(version);
            Keys.Add(key);
        }

        public void Clear()
        {
            Versions.Clear();
            Keys.Clear();
            Images.Clear();
        }
    }

    internal const string HistoryLedger = """
        CREATE TABLE IF NOT EXISTS ferry_history_runs (
            run_id          INTEGER NOT NULL,
            entity          TEXT NOT NULL,
            as_of           TEXT NOT NULL,  -- valid_from of the versions the run opens, valid_to of those it closes
            closed          INTEGER,        -- current versions closed for keys absent from the run (NULL: not done yet)
            missing_skipped TEXT,           -- why absent keys were not closed
            PRIMARY KEY (run_id, entity)
        );
        -- One record per batch and kind of change: 'o' versions opened, 'c' versions closed (valid_to and
        -- is_current set), 'u' versions changed in place, with their images from before (a JSON array).
        -- Batch 0 is the closing of absent keys at the end of the entity.
        CREATE TABLE IF NOT EXISTS ferry_history_changes (
            run_id      INTEGER NOT NULL,
            entity      TEXT NOT NULL,
            batch_no    INTEGER NOT NULL,
            action      TEXT NOT NULL CHECK (action IN ('o', 'c', 'u')),
            version_ids TEXT NOT NULL,  -- JSON array of version_id
            keys        TEXT NOT NULL,  -- JSON array of business keys, in the same order
            before      TEXT
        );
        CREATE INDEX IF NOT EXISTS ix_ferry_history_changes_run ON ferry_history_changes (run_id, entity);
        """;

    /// <summary>Creates the history table: the mapped columns, the validity columns and the one-current-version index.</summary>
    /// <param name="existing">The table's columns (none: it does not exist yet).</param>
    private static async Task EnsureHistoryTableAsync(SqliteConnection connection, EntityPlan plan, HashSet<string> existing, CancellationToken cancellationToken)
    {
        var spec = plan.Spec;
        var deletes = spec.History!.Missing == MissingKeys.Delete;
        var keys = string.Join(", ", spec.Key.Select(Quote));
        if (existing.Count == 0)
        {
            var columns = plan.Mapper.Columns.Select(c => $"{Quote(c.Target)} {SqliteValues.ColumnType(c.Type)}");
            await SqliteTarget.ExecuteAsync(connection, $"""
                CREATE TABLE {Quote(spec.Table)} (
                    version_id INTEGER PRIMARY KEY AUTOINCREMENT,
                    {string.Join(", ", columns)},
                    valid_from TEXT NOT NULL,
                    valid_to TEXT,
                    is_current INTEGER NOT NULL{(deletes ? ",\n    is_deleted INTEGER NOT NULL DEFAULT 0" : "")});
                CREATE UNIQUE INDEX {Quote("ux_" + spec.Table + "_current")} ON {Quote(spec.Table)} ({keys}) WHERE is_current;
                CREATE INDEX {Quote("ix_" + spec.Table + "_key")} ON {Quote(spec.Table)} ({keys}, valid_from);
                """, cancellationToken).ConfigureAwait(false);
            return;
        }
        string[] required = ["version_id", "valid_from", "valid_to", "is_current", .. deletes ? new[] { "is_deleted" } : []];
        var missing = plan.Mapper.Columns.Select(c => c.Target).Concat(required).Where(c => !existing.Contains(c)).ToList();
        if (missing.Count > 0)
            throw new TargetException($"history table {spec.Table} has no column {string.Join(", ", missing)}; add it or change the mapping of entity '{spec.Name}'");
        if (!await HasCurrentIndexAsync(connection, spec, cancellationToken).ConfigureAwait(false))
            throw new TargetException($"history table {spec.Table} has no unique index on ({string.Join(", ", spec.Key)}) WHERE is_current; " +
                $"entity '{spec.Name}' needs one, so that no key ever has two current versions");
    }

    private static async Task<bool> HasCurrentIndexAsync(SqliteConnection connection, EntitySpec spec, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT il.name, group_concat(ii.name, char(31)), (SELECT sql FROM sqlite_master m WHERE m.name = il.name)
            FROM pragma_index_list($table) il JOIN pragma_index_info(il.name) ii
            WHERE il."unique" = 1 AND il.partial = 1 GROUP BY il.name
            """;
        command.Parameters.AddWithValue("$table", spec.Table);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var wanted = spec.Key.Order(StringComparer.OrdinalIgnoreCase).ToList();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            if (reader.GetString(1).Split('\u001F').Order(StringComparer.OrdinalIgnoreCase).SequenceEqual(wanted, StringComparer.OrdinalIgnoreCase)
                && reader.GetString(2).Replace(" ", "", StringComparison.Ordinal).EndsWith("WHEREis_current", StringComparison.OrdinalIgnoreCase))
                return true;
        return false;
    }

    /// <summary>Readies the history statements and fixes the run's as-of time for the entity (kept across resumes).</summary>
    private async Task BeginHistoryAsync(SqliteTarget target, CancellationToken cancellationToken)
    {
        await SqliteTarget.ExecuteAsync(connection, HistoryLedger, cancellationToken).ConfigureAwait(false);
        startOfRun = target.Start;
        var spec = plan.Spec.History!;
        var requested = target.Start?.AsOf is { } asOf ? HistoryRules.SqliteText(asOf) : null;
        string? recorded;
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT as_of FROM ferry_history_runs WHERE run_id = $run AND entity = $entity";
            command.Parameters.AddWithValue("$run", runId);
            command.Parameters.AddWithValue("$entity", plan.Spec.Name);
            recorded = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
        }
        if (recorded is not null && requested is not null && recorded != requested)
            throw new TargetException($"run {runId} began with as-of time {recorded}Z for entity '{plan.Spec.Name}'; resume it with that --as-of, or start afresh with --restart");
        if (recorded is null)
        {
            recorded = requested ?? await StartedAtAsync(cancellationToken).ConfigureAwait(false);
            await using var command = connection.CreateCommand();
            command.CommandText = "INSERT INTO ferry_history_runs (run_id, entity, as_of) VALUES ($run, $entity, $asOf)";
            command.Parameters.AddWithValue("$run", runId);
            command.Parameters.AddWithValue("$entity", plan.Spec.Name);
            command.Parameters.AddWithValue("$asOf", recorded);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        (long, string)? later = null;
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = """
                SELECT h.run_id, h.as_of FROM ferry_history_runs h
                JOIN ferry_run_entities e ON e.run_id = h.run_id AND e.entity = h.entity JOIN ferry_runs r ON r.run_id = h.run_id
                WHERE e.target = $table AND h.run_id <> $run AND r.status <> 'rolled_back' AND h.as_of > $asOf
                ORDER BY h.as_of DESC, h.run_id DESC LIMIT 1
                """;
            command.Parameters.AddWithValue("$table", table);
            command.Parameters.AddWithValue("$run", runId);
            command.Parameters.AddWithValue("$asOf", recorded);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                later = (reader.GetInt64(0), reader.GetString(1));
        }

        var columns = plan.Mapper.Columns;
        string Col(int i) => Quote(columns[i].Target);
        var t = Quote(table);
        var deletes = spec.Missing == MissingKeys.Delete;
        var keyMatch = string.Join(" AND ", keyColumns.Select((c, j) => $"{Col(c)} = ?{j + 1}"));
        var tracked = spec.Tracked.Select(name => columns.ToList().FindIndex(c => c.Target == name)).ToArray();
        var others = Enumerable.Range(0, columns.Count).Where(i => !keyColumns.Contains(i) && !tracked.Contains(i)).ToArray();
        var changeable = Enumerable.Range(0, columns.Count).Where(i => !keyColumns.Contains(i)).ToArray();
        var image = string.Join(", ", changeable.Select(i => $"'{columns[i].Target.Replace("'", "''", StringComparison.Ordinal)}', {Col(i)}"))
            + (deletes ? ", 'is_deleted', is_deleted" : "");
        history = new History
        {
            Spec = spec,
            AsOf = recorded,
            Later = later,
            Tracked = tracked,
            Others = others,
            // Parameters ?1..?k are the key's columns; in Open and Correct, ?1..?n are the row's columns in mapping order.
            Current = Statement($"SELECT version_id, valid_from, {(deletes ? "is_deleted" : "0")}, {string.Join(", ", columns.Select(c => Quote(c.Target)))} FROM {t} WHERE {keyMatch} AND is_current"),
            Latest = Statement($"SELECT max(coalesce(valid_to, valid_from)) FROM {t} WHERE {keyMatch}"),
            Open = Statement($"INSERT INTO {t} ({string.Join(", ", columns.Select(c => Quote(c.Target)))}, valid_from, valid_to, is_current{(deletes ? ", is_deleted" : "")}) " +
                             $"VALUES ({string.Join(", ", Enumerable.Range(1, columns.Count).Select(i => "?" + i))}, ?{columns.Count + 1}, NULL, 1{(deletes ? ", 0" : "")})"),
            Close = Statement($"UPDATE {t} SET valid_to = ?1, is_current = 0 WHERE version_id = ?2"),
            Image = Statement($"SELECT json_object({image}) FROM {t} WHERE version_id = ?1"),
            Correct = Statement($"UPDATE {t} SET {string.Join(", ", changeable.Select(i => $"{Col(i)} = ?{i + 1}").Concat(deletes ? ["is_deleted = 0"] : []))} WHERE version_id = ?{columns.Count + 1}"),
            Log = Statement("INSERT INTO ferry_history_changes (run_id, entity, batch_no, action, version_ids, keys, before) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        };
    }

    private async Task<string> StartedAtAsync(CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT started_at FROM ferry_runs WHERE run_id = $run";
        command.Parameters.AddWithValue("$run", runId);
        var text = (string)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        return HistoryRules.SqliteText(DateTime.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal));
    }

    /// <summary>
    /// Writes a batch's rows into the history, one at a time in source order, so that a key repeated
    /// within the batch meets the version its earlier row left; then lists what changed.
    /// </summary>
    private void WriteHistory(Batch batch, CancellationToken cancellationToken)
    {
        var h = history!;
        h.Opened.Clear();
        h.Closed.Clear();
        h.Corrected.Clear();
        for (var i = 0; i < batch.Rows.Count; i++)
        {
            var row = batch.Rows[i];
            if (row.Rejected)
            {
                row.Action = RowAction.Rejected;
                continue;
            }
            if ((i & 1023) == 0)
                cancellationToken.ThrowIfCancellationRequested();
            try
            {
                WriteVersion(h, row);
            }
            catch (SqliteException ex) when (ex.SqliteErrorCode is 19 /* SQLITE_CONSTRAINT */ or 20 /* SQLITE_MISMATCH */)
            {
                Reject(row, "target", $"the target refused the row: {SecretMasker.Scrub(ex.Message)}");
            }
        }
        LogChanges(batch.Number, h);
    }

    private void WriteVersion(History h, BatchRow row)
    {
        var values = row.Values!;
        BindKey(h.Current, values);
        if (h.Later is { } later)
        {
            // A late run: a row may confirm its key's current version, never change the history.
            var confirms = h.Current.Step() && (long)h.Current.Column(2) == 0 && Matches(h.Tracked, values);
            h.Current.Reset();
            if (confirms)
                row.Action = RowAction.Unchanged;
            else
                Reject(row, "history", HistoryRules.LateRunMessage(row.Key, h.AsOf + "Z", later.Run, later.AsOf + "Z"));
            return;
        }
        if (!h.Current.Step())
        {
            // No current version: a new key, or one that was closed. Its history must end before the new version begins.
            BindKey(h.Latest, values);
            h.Latest.Step();
            var latest = h.Latest.Column(0) as string;
            h.Latest.Reset();
            if (latest is not null && string.CompareOrdinal(latest, h.AsOf) > 0)
            {
                Reject(row, "history", HistoryRules.LateMessage(row.Key, h.AsOf + "Z", latest + "Z", current: false));
                return;
            }
            OpenVersion(h, row);
            row.Action = RowAction.Inserted;
            return;
        }
        var version = (long)h.Current.Column(0);
        var validFrom = (string)h.Current.Column(1);
        var deleted = (long)h.Current.Column(2) != 0;
        var trackedSame = !deleted && Matches(h.Tracked, values);
        var othersSame = Matches(h.Others, values);
        h.Current.Reset();
        var order = string.CompareOrdinal(validFrom, h.AsOf);
        if (order > 0)
        {
            // An older file: what its row says of the tracked columns is history the table has moved past.
            if (trackedSame)
                row.Action = RowAction.Unchanged;
            else
                Reject(row, "history", HistoryRules.LateMessage(row.Key, h.AsOf + "Z", validFrom + "Z", current: true));
            return;
        }
        if (trackedSame && othersSame)
        {
            row.Action = RowAction.Unchanged;
            return;
        }
        if (trackedSame || order == 0)
        {
            // Only untracked columns changed (type 1), or the version began at this very as-of time (a
            // corrected file for the same date): the current version is corrected in place.
            h.Image.Bind(0, version);
            h.Image.Step();
            h.Corrected.Images.Add((string)h.Image.Column(0));
            h.Image.Reset();
            h.Correct.BindValues(values);
            h.Correct.Bind(values.Length, version);
            h.Correct.Execute();
            h.Corrected.Add(version, row.Key);
            row.Action = RowAction.Updated;
            return;
        }
        h.Close.Bind(0, h.AsOf);
        h.Close.Bind(1, version);
        h.Close.Execute();
        h.Closed.Add(version, row.Key);
        OpenVersion(h, row);
        // A key back from deletion counts as inserted: it had no live version.
        row.Action = deleted ? RowAction.Inserted : RowAction.Updated;
    }

    private bool Matches(int[] columns, object?[] values)
    {
        foreach (var i in columns)
            if (!history!.Current.ColumnMatches(3 + i, values[i]))
                return false;
        return true;
    }

    private void BindKey(SqliteStatement statement, object?[] values)
    {
        for (var j = 0; j < keyColumns.Length; j++)
            statement.Bind(j, SqliteValues.ToStorage(values[keyColumns[j]]));
    }

    private void OpenVersion(History h, BatchRow row)
    {
        h.Open.BindValues(row.Values!);
        h.Open.Bind(row.Values!.Length, h.AsOf);
        h.Open.Execute();
        h.Opened.Add(SQLitePCL.raw.sqlite3_last_insert_rowid(connection.Handle), row.Key);
    }

    /// <summary>Lists a batch's changes in <c>ferry_history_changes</c>, one record per kind.</summary>
    private void LogChanges(int batchNo, History h)
    {
        void Log(string action, Changes changes)
        {
            if (changes.Versions.Count == 0)
                return;
            Run(h.Log, runId, plan.Spec.Name, (long)batchNo, action,
                "[" + string.Join(",", changes.Versions.Select(v => v.ToString(CultureInfo.InvariantCulture))) + "]",
                JsonSerializer.Serialize(changes.Keys),
                changes.Images.Count > 0 ? "[" + string.Join(",", changes.Images) + "]" : null);
        }
        Log("c", h.Closed);
        Log("u", h.Corrected);
        Log("o", h.Opened);
    }

    /// <summary>
    /// At the end of the entity, closes (or, with <c>missing: delete</c>, closes and follows with a
    /// deleted version) every current version whose key none of the run's rows had, in one
    /// transaction with the entity's completion. The keys the run saw are its committed batch
    /// records' keys, so a resumed run knows those of its earlier attempts.
    /// </summary>
    private async Task CloseMissingAsync(CancellationToken cancellationToken)
    {
        var h = history!;
        await SqliteTarget.ExecuteAsync(connection, "SAVEPOINT ferry_missing", cancellationToken).ConfigureAwait(false);
        try
        {
            long closed = 0;
            bool unknownKeys;
            await using (var command = connection.CreateCommand())
            {
                command.CommandText = """
                    SELECT EXISTS (SELECT 1 FROM ferry_batches b, json_each(b.keys) k
                                   WHERE b.run_id = $run AND b.entity = $entity AND b.state = 'committed' AND k.type = 'null')
                    """;
                command.Parameters.AddWithValue("$run", runId);
                command.Parameters.AddWithValue("$entity", plan.Spec.Name);
                unknownKeys = (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))! != 0;
            }
            var skipped = HistoryRules.MissingSkipped(h.Spec, startOfRun, unknownKeys, h.Later?.Run);
            if (skipped is null)
                closed = CloseAbsentKeys(h);
            await using (var record = connection.CreateCommand())
            {
                record.CommandText = "UPDATE ferry_history_runs SET closed = $closed, missing_skipped = $skipped WHERE run_id = $run AND entity = $entity";
                record.Parameters.AddWithValue("$closed", skipped is null ? closed : DBNull.Value);
                record.Parameters.AddWithValue("$skipped", (object?)skipped ?? DBNull.Value);
                record.Parameters.AddWithValue("$run", runId);
                record.Parameters.AddWithValue("$entity", plan.Spec.Name);
                await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            Run(entityComplete, SqliteTarget.Now(), runId, plan.Spec.Name);
            FaultInjection.Point("sqlite.missing-before-commit", 0);
            await SqliteTarget.ExecuteAsync(connection, "RELEASE ferry_missing", cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await SqliteTarget.ExecuteAsync(connection, "ROLLBACK TO ferry_missing; RELEASE ferry_missing", CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    private long CloseAbsentKeys(History h)
    {
        var columns = plan.Mapper.Columns;
        var t = Quote(table);
        var keyText = string.Join(" || char(31) || ", keyColumns.Select(i => $"CAST({Quote(columns[i].Target)} AS TEXT)"));
        var deletes = h.Spec.Missing == MissingKeys.Delete;
        var absent = new List<(long Version, string Key)>();
        using (var find = new SqliteStatement(connection, $"""
            SELECT version_id, {keyText} FROM {t}
            WHERE is_current{(deletes ? " AND NOT is_deleted" : "")} AND valid_from <= ?1
              AND {keyText} NOT IN (SELECT k.value FROM ferry_batches b, json_each(b.keys) k
                                    WHERE b.run_id = ?2 AND b.entity = ?3 AND b.state = 'committed' AND k.type = 'text')
            """))
        {
            find.Bind(0, h.AsOf);
            find.Bind(1, runId);
            find.Bind(2, plan.Spec.Name);
            while (find.Step())
                absent.Add(((long)find.Column(0), (string)find.Column(1)));
        }
        h.Opened.Clear();
        h.Closed.Clear();
        h.Corrected.Clear();
        var list = string.Join(", ", columns.Select(c => Quote(c.Target)));
        using var follow = deletes
            ? new SqliteStatement(connection, $"INSERT INTO {t} ({list}, valid_from, valid_to, is_current, is_deleted) SELECT {list}, ?1, NULL, 1, 1 FROM {t} WHERE version_id = ?2")
            : null;
        foreach (var (version, key) in absent)
        {
            h.Close.Bind(0, h.AsOf);
            h.Close.Bind(1, version);
            h.Close.Execute();
            h.Closed.Add(version, key);
            if (follow is null)
                continue;
            follow.Bind(0, h.AsOf);
            follow.Bind(1, version);
            follow.Execute();
            h.Opened.Add(SQLitePCL.raw.sqlite3_last_insert_rowid(connection.Handle), key);
        }
        LogChanges(0, h);
        return absent.Count;
    }
}
