using Ferry.Contracts;
using Ferry.Diagnostics;
using Ferry.Engine;
using Ferry.Manifest;
using static Ferry.Targets.Postgres.PostgresValues;

namespace Ferry.Targets.Postgres;

/// <summary>
/// An <c>scd2</c> entity: a wave of rows is copied into the work table, classified against each key's
/// current version in one statement (see docs/manifest.md, "History"), then written set by set:
/// versions corrected in place, versions closed, versions opened. <c>ferry.history_changes</c> lists
/// them, in the batch's transaction, for rollback.
/// </summary>
internal sealed partial class PostgresEntityLoader
{
    private DateTime asOf;
    private (long Run, DateTime AsOf)? laterRun; // the latest other run into the table, when later than this one: this run is late
    private bool closedLater; // the table holds a closed version that ends after the as-of time: a key without a current version may be late
    private string historySql = "";

    internal const string HistoryLedger = """
        CREATE TABLE IF NOT EXISTS ferry.history_runs (
            run_id          bigint NOT NULL,
            entity          text NOT NULL,
            as_of           timestamptz NOT NULL,
            closed          bigint,
            missing_skipped text,
            PRIMARY KEY (run_id, entity)
        );
        CREATE TABLE IF NOT EXISTS ferry.history_changes (
            change_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            run_id      bigint NOT NULL,
            entity      text NOT NULL,
            batch_no    integer NOT NULL,
            action      char(1) NOT NULL CHECK (action IN ('o', 'c', 'u')),
            version_ids bigint[] NOT NULL,
            keys        text[] NOT NULL,
            before      jsonb
        );
        CREATE INDEX IF NOT EXISTS history_changes_run ON ferry.history_changes (run_id, entity);
        """;

    private string HistoryColumns => plan.Spec.History!.Missing == MissingKeys.Delete ? ", is_deleted" : "";

    /// <summary>Creates the history table, or checks an existing one; returns the mapped columns' types.</summary>
    private async Task<Dictionary<string, string>> EnsureHistoryTableAsync(Dictionary<string, string> existing, CancellationToken cancellationToken)
    {
        var spec = plan.Spec;
        var deletes = spec.History!.Missing == MissingKeys.Delete;
        var keyList = string.Join(", ", keys.Select(c => Quote(c.Target)));
        if (existing.Count == 0)
        {
            var definitions = columns.Select(c => $"{Quote(c.Target)} {ColumnType(c.Type)}");
            await ExecuteAsync($"""
                CREATE SCHEMA IF NOT EXISTS {Quote(target.Schema)};
                CREATE TABLE IF NOT EXISTS {table} (
                    version_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    {string.Join(", ", definitions)},
                    valid_from timestamptz NOT NULL,
                    valid_to timestamptz,
                    is_current boolean NOT NULL{(deletes ? ",\n    is_deleted boolean NOT NULL DEFAULT false" : "")});
                CREATE UNIQUE INDEX IF NOT EXISTS {Quote(spec.Table + "_current")} ON {table} ({keyList}) WHERE is_current;
                CREATE INDEX IF NOT EXISTS {Quote(spec.Table + "_key")} ON {table} ({keyList}, valid_from);
                """, cancellationToken).ConfigureAwait(false);
            return columns.ToDictionary(c => c.Target, c => ColumnType(c.Type));
        }
        string[] required = ["version_id", "valid_from", "valid_to", "is_current", .. deletes ? new[] { "is_deleted" } : []];
        var missing = columns.Select(c => c.Target).Concat(required).Where(c => !existing.ContainsKey(c)).ToList();
        if (missing.Count > 0)
            throw new TargetException($"history table {target.Schema}.{spec.Table} has no column {string.Join(", ", missing)}; add it or change the mapping of entity '{spec.Name}'");
        await using var unique = NewCommand();
        unique.CommandText = """
            SELECT count(*) FROM pg_index i
            WHERE i.indrelid = (quote_ident(@schema) || '.' || quote_ident(@table))::regclass AND i.indisunique
              AND pg_get_expr(i.indpred, i.indrelid) = 'is_current'
              AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a
                   WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) = @keys
              AND i.indnkeyatts = cardinality(@keys)
            """;
        unique.Parameters.AddWithValue("schema", target.Schema);
        unique.Parameters.AddWithValue("table", spec.Table);
        unique.Parameters.AddWithValue("keys", keys.Select(c => c.Target).Order(StringComparer.Ordinal).ToArray());
        if ((long)(await unique.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))! == 0)
            throw new TargetException($"history table {target.Schema}.{spec.Table} has no unique index on ({string.Join(", ", spec.Key)}) WHERE is_current; " +
                $"entity '{spec.Name}' needs one, so that no key ever has two current versions");
        return existing;
    }

    /// <summary>Fixes the run's as-of time for the entity: the one it began with, on every resume.</summary>
    private async Task BeginHistoryAsync(CancellationToken cancellationToken)
    {
        var requested = target.Start?.AsOf is { } time ? HistoryRules.Utc(time) : (DateTime?)null;
        await ExecuteAsync("""
            INSERT INTO ferry.history_runs (run_id, entity, as_of)
            VALUES (@run, @entity, coalesce(@asOf, (SELECT started_at FROM ferry.runs WHERE run_id = @run)))
            ON CONFLICT DO NOTHING
            """, cancellationToken, ("asOf", requested)).ConfigureAwait(false);
        var recorded = await ScalarAsync<DateTime>("SELECT as_of FROM ferry.history_runs WHERE run_id = @run AND entity = @entity", cancellationToken).ConfigureAwait(false);
        if (requested is { } r && r != recorded)
            throw new TargetException($"run {runId} began with as-of time {HistoryRules.Show(recorded)} for entity '{plan.Spec.Name}'; resume it with that --as-of, or start afresh with --restart");
        asOf = recorded;
        await using var command = NewCommand();
        command.CommandText = """
            SELECT h.run_id, h.as_of FROM ferry.history_runs h
            JOIN ferry.run_entities e ON e.run_id = h.run_id AND e.entity = h.entity JOIN ferry.runs r ON r.run_id = h.run_id
            WHERE e.target = @table AND e.target_schema IS NOT DISTINCT FROM @schema AND h.run_id <> @run AND r.status <> 'rolled_back' AND h.as_of > @asOf
            ORDER BY h.as_of DESC, h.run_id DESC LIMIT 1
            """;
        command.Parameters.AddWithValue("table", plan.Spec.Table);
        command.Parameters.AddWithValue("schema", target.Schema);
        command.Parameters.AddWithValue("run", runId);
        command.Parameters.AddWithValue("asOf", asOf);
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                laterRun = (reader.GetInt64(0), reader.GetDateTime(1));
        }
        // Checked once: while this run holds the run lock its own closings end at the as-of time, never after it.
        closedLater = await ScalarAsync<bool>($"SELECT EXISTS (SELECT FROM {table} WHERE NOT is_current AND valid_to > @asOf)", cancellationToken, ("asOf", asOf)).ConfigureAwait(false);
    }

    private void BuildHistoryStatements(IReadOnlyDictionary<string, string> types)
    {
        var spec = plan.Spec.History!;
        var deletes = spec.Missing == MissingKeys.Delete;
        string From(string alias, ColumnSpec c) => $"{alias}.{Quote(c.Target)}::{types[c.Target]}";
        string Match(string stored, string incoming) => string.Join(" AND ", keys.Select(c => $"{stored}.{Quote(c.Target)} = {From(incoming, c)}"));
        string Differs(IEnumerable<ColumnSpec> set)
        {
            var list = set.ToList();
            return list.Count == 0 ? "false"
                : $"({string.Join(", ", list.Select(c => "t." + Quote(c.Target)))}) IS DISTINCT FROM ({string.Join(", ", list.Select(c => From("s", c)))})";
        }
        var tracked = columns.Where(c => spec.Tracked.Contains(c.Target)).ToList();
        var changeable = columns.Where(c => !keys.Contains(c)).ToList();
        var others = changeable.Where(c => !tracked.Contains(c)).ToList();
        var deleted = deletes ? "t.is_deleted" : "false";
        var changed = $"({deleted} OR {Differs(tracked)})";
        var latest = $"(SELECT max(coalesce(h.valid_to, h.valid_from)) FROM {table} h WHERE {Match("h", "s")})";
        var list = string.Join(", ", columns.Select(c => Quote(c.Target)));
        var sets = changeable.Select(c => $"{Quote(c.Target)} = {From("s", c)}").Concat(deletes ? ["is_deleted = false"] : []).ToList();
        string Log(string action, string from, string before = "NULL") => $"""
            INSERT INTO ferry.history_changes (run_id, entity, batch_no, action, version_ids, keys, before)
            SELECT @run, @entity, @batch, '{action}', array_agg(version_id ORDER BY version_id), array_agg(k ORDER BY version_id), {before}
            FROM {from} HAVING count(*) > 0;
            """;
        // One command: classify each row of the wave against its key's current version; keep the images of
        // the versions about to be corrected in place, correct them; close the versions that end; open the
        // new ones (after the closing, for the one-current-version index); report each row's fate.
        // The current version of each row's key is found through the one-current-version index, a probe per
        // row (LATERAL): a join the planner may choose instead reads the whole history table for every wave.
        // A key without a current version is late only if a version of it ends after the as-of time, which
        // the table cannot hold unless `closedLater` said so when the entity began.
        historySql = $"""
            UPDATE {work} s SET cur = t.version_id, act = CASE
                      WHEN t.version_id IS NULL THEN CASE WHEN @late OR (@closedLater AND {latest} > @asOf) THEN 'late' ELSE 'new' END
                      WHEN @late THEN CASE WHEN NOT {changed} THEN 'same' ELSE 'late' END
                      WHEN t.valid_from > @asOf THEN CASE WHEN {changed} THEN 'late' ELSE 'same' END
                      WHEN {changed} THEN CASE WHEN t.valid_from = @asOf THEN 'fix' WHEN {deleted} THEN 'reopen' ELSE 'version' END
                      WHEN {Differs(others)} THEN 'type1'
                      ELSE 'same' END
            FROM {work} w LEFT JOIN LATERAL (SELECT * FROM {table} c WHERE {Match("c", "w")} AND c.is_current OFFSET 0) t ON true
            WHERE s.ctid = w.ctid;
            ANALYZE {work} (act, cur);
            {Log("u", $"(SELECT t.version_id, {KeyText("t", keys)} AS k, to_jsonb(t) AS image FROM {table} t JOIN {work} w ON w.cur = t.version_id WHERE w.act IN ('fix', 'type1')) v",
                "jsonb_agg(image ORDER BY version_id)")}
            {(sets.Count == 0 ? "" : $"UPDATE {table} t SET {string.Join(", ", sets)} FROM {work} s WHERE s.cur = t.version_id AND s.act IN ('fix', 'type1');")}
            WITH closed AS (
                UPDATE {table} t SET valid_to = @asOf, is_current = false FROM {work} s WHERE s.cur = t.version_id AND s.act IN ('version', 'reopen')
                RETURNING t.version_id, {KeyText("t", keys)} AS k)
            {Log("c", "closed")}
            WITH opened AS (
                INSERT INTO {table} AS t ({list}, valid_from, is_current{HistoryColumns})
                SELECT {string.Join(", ", columns.Select(c => From("s", c)))}, @asOf, true{(deletes ? ", false" : "")} FROM {work} s
                WHERE s.act IN ('new', 'version', 'reopen') ORDER BY s.ord
                RETURNING t.version_id, {KeyText("t", keys)} AS k)
            {Log("o", "opened")}
            SELECT s.ord, s.act, CASE WHEN s.act = 'late' THEN {latest} END AS latest, s.cur IS NOT NULL AS current FROM {work} s;
            """;
    }

    private async Task WriteHistoryAsync(int batch, List<BatchRow> rows, CancellationToken cancellationToken)
    {
        await using var command = NewCommand();
        command.CommandText = historySql;
        AddRunParameters(command);
        command.Parameters.AddWithValue("batch", batch);
        command.Parameters.AddWithValue("asOf", asOf);
        command.Parameters.AddWithValue("late", laterRun is not null);
        command.Parameters.AddWithValue("closedLater", closedLater);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var row = rows[reader.GetInt32(0)];
            switch (reader.GetString(1))
            {
                case "new" or "reopen":
                    row.Action = RowAction.Inserted;
                    break;
                case "version" or "fix" or "type1":
                    row.Action = RowAction.Updated;
                    break;
                case "same":
                    row.Action = RowAction.Unchanged;
                    break;
                default:
                    row.Issues.Add(new ValidationIssue(Severity.Error, "history", null, laterRun is { } later
                        ? HistoryRules.LateRunMessage(row.Key, HistoryRules.Show(asOf), later.Run, HistoryRules.Show(later.AsOf))
                        : HistoryRules.LateMessage(row.Key, HistoryRules.Show(asOf), HistoryRules.Show(reader.GetDateTime(2)), reader.GetBoolean(3))));
                    row.Action = RowAction.Rejected;
                    row.RefusedByTarget = true;
                    row.Values = null;
                    break;
            }
        }
    }

    /// <summary>
    /// At the end of the entity, closes (or, with <c>missing: delete</c>, closes and follows with a
    /// deleted version) every current version whose key none of the run's rows had, in one
    /// transaction with the entity's completion. The keys the run saw are its committed batch
    /// records' keys, so a resumed run knows those of its earlier attempts.
    /// </summary>
    private async Task CloseMissingAsync(CancellationToken cancellationToken)
    {
        var spec = plan.Spec.History!;
        var deletes = spec.Missing == MissingKeys.Delete;
        Begin("ferry_missing");
        try
        {
            var unknownKeys = await ScalarAsync<bool>("""
                SELECT EXISTS (SELECT FROM ferry.batches b, unnest(b.keys) k WHERE b.run_id = @run AND b.entity = @entity AND b.state = 'committed' AND k IS NULL)
                """, cancellationToken).ConfigureAwait(false);
            var skipped = HistoryRules.MissingSkipped(spec, target.Start, unknownKeys, laterRun?.Run);
            long? closed = null;
            if (skipped is null)
            {
                var list = string.Join(", ", columns.Select(c => Quote(c.Target)));
                closed = await ScalarAsync<long>($"""
                    WITH seen AS (
                        SELECT DISTINCT k FROM ferry.batches b, unnest(b.keys) k
                        WHERE b.run_id = @run AND b.entity = @entity AND b.state = 'committed' AND k IS NOT NULL
                    ), closed AS (
                        UPDATE {table} t SET valid_to = @asOf, is_current = false
                        WHERE t.is_current{(deletes ? " AND NOT t.is_deleted" : "")} AND t.valid_from <= @asOf
                          AND NOT EXISTS (SELECT FROM seen WHERE seen.k = {KeyText("t", keys)})
                        RETURNING t.version_id, {KeyText("t", keys)} AS k
                    ), logged AS (
                        INSERT INTO ferry.history_changes (run_id, entity, batch_no, action, version_ids, keys)
                        SELECT @run, @entity, 0, 'c', array_agg(version_id ORDER BY version_id), array_agg(k ORDER BY version_id) FROM closed HAVING count(*) > 0
                    )
                    SELECT count(*) FROM closed
                    """, cancellationToken, ("asOf", asOf)).ConfigureAwait(false);
                if (deletes && closed > 0)
                    await ExecuteAsync($"""
                        WITH opened AS (
                            INSERT INTO {table} AS t ({list}, valid_from, is_current, is_deleted)
                            SELECT {string.Join(", ", columns.Select(c => "o." + Quote(c.Target)))}, @asOf, true, true FROM {table} o
                            WHERE o.version_id IN (SELECT unnest(version_ids) FROM ferry.history_changes
                                                   WHERE run_id = @run AND entity = @entity AND batch_no = 0 AND action = 'c')
                            RETURNING t.version_id, {KeyText("t", keys)} AS k)
                        INSERT INTO ferry.history_changes (run_id, entity, batch_no, action, version_ids, keys)
                        SELECT @run, @entity, 0, 'o', array_agg(version_id ORDER BY version_id), array_agg(k ORDER BY version_id) FROM opened HAVING count(*) > 0
                        """, cancellationToken, ("asOf", asOf)).ConfigureAwait(false);
            }
            await ExecuteAsync("""
                UPDATE ferry.history_runs SET closed = @closed, missing_skipped = @skipped WHERE run_id = @run AND entity = @entity;
                UPDATE ferry.run_entities SET completed_at = now() WHERE run_id = @run AND entity = @entity;
                """, cancellationToken, ("closed", closed), ("skipped", skipped)).ConfigureAwait(false);
            FaultInjection.Point("postgres.missing-before-commit", 0);
            await CommitAsync("ferry_missing", cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await AbortAsync("ferry_missing").ConfigureAwait(false);
            throw;
        }
    }
}
