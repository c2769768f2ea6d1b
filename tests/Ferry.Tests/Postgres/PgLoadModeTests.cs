using Ferry.Tests.EndToEnd;

namespace Ferry.Tests.Postgres;

/// <summary>insert, upsert and replace into a real PostgreSQL, each test in a schema of its own.</summary>
public class PgLoadModeTests
{
    [Fact]
    public async Task A_load_that_changed_much_of_the_table_leaves_it_analyzed_and_a_small_one_does_not()
    {
        using var pg = new PgScope("anl");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 300)));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 100));
        (DateTime? At, float Tuples) Statistics() => Pg.Query($"""
            SELECT s.last_analyze, c.reltuples FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
            WHERE s.schemaname = '{pg.Schema}' AND s.relname = 'foi_request'
            """).Single() is var row ? ((DateTime?)row["last_analyze"], (float)row["reltuples"]!) : default;

        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var first = Statistics();
        Assert.NotNull(first.At);
        Assert.Equal(300f, first.Tuples);
        // Quick statistics of every column: a histogram of at most 11 bounds, where 300 distinct references
        // would get 101 at the server's default target.
        var histograms = Pg.Query($"""
            SELECT a.attname, coalesce(array_length(s.histogram_bounds, 1), 0) AS bounds, s.attname IS NOT NULL AS analyzed
            FROM pg_attribute a LEFT JOIN pg_stats s ON s.schemaname = '{pg.Schema}' AND s.tablename = 'foi_request' AND s.attname = a.attname
            WHERE a.attrelid = '"{pg.Schema}".foi_request'::regclass AND a.attnum > 0 AND NOT a.attisdropped
            """);
        Assert.True(histograms.Count >= 8, string.Join(", ", histograms.Select(r => r["attname"])));
        Assert.All(histograms, r => Assert.True((bool)r["analyzed"]!, $"{r["attname"]} has no statistics"));
        Assert.InRange((int)histograms.Single(r => (string)r["attname"]! == "reference")["bounds"]!, 2, 11);

        // 4 rows of 300 changed: fewer than autovacuum's 50 + 10 %, so the statistics stand.
        var lines = Foi.Rows(1, 300).ToList();
        foreach (var i in new[] { 10, 20, 30, 40 })
            lines[i - 1] = Foi.Row(i, summary: $"Changed {i}");
        ws.Write("data/requests.csv", Foi.Csv(lines));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        Assert.Equal(first, Statistics());

        // 200 more rows: analyzed again.
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 500)));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var third = Statistics();
        Assert.True(third.At > first.At, $"{third.At} after {first.At}");
        Assert.Equal(500f, third.Tuples);
    }

    [Fact]
    public async Task Insert_mode_rejects_a_key_already_in_the_table_naming_it_and_the_rest_land()
    {
        using var pg = new PgScope("ins");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 10)));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, mode: "insert", batchSize: 4));
        var first = await ws.Ferry("run", "ferry.yaml");
        Assert.True(first.ExitCode == 0, first.ToString());
        var run1 = Assert.Single(Pg.Runs(pg.Manifest())).RunId;
        Assert.Equal(new LedgerCounts(10, 10, 0, 0, 0, 0), Pg.Counts(run1));
        var nineBefore = Pg.Dump(pg.Schema, PgFoi.Table, "reference").Single(r => r.Contains("FOI-2024-00009", StringComparison.Ordinal));

        // Batch 1: 8 (exists), 11, 9 (exists, changed), 12; batch 2: 13, 10 (exists), 14, 15.
        ws.Write("data/requests.csv", Foi.Csv(Foi.Row(8), Foi.Row(11), Foi.Row(9, status: "withdrawn"), Foi.Row(12),
            Foi.Row(13), Foi.Row(10), Foi.Row(14), Foi.Row(15)));
        var second = await ws.Ferry("run", "ferry.yaml");

        Assert.True(second.ExitCode == 3, second.ToString());
        var run2 = Pg.Runs(pg.Manifest())[^1];
        Assert.Equal("partial", run2.Status);
        Assert.Equal(new LedgerCounts(8, 5, 0, 0, 3, 0), Pg.Counts(run2.RunId));
        Assert.Equal(Enumerable.Range(1, 15).Select(Foi.Reference),
            Pg.Query($"SELECT reference FROM \"{pg.Schema}\".foi_request ORDER BY reference").Select(r => (string)r["reference"]!));
        Assert.Equal(nineBefore, pg.Dump().Single(r => r.Contains("FOI-2024-00009", StringComparison.Ordinal)));
        Assert.Equal(Foi.Row(15).Split(',')[4], Pg.Scalar($"SELECT status FROM \"{pg.Schema}\".foi_request WHERE reference = 'FOI-2024-00015'"));

        var stage = Pg.Stage(run2.RunId);
        var errors = stage.Where(s => s.Status == "error").ToList();
        Assert.Equal([2L, 4L, 7L], errors.Select(s => s.Line));
        Assert.Equal(["FOI-2024-00008", "FOI-2024-00009", "FOI-2024-00010"], errors.Select(s => s.BusinessKey));
        foreach (var e in errors)
        {
            var issue = Assert.Single(Pg.Issues(e.Errors));
            Assert.Equal("key", issue.Rule);
            Assert.Equal($"a row with key '{e.BusinessKey}' is already in {pg.Schema}.foi_request", issue.Message);
        }
        Assert.Equal(5, stage.Count(s => s.Status == "imported"));
        Assert.Equal([2L, 1L], Pg.Query("SELECT rejected FROM ferry.batches WHERE run_id = @r ORDER BY batch_no", ("r", run2.RunId))
            .Select(r => (long)(int)r["rejected"]!));
        var listed = await ws.Ferry("rejects", "list", "ferry.yaml");
        Assert.Contains($"foi_request line 4 (key FOI-2024-00009): key (error): a row with key 'FOI-2024-00009' is already in {pg.Schema}.foi_request", listed.Output);
    }

    [Fact]
    public async Task Upsert_counts_inserted_updated_and_unchanged_exactly_and_a_rerun_of_the_same_file_changes_nothing()
    {
        using var pg = new PgScope("ups");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 8)));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 3));
        Assert.True((await ws.Ferry("run", "ferry.yaml")).ExitCode == 0);

        // 1, 3, 5 unchanged; 2 and 6 changed; 9 and 10 new; 4 rejected (its change must not land).
        ws.Write("data/requests.csv", Foi.Csv(Foi.Row(1), Foi.Row(2, fee: "2.75"), Foi.Row(3), Foi.Row(9), Foi.Row(4, status: "nope"),
            Foi.Row(5), Foi.Row(6, summary: "Changed summary"), Foi.Row(10)));
        var result = await ws.Ferry("run", "ferry.yaml");

        Assert.True(result.ExitCode == 3, result.ToString());
        var run2 = Pg.Runs(pg.Manifest())[^1].RunId;
        Assert.Equal(new LedgerCounts(8, 2, 2, 3, 1, 0), Pg.Counts(run2));
        Assert.Equal(Pg.Counts(run2), Pg.BatchTotals(run2));
        Assert.Equal(10, pg.Count());
        var rows = Pg.Query($"SELECT reference, fee::text AS fee, summary, status FROM \"{pg.Schema}\".foi_request ORDER BY reference")
            .ToDictionary(r => (string)r["reference"]!);
        Assert.Equal("2.75", rows[Foi.Reference(2)]["fee"]);
        Assert.Equal("Changed summary", rows[Foi.Reference(6)]["summary"]);
        Assert.Equal(Foi.Row(4).Split(',')[4], rows[Foi.Reference(4)]["status"]);
        Assert.Equal(Foi.Row(1).Split(',')[6], rows[Foi.Reference(1)]["fee"]);

        // The same file again: nothing inserted, nothing updated, every valid row unchanged, the table identical.
        var before = pg.Dump();
        var xminBefore = Pg.Query($"SELECT reference, xmin::text AS x FROM \"{pg.Schema}\".foi_request ORDER BY reference").Select(r => $"{r["reference"]}:{r["x"]}").ToList();
        var again = await ws.Ferry("run", "ferry.yaml");
        Assert.True(again.ExitCode == 3, again.ToString());
        var run3 = Pg.Runs(pg.Manifest())[^1].RunId;
        Assert.Equal(new LedgerCounts(8, 0, 0, 7, 1, 0), Pg.Counts(run3));
        Assert.Equal(before, pg.Dump());
        // Unchanged rows are not even rewritten: their row versions are the same.
        Assert.Equal(xminBefore, Pg.Query($"SELECT reference, xmin::text AS x FROM \"{pg.Schema}\".foi_request ORDER BY reference").Select(r => $"{r["reference"]}:{r["x"]}"));
        Assert.Equal(0, Pg.Count("SELECT count(*) FROM ferry.undo WHERE run_id = @r", ("r", run3)));
    }

    [Fact]
    public async Task Replace_mode_reloads_the_table_so_rows_missing_from_the_new_file_are_gone_and_a_dry_run_changes_nothing()
    {
        using var pg = new PgScope("rep");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 12)));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, mode: "replace", batchSize: 3));
        var first = await ws.Ferry("run", "ferry.yaml");
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Equal(12, pg.Count());

        var next = Foi.Csv(Foi.Row(5), Foi.Row(6, status: "withdrawn", fee: "60.00"), Foi.Row(7), Foi.Row(8), Foi.Row(9),
            Foi.Row(20), Foi.Row(21, fee: "abc"), Foi.Row(22));
        ws.Write("data/requests.csv", next);

        var before = pg.Dump();
        var runsBefore = Pg.Runs(pg.Manifest());
        var dry = await ws.Ferry("run", "ferry.yaml", "--dry-run");
        Assert.True(dry.ExitCode == 3, dry.ToString());
        Assert.Equal(before, pg.Dump());
        Assert.Equal(runsBefore, Pg.Runs(pg.Manifest()));

        var second = await ws.Ferry("run", "ferry.yaml");

        Assert.True(second.ExitCode == 3, second.ToString());
        var run2 = Pg.Runs(pg.Manifest())[^1].RunId;
        Assert.Equal(new LedgerCounts(8, 7, 0, 0, 1, 0), Pg.Counts(run2));
        Assert.Equal(["FOI-2024-00005", "FOI-2024-00006", "FOI-2024-00007", "FOI-2024-00008", "FOI-2024-00009", "FOI-2024-00020", "FOI-2024-00022"],
            Pg.Query($"SELECT reference FROM \"{pg.Schema}\".foi_request ORDER BY reference").Select(r => (string)r["reference"]!));
        Assert.Equal("60.00", Pg.Scalar($"SELECT fee::text FROM \"{pg.Schema}\".foi_request WHERE reference = 'FOI-2024-00006'"));
        var rejected = Assert.Single(Pg.Stage(run2), s => s.Status == "error");
        Assert.Equal((8L, "fee", "type"), (rejected.Line, Pg.Issues(rejected.Errors).Single().Column, Pg.Issues(rejected.Errors).Single().Rule));

        // The table is exactly what a first load of the new file into an empty schema gives.
        using var fresh = new PgScope("rep");
        fresh.Workspace.Write("data/requests.csv", next);
        fresh.Workspace.Write("ferry.yaml", PgFoi.Manifest(fresh.Schema, mode: "replace"));
        Assert.Equal(3, (await fresh.Workspace.Ferry("run", "ferry.yaml")).ExitCode);
        Assert.Equal(fresh.Dump(), pg.Dump());
    }

    [Fact]
    public async Task A_replace_that_fails_part_way_leaves_the_old_table_whole()
    {
        using var pg = new PgScope("repf");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 9)));
        const string fatal = "      - { column: status, allowed: [open, closed, withdrawn], severity: fatal }";
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, mode: "replace", batchSize: 4, extraRules: fatal));
        Assert.True((await ws.Ferry("run", "ferry.yaml")).ExitCode == 0);
        var before = pg.Dump();
        Assert.Equal(9, before.Count);

        // Batches 1 and 2 would load; batch 3 breaks the fatal rule.
        var rows = Foi.Rows(100, 110).ToList();
        rows[9] = Foi.Row(109, status: "shredded");
        ws.Write("data/requests.csv", Foi.Csv(rows));
        var failed = await ws.Ferry("run", "ferry.yaml");

        Assert.True(failed.ExitCode == 1, failed.ToString());
        Assert.Contains("requests.csv:11", failed.Error);
        Assert.Equal(before, pg.Dump());
        var run2 = Pg.Runs(pg.Manifest())[^1];
        Assert.Equal("failed", run2.Status);
        Assert.Equal(0, Pg.Count("SELECT count(*) FROM ferry.batches WHERE run_id = @r", ("r", run2.RunId)));
        Assert.Empty(Pg.Stage(run2.RunId));
        Assert.Equal(0, Pg.Count("SELECT count(*) FROM ferry.undo WHERE run_id = @r", ("r", run2.RunId)));
        Assert.Equal(new LedgerCounts(0, 0, 0, 0, 0, 0), Pg.Counts(run2.RunId));
        Assert.False(Pg.TableExists($"ferry.\"replaced_{run2.RunId}_foi_request\""));
    }

    [Fact]
    public async Task A_first_load_stopped_by_a_fatal_row_keeps_the_batches_before_it_and_lands_nothing_of_its_batch()
    {
        using var pg = new PgScope("fatl");
        var ws = pg.Workspace;
        // Batches 1 and 2 load (batch 2 landed ahead of the loader); batch 3 breaks the fatal rule.
        var rows = Foi.Rows(1, 16).ToList();
        rows[9] = Foi.Row(10, status: "shredded");
        ws.Write("data/requests.csv", Foi.Csv(rows));
        const string fatal = "      - { column: status, allowed: [open, closed, withdrawn], severity: fatal }";
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 4, extraRules: fatal));

        var failed = await ws.Ferry("run", "ferry.yaml");

        Assert.True(failed.ExitCode == 1, failed.ToString());
        Assert.Contains("requests.csv:11", failed.Error);
        Assert.Contains("batch 3 not written", failed.Error);
        var run = Assert.Single(Pg.Runs(pg.Manifest()));
        Assert.Equal("failed", run.Status);
        Assert.Equal(8, pg.Dump().Count);
        Assert.Equal([1, 2], Pg.Query("SELECT batch_no FROM ferry.batches WHERE run_id = @r ORDER BY batch_no", ("r", run.RunId)).Select(r => (int)r["batch_no"]!));
        Assert.Equal(0, Pg.Count("SELECT count(*) FROM ferry.batches WHERE run_id = @r AND state <> 'committed'", ("r", run.RunId)));
        Assert.Equal(Enumerable.Range(2, 8).Select(i => (long)i), Pg.Stage(run.RunId).Select(s => s.Line).Order());
    }

    [Fact]
    public async Task A_table_the_user_created_with_other_column_types_takes_the_rows_and_a_value_it_refuses_rejects_only_that_row()
    {
        using var pg = new PgScope("usr");
        var ws = pg.Workspace;
        Pg.Execute($"""
            CREATE SCHEMA "{pg.Schema}";
            CREATE TABLE "{pg.Schema}".foi_request (
                reference varchar(20) NOT NULL,
                requester varchar(40),
                received_on date,
                due_on date,
                status char(10),
                pages integer,
                fee numeric(8,2),
                summary text,
                id text,
                origin varchar(40),
                note text DEFAULT 'kept',
                CONSTRAINT foi_reference UNIQUE (reference));
            """);
        // Row 40's requester has 45 characters: the contract allows it, varchar(40) does not.
        var rows = Foi.Rows(20, 22).Append(Foi.Row(40).Replace("Ada Lovelace", new string('x', 45), StringComparison.Ordinal)).Concat(Foi.Rows(23, 25)).ToList();
        Assert.Contains(new string('x', 45), rows[3]);
        ws.Write("data/requests.csv", Foi.Csv(rows));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 100));

        var result = await ws.Ferry("run", "ferry.yaml");

        Assert.True(result.ExitCode == 3, result.ToString());
        var run = Assert.Single(Pg.Runs(pg.Manifest())).RunId;
        Assert.Equal(new LedgerCounts(7, 6, 0, 0, 1, 0), Pg.Counts(run));
        Assert.Equal(6, pg.Count());
        var refused = Assert.Single(Pg.Stage(run), s => s.Status == "error");
        Assert.Equal((5L, "FOI-2024-00040"), (refused.Line, refused.BusinessKey));
        var issue = Assert.Single(Pg.Issues(refused.Errors));
        Assert.Equal("target", issue.Rule);
        Assert.Contains("too long", issue.Message, StringComparison.Ordinal);

        var r25 = Assert.Single(Pg.Query($"SELECT pages, fee::text AS fee, id, note, requester, received_on, status FROM \"{pg.Schema}\".foi_request WHERE reference = 'FOI-2024-00025'"));
        Assert.Equal(75, r25["pages"]); // an int column, holding an int
        Assert.Equal("25.50", r25["fee"]);
        Assert.Equal("kept", r25["note"]);
        Assert.Equal(Foi.Row(25).Split(',')[4].PadRight(10), r25["status"]); // char(10): the whole word, padded
        Assert.Equal(Foi.Row(25).Split(',')[1], r25["requester"]);
        Assert.Equal(new DateOnly(2024, 1, 26), r25["received_on"]);
        Assert.Equal(Ferry.Mapping.DeterministicUuid.ForKey("foi_request", "FOI-2024-00025").ToString(), r25["id"]);

        // A second run finds the same rows by the user's unique constraint: unchanged, not doubled.
        var again = await ws.Ferry("run", "ferry.yaml");
        Assert.True(again.ExitCode == 3, again.ToString());
        Assert.Equal(new LedgerCounts(7, 0, 0, 6, 1, 0), Pg.Counts(Pg.Runs(pg.Manifest())[^1].RunId));
        Assert.Equal(6, pg.Count());
    }
}
