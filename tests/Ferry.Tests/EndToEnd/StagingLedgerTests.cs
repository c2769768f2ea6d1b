using System.Globalization;
using System.Text.Json;
using Ferry.Tests.Postgres;
using Ferry.Tests.Support;

namespace Ferry.Tests.EndToEnd;

/// <summary>
/// How a SQLite target stages a batch: one ledger record (landed, then committed) with every row's
/// line and key, a record of its own for each rejected or warned row, computed stage ids, and the
/// <c>ferry_stage_&lt;entity&gt;</c> view over both; and that a run killed at any point of a batch
/// resumes to exactly what an uninterrupted run gives.
/// </summary>
public class StagingLedgerTests
{
    private const int BatchSize = 50;
    private const int KillBatch = 3;
    private const int SigKill = 137;
    private const string Stage = Foi.Stage;

    /// <summary>The FOI manifest without its C# check (a new ferry process would spend seconds compiling it), with a warning rule.</summary>
    private static string Manifest(int batchSize = BatchSize, string mode = "upsert") =>
        string.Join('\n', Foi.Manifest(mode: mode, batchSize: batchSize,
                extraRules: "      - { column: summary, regex: '^Request', severity: warning, message: summary edited by hand }")
            .Split('\n').Where(l => !l.Contains("check:", StringComparison.Ordinal) && !l.Contains("message: due date", StringComparison.Ordinal)));

    private static string First => Foi.Csv(Foi.Rows(1, 200));

    /// <summary>Inserts, updates (with a warning), unchanged rows, rejects, and a duplicate late in the file that only a run that read the whole file again catches.</summary>
    private static string Second()
    {
        var lines = new List<string>();
        for (var i = 1; i <= 350; i++)
        {
            if (i == 330)
                lines.Add(Foi.Row(150, summary: "a late duplicate of line 151")); // unique: rejected
            else if (i % 97 == 0)
                lines.Add(Foi.Row(i, status: "lost"));
            else if (i <= 200 && i % 4 == 0)
                lines.Add(Foi.Row(i, summary: $"Updated summary {i}")); // a warning; the row loads
            else
                lines.Add(Foi.Row(i));
        }
        return Foi.Csv(lines);
    }

    /// <summary>Everything a run left in the target and its ledger, to compare two runs of the same files.</summary>
    private static string Image(Workspace ws, long run) => string.Join("\n---\n",
        Foi.Dump(ws, "SELECT * FROM foi_request ORDER BY reference"),
        Foi.Dump(ws, $"SELECT rows_read, inserted, updated, unchanged, rejected, warnings FROM ferry_run_entities WHERE run_id = {run}"),
        Foi.Dump(ws, $"SELECT batch_no, first_line, last_line, rows_read, inserted, updated, unchanged, rejected, warnings, state, lines, keys FROM ferry_batches WHERE run_id = {run} ORDER BY batch_no"),
        Foi.Dump(ws, $"SELECT stage_id, batch_no, line, business_key, status, raw, errors, warnings, resolved_by_run FROM {Stage} WHERE run_id = {run} ORDER BY stage_id"));

    private static async Task<string> UninterruptedImage()
    {
        using var ws = new Workspace();
        ws.Write("ferry.yaml", Manifest());
        ws.Write("data/requests.csv", First);
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        ws.Write("data/requests.csv", Second());
        Assert.Equal(3, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        return Image(ws, 2);
    }

    [Fact]
    public async Task A_batch_is_one_ledger_record_and_only_rejected_and_warned_rows_have_a_record_of_their_own()
    {
        using var ws = new Workspace();
        ws.Write("ferry.yaml", Manifest());
        ws.Write("data/requests.csv", First);
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        ws.Write("data/requests.csv", Second());

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Equal(new Counts(350, 148, 50, 148, 4), Foi.LedgerCounts(ws, 2));
        // Seven committed batch records, each with its rows' lines and keys in batch order.
        var batches = ws.Query(Foi.Db, "SELECT batch_no, state, first_line, last_line, lines, keys FROM ferry_batches WHERE run_id = 2 ORDER BY batch_no");
        Assert.Equal(7, batches.Count);
        Assert.All(batches, b => Assert.Equal("committed", b["state"]));
        var lines = JsonSerializer.Deserialize<long[]>((string)batches[0]["lines"]!)!;
        Assert.Equal(Enumerable.Range(2, BatchSize).Select(l => (long)l), lines);
        var keys = JsonSerializer.Deserialize<string?[]>((string)batches[1]["keys"]!)!;
        Assert.Equal(BatchSize, keys.Length);
        Assert.Equal(Foi.Reference(51), keys[0]);
        Assert.Null(keys[96 - 50]); // line 98 is request 97, whose status is rejected: a rejected row has no key
        // Records of their own: the four rejected rows and the 50 warned ones (the late duplicate is both), nothing else.
        Assert.Equal(4 + 50, Foi.Count(ws, $"SELECT count(*) FROM {Stage}_rows WHERE run_id = 2"));
        Assert.Equal(0, Foi.Count(ws, $"SELECT count(*) FROM {Stage}_rows WHERE run_id = 2 AND raw IS NULL"));

        // The view: every row once, with the statuses of old, raw values only where kept.
        var stage = Foi.StageRows(ws, 2);
        Assert.Equal(350, stage.Count);
        Assert.Equal(Enumerable.Range(2, 350).Select(l => (long)l), stage.Select(s => s.Line));
        Assert.Equal(346, stage.Count(s => s.Status == "imported"));
        Assert.Equal([98L, 195L, 292L, 331L], stage.Where(s => s.Status == "error").Select(s => s.Line));
        Assert.All(stage.Where(s => s.Status == "error" || s.Warnings is not null), s => Assert.NotNull(s.Raw));
        Assert.Equal(4 + 50, stage.Count(s => s.Raw is not null));
        var warned = stage.Single(s => s.Line == 5);
        Assert.Equal(("imported", Foi.Reference(4)), (warned.Status, warned.BusinessKey));
        Assert.Equal(["regex"], Foi.Rules(warned.Warnings));
        Assert.Equal(Foi.Reference(7), stage.Single(s => s.Line == 8).BusinessKey);

        // Stage ids are computed: run * 2^40 + batch * 2^20 + the row's 1-based place in its batch.
        Assert.All(stage, s => Assert.Equal((2L << 40) + ((s.Line - 2) / BatchSize + 1 << 20) + (s.Line - 2) % BatchSize + 1, s.StageId));
    }

    [Fact]
    public async Task The_view_gives_each_row_its_physical_line_when_records_span_lines()
    {
        using var ws = new Workspace();
        var rows = Foi.Rows(1, 12).ToList();
        rows[2] = Foi.Row(3, summary: "\"spans\nthree\nlines\"");
        rows[9] = Foi.Row(10, summary: "\"spans\ntwo\"");
        ws.Write("data/requests.csv", Foi.Csv(rows));
        ws.Write("ferry.yaml", Manifest(batchSize: 5));

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 0, run.ToString());
        // Lines 2-3, then request 3 on lines 4-6, 7-12, request 10 on 13-14, then 15-16.
        long[] expected = [2, 3, 4, 7, 8, 9, 10, 11, 12, 13, 15, 16];
        Assert.Equal(expected, Foi.StageRows(ws, 1).Select(s => s.Line));
        Assert.Equal(Enumerable.Range(1, 12).Select(Foi.Reference), Foi.StageRows(ws, 1).Select(s => s.BusinessKey));
    }

    [Theory]
    [InlineData("sqlite.after-land", KillBatch - 1, true)]     // the batch record landed, its load not begun
    [InlineData("sqlite.before-commit", KillBatch - 1, true)]  // everything written, the commit not made
    [InlineData("sqlite.after-commit", KillBatch, false)]      // committed, the process dies before going on
    public async Task A_run_killed_at_a_point_of_a_batch_resumes_to_exactly_what_an_uninterrupted_run_gives(string point, int committedAtKill, bool landedAtKill)
    {
        var expected = await UninterruptedImage();
        using var ws = new Workspace();
        ws.Write("ferry.yaml", Manifest());
        ws.Write("data/requests.csv", First);
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        ws.Write("data/requests.csv", Second());

        var killed = await FerryProcess.RunAsync(ws, new Dictionary<string, string?> { ["FERRY_FAULT"] = $"{point}:{KillBatch}" }, "run", "ferry.yaml");

        Assert.True(killed.ExitCode == SigKill, killed.ToString());
        Assert.Contains($"fault injected at {point}, batch {KillBatch}", killed.Error);
        Assert.Equal("running", ws.Scalar(Foi.Db, "SELECT status FROM ferry_runs WHERE run_id = 2"));
        Assert.Equal(committedAtKill, Foi.Count(ws, "SELECT count(*) FROM ferry_batches WHERE run_id = 2 AND state = 'committed'"));
        Assert.Equal(landedAtKill ? 1 : 0, Foi.Count(ws, "SELECT count(*) FROM ferry_batches WHERE run_id = 2 AND state = 'landed'"));
        // A landed batch's rows show as pending in the view, its rejected and warned ones included.
        var pending = Foi.StageRows(ws, 2).Where(s => s.Status == "pending").ToList();
        Assert.Equal(landedAtKill ? BatchSize : 0, pending.Count);
        Assert.All(pending, s => Assert.Equal(KillBatch, s.StageId >> 20 & 0xFFFFF));
        if (landedAtKill)
        {
            Assert.Equal(Enumerable.Range(2 + (KillBatch - 1) * BatchSize, BatchSize).Select(l => (long)l), pending.Select(s => s.Line));
            Assert.Contains(pending, s => s.Raw is not null && s.Warnings is not null);
            Assert.Equal(BatchSize * committedAtKill, Foi.StageRows(ws, 2).Count(s => s.Status != "pending"));
        }

        var resumed = await FerryProcess.RunAsync(ws, null, "run", "ferry.yaml");

        Assert.True(resumed.ExitCode == 3, resumed.ToString());
        Assert.Contains("run 2 resumed", resumed.Output);
        Assert.Contains($"(batch {committedAtKill})", resumed.Output);
        Assert.Equal("partial", ws.Scalar(Foi.Db, "SELECT status FROM ferry_runs WHERE run_id = 2"));
        Assert.Equal(0, Foi.Count(ws, "SELECT count(*) FROM ferry_batches WHERE state = 'landed'"));
        Assert.Equal(0, Foi.Count(ws, $"SELECT count(*) FROM {Stage} WHERE status = 'pending'"));
        Assert.Equal(expected, Image(ws, 2));
    }

    [Fact]
    public async Task Exported_rejects_carry_computed_stage_ids_and_a_corrected_file_resolves_exactly_those_rows()
    {
        using var ws = new Workspace();
        var rows = Foi.Rows(1, 25).ToList();
        rows[11] = Foi.Row(12, status: "lost");     // batch 2, 2nd row
        rows[22] = Foi.Row(23, fee: "lots");        // batch 3, 3rd row
        ws.Write("data/requests.csv", Foi.Csv(rows));
        ws.Write("ferry.yaml", Manifest(batchSize: 10));
        Assert.Equal(3, (await ws.Ferry("run", "ferry.yaml")).ExitCode);

        Assert.Equal(0, (await ws.Ferry("rejects", "export", "ferry.yaml", "--run", "1", "--out", "fix.csv")).ExitCode);
        var records = Foi.ParseCsv(File.ReadAllText(ws.PathOf("fix.csv")));
        var header = records[0];
        int Col(string name) => header.IndexOf(name);
        Assert.Equal([(1L << 40) + (2 << 20) + 2, (1L << 40) + (3 << 20) + 3],
            records.Skip(1).Select(r => long.Parse(r[Col("_ferry_stage_id")], CultureInfo.InvariantCulture)));
        records[1][Col("status")] = "open";
        records[2][Col("fee")] = "1.00";
        ws.Write("fix.csv", Foi.WriteCsv(records));

        var fix = await ws.Ferry("run", "ferry.yaml", "--source", "fix.csv");

        Assert.True(fix.ExitCode == 0, fix.ToString());
        Assert.Equal(new Counts(2, 2, 0, 0, 0), Foi.LedgerCounts(ws, 2));
        Assert.Equal("open", Foi.Request(ws, Foi.Reference(12))["status"]);
        Assert.Equal("1.00", Foi.Request(ws, Foi.Reference(23))["fee"]);
        // The rows the export named are imported now, resolved by run 2; nothing else of run 1 moved.
        var run1 = Foi.StageRows(ws, 1);
        Assert.Equal(25, run1.Count);
        Assert.All(run1, s => Assert.Equal("imported", s.Status));
        Assert.Equal([13L, 24L], run1.Where(s => s.ResolvedByRun == 2).Select(s => s.Line));
        Assert.Empty(await RejectsJson(ws, 1));
        // Run 2's own rows have run 2's ids.
        Assert.Equal([(2L << 40) + (1 << 20) + 1, (2L << 40) + (1 << 20) + 2], Foi.StageRows(ws, 2).Select(s => s.StageId));
    }

    [Fact]
    public async Task Rows_the_target_refuses_at_load_time_get_their_own_error_record_in_the_load_transaction()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 6)));
        ws.Write("ferry.yaml", Manifest(batchSize: 4, mode: "insert"));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        // Request 3 is there already (insert mode refuses it); request 2 also warns.
        ws.Write("data/requests.csv", Foi.Csv(Foi.Row(7), Foi.Row(2, summary: "edited"), Foi.Row(3), Foi.Row(8)));

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 3, run.ToString());
        var stage = Foi.StageRows(ws, 2);
        Assert.Equal(["imported", "error", "error", "imported"], stage.Select(s => s.Status));
        var warnedAndRefused = stage[1];
        Assert.Equal(["key"], Foi.Rules(warnedAndRefused.Errors));
        Assert.Equal(["regex"], Foi.Rules(warnedAndRefused.Warnings));
        Assert.NotNull(stage[2].Raw);
        Assert.Equal(2, Foi.Count(ws, $"SELECT count(*) FROM {Stage}_rows WHERE run_id = 2"));
        Assert.Equal([Foi.Reference(2), Foi.Reference(3)], (await RejectsJson(ws, 2)).Select(r => r.GetProperty("business_key").GetString()));
    }

    [Fact]
    public async Task A_ledger_from_before_batch_records_is_upgraded_and_its_rejects_can_still_be_corrected()
    {
        using var ws = new Workspace();
        var rows = Foi.Rows(1, 12).ToList();
        rows[4] = Foi.Row(5, status: "lost");
        ws.Write("data/requests.csv", Foi.Csv(rows));
        ws.Write("ferry.yaml", Manifest(batchSize: 5));
        Assert.Equal(3, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        MakeLegacy(ws);
        Assert.Equal("table", ws.Scalar(Foi.Db, $"SELECT type FROM sqlite_master WHERE name = '{Stage}'"));
        var legacy = Assert.Single(await RejectsJson(ws, 1));
        Assert.Equal(5, legacy.GetProperty("stage_id").GetInt64()); // one staging row per source row, numbered from 1

        Assert.Equal(0, (await ws.Ferry("rejects", "export", "ferry.yaml", "--run", "1", "--out", "fix.csv")).ExitCode);
        var records = Foi.ParseCsv(File.ReadAllText(ws.PathOf("fix.csv")));
        records[1][records[0].IndexOf("status")] = "open";
        ws.Write("fix.csv", Foi.WriteCsv(records));
        var fix = await ws.Ferry("run", "ferry.yaml", "--source", "fix.csv");

        Assert.True(fix.ExitCode == 0, fix.ToString());
        Assert.Equal("view", ws.Scalar(Foi.Db, $"SELECT type FROM sqlite_master WHERE name = '{Stage}'"));
        Assert.Equal("open", Foi.Request(ws, Foi.Reference(5))["status"]);
        var run1 = Foi.StageRows(ws, 1);
        Assert.Equal(Enumerable.Range(1, 12).Select(i => (long)i), run1.Select(s => s.StageId));
        Assert.All(run1, s => Assert.Equal("imported", s.Status));
        Assert.Equal(2L, run1[4].ResolvedByRun);
        Assert.Equal("committed", ws.Scalar(Foi.Db, "SELECT DISTINCT state FROM ferry_batches WHERE run_id = 1"));

        // And the ledger goes on as a new one: a re-run of the first file is all unchanged.
        Assert.Equal(3, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        Assert.Equal(new Counts(12, 0, 0, 11, 1), Foi.LedgerCounts(ws, 3));
        Assert.Equal(12, Foi.StageRows(ws, 3).Count);
    }

    [Theory]
    [InlineData(true)]   // into an empty table: each row inserted first, looked up on a key conflict
    [InlineData(false)]  // into a filled table: the batch's keys looked up first
    public async Task A_key_repeated_within_a_batch_sees_what_the_row_before_it_wrote(bool emptyTable)
    {
        using var ws = new Workspace();
        var manifest = string.Join('\n', Manifest(batchSize: 10).Split('\n').Where(l => !l.Contains("unique: true", StringComparison.Ordinal)));
        ws.Write("ferry.yaml", manifest);
        if (!emptyTable)
        {
            ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 5)));
            Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        }
        ws.Write("data/requests.csv", Foi.Csv(Foi.Row(3, fee: "1.00"), Foi.Row(4), Foi.Row(3, fee: "2.00"), Foi.Row(3, fee: "2.00"), Foi.Row(3, fee: "1.00")));

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 0, run.ToString());
        var id = emptyTable ? 1 : 2;
        Assert.Equal(emptyTable ? new Counts(5, 2, 2, 1, 0) : new Counts(5, 0, 3, 2, 0), Foi.LedgerCounts(ws, id));
        Assert.Equal("1.00", Foi.Request(ws, Foi.Reference(3))["fee"]);
        Assert.Equal(1, Foi.Count(ws, $"SELECT count(*) FROM foi_request WHERE reference = '{Foi.Reference(3)}'"));
    }

    [Fact]
    public async Task Two_entities_whose_staging_names_would_meet_are_refused_clearly()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 3)));
        ws.Write("ferry.yaml", """
            name: clash
            source: { type: csv, path: data/requests.csv }
            target: { type: sqlite, connection: "Data Source=foi.db" }
            entities:
              - name: req
                key: [reference]
                columns: { reference: reference }
              - name: req_rows
                key: [reference]
                columns: { reference: reference }
            """);

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("entity 'req_rows' cannot be staged", run.Output + run.Error);
        Assert.Equal(3, Foi.Count(ws, "SELECT count(*) FROM req"));
    }

    private static async Task<List<JsonElement>> RejectsJson(Workspace ws, long run)
    {
        var result = await ws.Ferry("rejects", "list", "ferry.yaml", "--run", run.ToString(CultureInfo.InvariantCulture), "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        return JsonDocument.Parse(result.Output).RootElement.EnumerateArray().Select(e => e.Clone()).ToList();
    }

    /// <summary>
    /// Turns the ledger into what an earlier version left: a staging table with one record per
    /// source row (numbered from 1, with its 'action' column) and batch records without state,
    /// lines or keys.
    /// </summary>
    private static void MakeLegacy(Workspace ws)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={ws.PathOf(Foi.Db)};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"""
            BEGIN;
            CREATE TABLE legacy_stage (
                stage_id        INTEGER PRIMARY KEY,
                run_id          INTEGER NOT NULL,
                batch_no        INTEGER NOT NULL,
                line            INTEGER NOT NULL,
                business_key    TEXT,
                status          TEXT NOT NULL CHECK (status IN ('pending', 'imported', 'error')),
                action          TEXT,
                raw             TEXT NOT NULL,
                errors          TEXT,
                warnings        TEXT,
                resolved_by_run INTEGER
            );
            INSERT INTO legacy_stage (run_id, batch_no, line, business_key, status, raw, errors, warnings, resolved_by_run)
            SELECT run_id, batch_no, line, business_key, status, coalesce(raw, '{"{}"}'), errors, warnings, resolved_by_run FROM {Stage} ORDER BY stage_id;
            DROP VIEW {Stage};
            DROP TABLE {Stage}_rows;
            ALTER TABLE legacy_stage RENAME TO {Stage};
            CREATE INDEX "ix_{Stage}_run" ON {Stage} (run_id);
            CREATE TABLE legacy_batches (
                run_id       INTEGER NOT NULL REFERENCES ferry_runs(run_id),
                entity       TEXT NOT NULL,
                batch_no     INTEGER NOT NULL,
                first_line   INTEGER NOT NULL,
                last_line    INTEGER NOT NULL,
                rows_read    INTEGER NOT NULL,
                inserted     INTEGER NOT NULL,
                updated      INTEGER NOT NULL,
                unchanged    INTEGER NOT NULL,
                rejected     INTEGER NOT NULL,
                warnings     INTEGER NOT NULL,
                committed_at TEXT NOT NULL,
                PRIMARY KEY (run_id, entity, batch_no)
            );
            INSERT INTO legacy_batches SELECT run_id, entity, batch_no, first_line, last_line, rows_read, inserted, updated, unchanged, rejected, warnings, committed_at FROM ferry_batches;
            DROP TABLE ferry_batches;
            ALTER TABLE legacy_batches RENAME TO ferry_batches;
            COMMIT;
            """;
        command.ExecuteNonQuery();
    }
}
