using System.Globalization;
using Ferry.Tests.EndToEnd;
using Ferry.Tests.Support;

namespace Ferry.Tests.Postgres;

/// <summary><c>ferry rollback RUN_ID</c>: the target as it was before the run, from the undo log.</summary>
public class PgRollbackTests
{
    private static string Id(long run) => run.ToString(CultureInfo.InvariantCulture);

    private static async Task<string?> StatusInRunsJson(Workspace ws, long run) =>
        (await PgFoi.RunsJson(ws)).Single(r => r.GetProperty("run_id").GetInt64() == run).GetProperty("status").GetString();

    [Fact]
    public async Task Rolling_back_an_update_run_restores_the_exact_prior_rows_and_rolling_back_the_first_run_deletes_its_inserts()
    {
        using var pg = new PgScope("rb");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 20)));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 7));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var run1 = Assert.Single(Pg.Runs(pg.Manifest())).RunId;
        var afterRun1 = pg.Dump();

        // Run 2 updates 3, 6, 9 and 12, inserts 21 to 25, rejects one row and leaves the rest as they are.
        var rows = Foi.Rows(1, 25).ToList();
        foreach (var i in new[] { 3, 6, 9, 12 })
            rows[i - 1] = Foi.Row(i, status: "withdrawn", fee: "99.99", summary: $"Changed {i}");
        rows[14] = Foi.Row(15, status: "gone");
        ws.Write("data/requests.csv", Foi.Csv(rows));
        var second = await ws.Ferry("run", "ferry.yaml");
        Assert.True(second.ExitCode == 3, second.ToString());
        var run2 = Pg.Runs(pg.Manifest())[^1].RunId;
        Assert.Equal(new LedgerCounts(25, 5, 4, 15, 1, 0), Pg.Counts(run2));
        var afterRun2 = pg.Dump();
        Assert.NotEqual(afterRun1, afterRun2);

        // Run 1 first: refused, naming run 2, and nothing changes.
        var refused = await ws.Ferry("rollback", Id(run1), "ferry.yaml");
        Assert.True(refused.ExitCode == 1, refused.ToString());
        Assert.Contains($"run {run1} cannot be rolled back: later run(s) {run2} changed the same rows", refused.Error);
        Assert.Equal(afterRun2, pg.Dump());
        Assert.Equal("succeeded", await StatusInRunsJson(ws, run1));

        var undo2 = await ws.Ferry("rollback", Id(run2), "ferry.yaml");
        Assert.True(undo2.ExitCode == 0, undo2.ToString());
        Assert.Contains("foi_request: 5 inserted row(s) deleted, 4 updated row(s) restored", undo2.Output);
        Assert.Contains($"run {run2} rolled back", undo2.Output);
        Assert.Equal(afterRun1, pg.Dump());
        Assert.Equal("rolled_back", await StatusInRunsJson(ws, run2));
        Assert.Equal("succeeded", await StatusInRunsJson(ws, run1));

        var again = await ws.Ferry("rollback", Id(run2), "ferry.yaml");
        Assert.True(again.ExitCode == 1, again.ToString());
        Assert.Contains($"run {run2} has been rolled back already", again.Error);
        Assert.Equal(afterRun1, pg.Dump());

        // With run 2 undone, run 1 can go: the 20 rows it inserted are deleted.
        var undo1 = await ws.Ferry("rollback", Id(run1), "ferry.yaml");
        Assert.True(undo1.ExitCode == 0, undo1.ToString());
        Assert.Contains("foi_request: 20 inserted row(s) deleted, 0 updated row(s) restored", undo1.Output);
        Assert.Equal(0, pg.Count());
        Assert.Equal("rolled_back", await StatusInRunsJson(ws, run1));

        // Nothing of the undone runs is left in the way: the first file loads again to the same rows.
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 20)));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        Assert.Equal(new LedgerCounts(20, 20, 0, 0, 0, 0), Pg.Counts(Pg.Runs(pg.Manifest())[^1].RunId));
        Assert.Equal(afterRun1, pg.Dump());
    }

    [Theory]
    [InlineData(true)]  // the undo entries of COPYed batches copy the keys of their landed records
    [InlineData(false)] // without staging they are sent with the batch's record
    public async Task A_first_load_whose_copy_meets_a_repeated_key_rolls_back_to_an_empty_table(bool staging)
    {
        using var pg = new PgScope("rbrep");
        var ws = pg.Workspace;
        // Batches 1 and 2 go straight in by COPY; batch 3 repeats request 2, so its COPY is refused,
        // its transaction undone, and it goes through the work table, updating request 2.
        var lines = Foi.Rows(1, 8).ToList();
        lines.Add(Foi.Row(2, summary: "second"));
        ws.Write("data/requests.csv", Foi.Csv(lines));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 4, unique: false, check: false, staging: staging));
        var run = await ws.Ferry("run", "ferry.yaml");
        Assert.True(run.ExitCode == 0, run.ToString());
        var runId = Assert.Single(Pg.Runs(pg.Manifest())).RunId;
        Assert.Equal(new LedgerCounts(9, 8, 1, 0, 0, 0), Pg.Counts(runId));
        Assert.Equal(8, pg.Count());
        // Every committed batch has its undo entry: two from COPYs, the third's from the work table.
        Assert.Equal(3L, Pg.Count("SELECT count(DISTINCT batch_no) FROM ferry.undo WHERE run_id = @r", ("r", runId)));

        var undo = await ws.Ferry("rollback", Id(runId), "ferry.yaml");
        Assert.True(undo.ExitCode == 0, undo.ToString());
        Assert.Equal(0, pg.Count());
        Assert.Equal("rolled_back", await StatusInRunsJson(ws, runId));
    }

    [Fact]
    public async Task A_row_a_run_changed_twice_in_one_batch_gets_its_value_from_before_the_run_back()
    {
        using var pg = new PgScope("rb2");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 40)));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 500, unique: false));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var before = pg.Dump();

        // Every key twice in the one batch: first one change, then another. The second write wins.
        var rows = Foi.Rows(1, 40).Select(r => r.Replace("about council spending", "first change", StringComparison.Ordinal))
            .Concat(Foi.Rows(1, 40).Select(r => r.Replace("about council spending", "second change", StringComparison.Ordinal)));
        ws.Write("data/requests.csv", Foi.Csv(rows));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var run2 = Pg.Runs(pg.Manifest())[^1].RunId;
        Assert.Equal(new LedgerCounts(80, 0, 80, 0, 0, 0), Pg.Counts(run2));
        Assert.Equal(40, Pg.Count($"SELECT count(*) FROM \"{pg.Schema}\".foi_request WHERE summary LIKE '% second change'"));

        var rollback = await ws.Ferry("rollback", Id(run2), "ferry.yaml");

        Assert.True(rollback.ExitCode == 0, rollback.ToString());
        Assert.Equal(before, pg.Dump());
    }

    /// <summary>Summaries whose text the undo log's row images must carry through unchanged.</summary>
    private static readonly string[] Awkward =
    [
        "\"\"\"quoted\"\", he said\"", "\"(a, b)\"", "back\\slash", "{braces}", "\"two\nlines\"", "Zoë ő ✓", "\"\"\"\"",
    ];

    private static IEnumerable<string> AwkwardRows() => Awkward.Select((summary, i) => Foi.Row(i + 1, summary: summary));

    /// <summary>Run 1 loads rows with awkward text, run 2 changes every one of them.</summary>
    private static async Task<(long Run2, List<string> AfterRun1)> LoadAndChangeAwkwardRows(PgScope pg)
    {
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", Foi.Csv(AwkwardRows()));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 4));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var afterRun1 = pg.Dump();
        ws.Write("data/requests.csv", Foi.Csv(Awkward.Select((_, i) => Foi.Row(i + 1, status: "withdrawn", summary: "plain"))));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var run2 = Pg.Runs(pg.Manifest())[^1].RunId;
        Assert.Equal(new LedgerCounts(Awkward.Length, 0, Awkward.Length, 0, 0, 0), Pg.Counts(run2));
        Assert.NotEqual(afterRun1, pg.Dump());
        return (run2, afterRun1);
    }

    [Fact]
    public async Task Before_images_with_quotes_commas_parentheses_backslashes_and_line_breaks_come_back_exactly()
    {
        using var pg = new PgScope("rb3");
        var (run2, afterRun1) = await LoadAndChangeAwkwardRows(pg);
        Assert.Contains(afterRun1, r => r.Contains("two\\nlines", StringComparison.Ordinal)); // the line break made it into the table

        var rollback = await pg.Workspace.Ferry("rollback", Id(run2), "ferry.yaml");

        Assert.True(rollback.ExitCode == 0, rollback.ToString());
        Assert.Contains($"foi_request: 0 inserted row(s) deleted, {Awkward.Length} updated row(s) restored", rollback.Output);
        Assert.Equal(afterRun1, pg.Dump());
    }

    [Fact]
    public async Task A_ledger_whose_undo_log_holds_jsonb_images_still_rolls_back()
    {
        using var pg = new PgScope("rb4");
        var (run2, afterRun1) = await LoadAndChangeAwkwardRows(pg);
        // The form ledgers were written in before row images: one jsonb array of images per entry.
        var converted = Pg.Execute($"""
            UPDATE ferry.undo u SET before = (SELECT jsonb_agg(to_jsonb(x::"{pg.Schema}".foi_request) ORDER BY n) FROM unnest(u.images) WITH ORDINALITY i(x, n)),
                                    images = NULL
            WHERE run_id = @run AND action = 'u'
            """, ("run", run2));
        Assert.True(converted > 0);

        var rollback = await pg.Workspace.Ferry("rollback", Id(run2), "ferry.yaml");

        Assert.True(rollback.ExitCode == 0, rollback.ToString());
        Assert.Equal(afterRun1, pg.Dump());
    }

    [Fact]
    public async Task A_table_whose_columns_changed_since_the_run_is_not_rolled_back_and_is_left_as_it_is()
    {
        using var pg = new PgScope("rb5");
        var (run2, _) = await LoadAndChangeAwkwardRows(pg);
        Pg.Execute($"ALTER TABLE \"{pg.Schema}\".foi_request ADD COLUMN note text DEFAULT 'added'");
        var afterAlter = pg.Dump();

        var rollback = await pg.Workspace.Ferry("rollback", Id(run2), "ferry.yaml");

        Assert.True(rollback.ExitCode == 1, rollback.ToString());
        Assert.Contains($"run {run2} cannot be rolled back: the before-images of \"{pg.Schema}\".\"foi_request\" no longer fit the table, whose columns changed since the run", rollback.Error);
        Assert.Equal(afterAlter, pg.Dump());
        Assert.Equal("succeeded", await StatusInRunsJson(pg.Workspace, run2));
    }

    [Fact]
    public async Task Rolling_back_a_replace_run_gives_the_old_table_back()
    {
        using var pg = new PgScope("rbr");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 12)));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 5));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var run1 = Assert.Single(Pg.Runs(pg.Manifest())).RunId;
        var old = pg.Dump();

        ws.Write("data/requests.csv", Foi.Csv(Foi.Row(5), Foi.Row(6, status: "withdrawn"), Foi.Row(20), Foi.Row(21)));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, mode: "replace", batchSize: 5));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var run2 = Pg.Runs(pg.Manifest())[^1].RunId;
        Assert.Equal(4, pg.Count());
        Assert.True(Pg.TableExists($"ferry.\"replaced_{run2}_foi_request\""));

        var refused = await ws.Ferry("rollback", Id(run1), "ferry.yaml");
        Assert.True(refused.ExitCode == 1, refused.ToString());
        Assert.Contains($"later run(s) {run2}", refused.Error);

        var rollback = await ws.Ferry("rollback", Id(run2), "ferry.yaml");

        Assert.True(rollback.ExitCode == 0, rollback.ToString());
        Assert.Contains($"foi_request: the table's contents before run {run2} are back", rollback.Output);
        Assert.Equal(old, pg.Dump());
        Assert.False(Pg.TableExists($"ferry.\"replaced_{run2}_foi_request\""));
        Assert.Equal("rolled_back", await StatusInRunsJson(ws, run2));
    }

    [Fact]
    public async Task A_replace_run_is_not_rolled_back_over_a_later_run_that_changed_the_table()
    {
        using var pg = new PgScope("rbl");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 10)));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, mode: "replace"));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var run1 = Assert.Single(Pg.Runs(pg.Manifest())).RunId;

        // Run 2 only adds rows: no key of run 1 is touched, but a replace undone would take them away.
        ws.Write("data/requests.csv", Foi.Csv(Foi.Row(11), Foi.Row(12)));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, mode: "upsert"));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var run2 = Pg.Runs(pg.Manifest())[^1].RunId;
        var afterRun2 = pg.Dump();

        var refused = await ws.Ferry("rollback", Id(run1), "ferry.yaml");

        Assert.True(refused.ExitCode == 1, refused.ToString());
        Assert.Contains($"run {run1} cannot be rolled back: later run(s) {run2}", refused.Error);
        Assert.Equal(afterRun2, pg.Dump());
        Assert.Equal("succeeded", await StatusInRunsJson(ws, run1));

        Assert.Equal(0, (await ws.Ferry("rollback", Id(run2), "ferry.yaml")).ExitCode);
        Assert.Equal(0, (await ws.Ferry("rollback", Id(run1), "ferry.yaml")).ExitCode);
        Assert.Equal(0, pg.Count());
    }

    [Fact]
    public async Task A_later_run_into_another_schema_does_not_block_a_rollback_and_is_not_touched_by_it()
    {
        using var mine = new PgScope("rbm");
        using var other = new PgScope("rbo");
        foreach (var scope in new[] { mine, other })
        {
            scope.Workspace.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 10)));
            scope.Workspace.Write("ferry.yaml", PgFoi.Manifest(scope.Schema));
        }
        Assert.Equal(0, (await mine.Workspace.Ferry("run", "ferry.yaml")).ExitCode);
        var run = Assert.Single(Pg.Runs(mine.Manifest())).RunId;
        // The same entity and keys, loaded later by another manifest into another schema.
        Assert.Equal(0, (await other.Workspace.Ferry("run", "ferry.yaml")).ExitCode);
        var theirs = other.Dump();

        var rollback = await mine.Workspace.Ferry("rollback", Id(run), "ferry.yaml");

        Assert.True(rollback.ExitCode == 0, rollback.ToString());
        Assert.Equal(0, mine.Count());
        Assert.Equal(theirs, other.Dump());
    }

    [Fact]
    public async Task Runs_and_status_list_only_this_manifests_runs()
    {
        using var mine = new PgScope("lst");
        using var other = new PgScope("lso");
        foreach (var scope in new[] { mine, other })
        {
            scope.Workspace.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 3)));
            scope.Workspace.Write("ferry.yaml", PgFoi.Manifest(scope.Schema));
        }
        Assert.Equal(0, (await mine.Workspace.Ferry("run", "ferry.yaml")).ExitCode);
        Assert.Equal(0, (await other.Workspace.Ferry("run", "ferry.yaml")).ExitCode);
        var run = Assert.Single(Pg.Runs(mine.Manifest())).RunId;

        var runs = await PgFoi.RunsJson(mine.Workspace);
        Assert.Equal([run], runs.Select(r => r.GetProperty("run_id").GetInt64()));
        var status = await mine.Workspace.Ferry("status", "ferry.yaml", "--json");
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Equal(run, System.Text.Json.JsonDocument.Parse(status.Output).RootElement.GetProperty("run_id").GetInt64());
        var theirs = Assert.Single(Pg.Runs(other.Manifest())).RunId;
        var foreign = await mine.Workspace.Ferry("status", "ferry.yaml", "--run", Id(theirs));
        Assert.True(foreign.ExitCode == 2, foreign.ToString());
        Assert.Contains($"there is no run {theirs}", foreign.Error);
    }
}
