using Ferry.Tests.EndToEnd;
using Ferry.Tests.Support;

namespace Ferry.Tests.Postgres;

/// <summary>
/// A re-run compares each batch's raw rows with the source hashes the prior run's record at the same
/// position keeps: a batch equal row for row is recorded unchanged without being validated or mapped
/// (the <c>postgres.source-unchanged</c> fault point marks that path: a process killed there took it).
/// These tests prove the path is taken only where the result is what mapping the rows would give.
/// </summary>
public class PgSourceSkipTests
{
    private const int SigKill = 137;

    private static string Manifest(PgScope pg) => PgFoi.Manifest(pg.Schema, batchSize: 4, unique: false, check: false);

    /// <summary>The file of these lines loaded once by the entity of <see cref="Manifest"/>; returns the run.</summary>
    private static async Task<long> FirstRun(PgScope pg, IEnumerable<string> lines, int exitCode = 0)
    {
        pg.Workspace.Write("data/requests.csv", Foi.Csv(lines));
        pg.Workspace.Write("ferry.yaml", Manifest(pg));
        var first = await pg.Workspace.Ferry("run", "ferry.yaml");
        Assert.True(first.ExitCode == exitCode, first.ToString());
        return Pg.Runs(pg.Manifest())[^1].RunId;
    }

    private static Task<CliResult> RunKillingAt(Workspace ws, int batch) =>
        FerryProcess.RunAsync(ws, new Dictionary<string, string?> { ["FERRY_FAULT"] = $"postgres.source-unchanged:{batch}" }, "run", "ferry.yaml");

    private static List<string?> SourceDigests(long run) =>
        Pg.Query("SELECT encode(source_digest, 'hex') AS d FROM ferry.batches WHERE run_id = @r ORDER BY batch_no", ("r", run)).Select(r => (string?)r["d"]).ToList();

    private static string Summary(PgScope pg, int i) =>
        (string)Pg.Scalar($"SELECT summary FROM \"{pg.Schema}\".foi_request WHERE reference = @r", ("r", Foi.Reference(i)))!;

    [Fact]
    public async Task The_same_file_again_is_taken_unchanged_batch_by_batch_from_its_raw_rows_and_a_kill_on_that_path_resumes_to_the_same_table()
    {
        using var pg = new PgScope("srcsk");
        var ws = pg.Workspace;
        var digests = SourceDigests(await FirstRun(pg, Foi.Rows(1, 16)));
        // 8 bytes a row, none of them zero: every row can be compared raw next time.
        Assert.All(digests, d => Assert.Equal(4 * 16, d!.Length));
        Assert.Equal(16, digests.SelectMany(d => d!.Chunk(16)).Select(c => new string(c)).Distinct().Count());
        var table = pg.Dump();
        var versions = Pg.Query($"SELECT xmin::text AS x FROM \"{pg.Schema}\".foi_request ORDER BY reference").Select(r => r["x"]).ToList();

        var killed = await RunKillingAt(ws, 3);

        Assert.True(killed.ExitCode == SigKill, killed.ToString());
        Assert.Contains("fault injected at postgres.source-unchanged, batch 3", killed.Error);
        var interrupted = Pg.Runs(pg.Manifest())[^1];
        Assert.Equal("running", interrupted.Status);
        Assert.Equal(2, ResumeKit.CommittedBatches(interrupted.RunId));

        var resumed = await FerryProcess.RunAsync(ws, null, "run", "ferry.yaml");

        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Equal(interrupted.RunId, Pg.Runs(pg.Manifest())[^1].RunId);
        Assert.Equal(new LedgerCounts(16, 0, 0, 16, 0, 0), Pg.Counts(interrupted.RunId));
        Assert.Equal(table, pg.Dump());
        Assert.Equal(versions, Pg.Query($"SELECT xmin::text AS x FROM \"{pg.Schema}\".foi_request ORDER BY reference").Select(r => r["x"]).ToList());
        Assert.Equal(digests, SourceDigests(interrupted.RunId));
        Assert.Equal(0, Pg.Count("SELECT count(*) FROM ferry.undo WHERE run_id = @r", ("r", interrupted.RunId)));

        // The next run compares with this run's records, which refer to the first run's digests
        // rather than hold copies: it takes the raw path too.
        var again = await RunKillingAt(ws, 1);
        Assert.True(again.ExitCode == SigKill, again.ToString());
    }

    [Fact]
    public async Task A_batch_taken_unchanged_commits_with_its_record_and_a_kill_before_that_commit_resumes_to_the_same_ledger()
    {
        using var pg = new PgScope("srccom");
        var ws = pg.Workspace;
        var digests = SourceDigests(await FirstRun(pg, Foi.Rows(1, 16)));
        var table = pg.Dump();

        var killed = await FerryProcess.RunAsync(ws, new Dictionary<string, string?> { ["FERRY_FAULT"] = "postgres.before-commit:3" }, "run", "ferry.yaml");

        Assert.True(killed.ExitCode == SigKill, killed.ToString());
        var interrupted = Pg.Runs(pg.Manifest())[^1];
        Assert.Equal(2, ResumeKit.CommittedBatches(interrupted.RunId));
        Assert.Equal(new LedgerCounts(8, 0, 0, 8, 0, 0), Pg.Counts(interrupted.RunId));

        var resumed = await FerryProcess.RunAsync(ws, null, "run", "ferry.yaml");

        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Equal(new LedgerCounts(16, 0, 0, 16, 0, 0), Pg.Counts(interrupted.RunId));
        Assert.Equal(digests, SourceDigests(interrupted.RunId));
        Assert.Equal(table, pg.Dump());
    }

    [Fact]
    public async Task A_changed_mapping_maps_every_row_again_though_the_file_is_the_same()
    {
        using var pg = new PgScope("srcmap");
        var ws = pg.Workspace;
        await FirstRun(pg, Foi.Rows(1, 8));

        ws.Write("ferry.yaml", Manifest(pg).Replace("const: legacy-foi", "const: foi-v2", StringComparison.Ordinal));
        var second = await RunKillingAt(ws, 1);

        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Equal(new LedgerCounts(8, 0, 8, 0, 0, 0), Pg.Counts(Pg.Runs(pg.Manifest())[^1].RunId));
        Assert.Equal(["foi-v2"], Pg.Query($"SELECT DISTINCT origin FROM \"{pg.Schema}\".foi_request").Select(r => r["origin"]));
    }

    [Fact]
    public async Task A_batch_that_had_a_rejected_or_a_warned_row_is_validated_again_and_a_clean_one_is_not()
    {
        using var pg = new PgScope("srcrej");
        var ws = pg.Workspace;
        var lines = Foi.Rows(1, 12).ToList();
        lines[1] = Foi.Row(2, status: "lost");                                  // batch 1: rejected
        lines[6] = Foi.Row(7).Replace(",21,", ",200000,", StringComparison.Ordinal); // batch 2: a warning (pages above 100000)
        Assert.Contains(",200000,", lines[6], StringComparison.Ordinal);
        await FirstRun(pg, lines, exitCode: 3);

        foreach (var batch in new[] { 1, 2 })
        {
            var rerun = await RunKillingAt(ws, batch);
            Assert.True(rerun.ExitCode == 3, rerun.ToString());
            var run = Pg.Runs(pg.Manifest())[^1].RunId;
            Assert.Equal(new LedgerCounts(12, 0, 0, 11, 1, 1), Pg.Counts(run));
            // The reject is this run's own again, with its message, to be corrected.
            var rejected = Assert.Single(Pg.Stage(run), s => s.Status == "error");
            Assert.Equal(3, rejected.Line);
            Assert.Contains("lost", rejected.Errors, StringComparison.Ordinal);
        }

        var killed = await RunKillingAt(ws, 3);
        Assert.True(killed.ExitCode == SigKill, killed.ToString());
    }

    [Fact]
    public async Task A_batch_whose_key_repeats_or_whose_row_the_table_refused_is_loaded_again_and_a_clean_one_is_not()
    {
        using var pg = new PgScope("srcdup");
        var ws = pg.Workspace;
        var lines = Foi.Rows(1, 12).ToList();
        lines[2] = Foi.Row(2, summary: "the same request again"); // batch 1: request 2 twice
        await FirstRun(pg, lines);
        // Batch 2: the table refuses request 6 once it has 30 pages.
        Pg.Execute($"ALTER TABLE \"{pg.Schema}\".foi_request ADD CONSTRAINT few_pages CHECK (pages < 20) NOT VALID");
        lines[5] = Foi.Row(6).Replace(",18,", ",30,", StringComparison.Ordinal);
        Assert.Contains(",30,", lines[5], StringComparison.Ordinal);
        ws.Write("data/requests.csv", Foi.Csv(lines));
        Assert.Equal(3, (await ws.Ferry("run", "ferry.yaml")).ExitCode);

        foreach (var batch in new[] { 1, 2 })
        {
            var rerun = await RunKillingAt(ws, batch);
            Assert.True(rerun.ExitCode == 3, rerun.ToString());
            var run = Pg.Runs(pg.Manifest())[^1].RunId;
            Assert.Equal(12, Pg.Counts(run).RowsRead);
            Assert.Equal(1, Pg.Counts(run).Rejected);
            Assert.Contains("few_pages", Assert.Single(Pg.Stage(run), s => s.Status == "error").Errors, StringComparison.Ordinal);
        }
        Assert.Equal("the same request again", Summary(pg, 2));

        var killed = await RunKillingAt(ws, 3);
        Assert.True(killed.ExitCode == SigKill, killed.ToString());
    }

    [Fact]
    public async Task A_batch_compared_raw_before_this_run_changed_one_of_its_rows_is_mapped_and_written_after_all()
    {
        // Batch 2 of the second file equals the first run's batch 2, and is found so before batch 1
        // commits; batch 1 then changes request 6, which batch 2 holds: its record is stale by the time it loads.
        var lines = Foi.Rows(1, 8).ToList();
        lines[0] = Foi.Row(6, summary: "changed early");

        using (var probe = new PgScope("srcstk"))
        {
            await FirstRun(probe, Foi.Rows(1, 8));
            probe.Workspace.Write("data/requests.csv", Foi.Csv(lines));
            var killed = await RunKillingAt(probe.Workspace, 2);
            Assert.True(killed.ExitCode == SigKill, killed.ToString()); // batch 2 was taken as unchanged by its raw rows
        }

        using var pg = new PgScope("srcst");
        var ws = pg.Workspace;
        await FirstRun(pg, Foi.Rows(1, 8));
        ws.Write("data/requests.csv", Foi.Csv(lines));

        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);

        Assert.Equal(Foi.Row(6).Split(',')[^1], Summary(pg, 6));
        Assert.Equal(new LedgerCounts(8, 0, 2, 6, 0, 0), Pg.Counts(Pg.Runs(pg.Manifest())[^1].RunId));
    }

    [Fact]
    public async Task A_record_that_refers_to_the_digest_of_the_one_it_copied_is_compared_by_that_digest()
    {
        using var pg = new PgScope("srcref");
        var ws = pg.Workspace;
        var first = await FirstRun(pg, Foi.Rows(1, 8));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var second = Pg.Runs(pg.Manifest())[^1].RunId;
        // Taken unchanged raw: each record refers to the first run's digest instead of holding a copy.
        Assert.Equal(2, Pg.Count("SELECT count(*) FROM ferry.batches WHERE run_id = @r AND digest IS NULL AND digest_run = @f", ("r", second), ("f", first)));
        // As a ledger written before source hashes has them: the next run maps the rows and compares them by the digest.
        Pg.Execute("UPDATE ferry.batches SET source_digest = NULL WHERE run_id = @r", ("r", second));
        // A row another program changed is not seen by a skip by digest (docs/architecture.md): that it
        // stays so proves the rows were compared by the digest the record refers to, not written again.
        // The run's reconciliation finds it.
        Pg.Execute($"UPDATE \"{pg.Schema}\".foi_request SET summary = 'changed elsewhere' WHERE reference = @r", ("r", Foi.Reference(3)));

        var third = await ws.Ferry("run", "ferry.yaml");

        Assert.True(third.ExitCode == 4, third.ToString());
        Assert.Contains($"key {Foi.Reference(3)}, column summary: source Request 3 about council spending, target changed elsewhere", third.Output);
        Assert.Equal(new LedgerCounts(8, 0, 0, 8, 0, 0), Pg.Counts(Pg.Runs(pg.Manifest())[^1].RunId));
        Assert.Equal("changed elsewhere", Summary(pg, 3));
    }

    [Fact]
    public async Task Records_without_source_hashes_skip_by_content_hash_and_leave_hashes_for_the_next_run()
    {
        using var pg = new PgScope("srcold");
        var ws = pg.Workspace;
        var first = await FirstRun(pg, Foi.Rows(1, 8));
        var digests = SourceDigests(first);
        // As a ledger written before source hashes has them.
        Pg.Execute("UPDATE ferry.batches SET source_digest = NULL WHERE run_id = @r", ("r", first));

        var second = await RunKillingAt(ws, 1);

        Assert.True(second.ExitCode == 0, second.ToString());
        var run = Pg.Runs(pg.Manifest())[^1].RunId;
        Assert.Equal(new LedgerCounts(8, 0, 0, 8, 0, 0), Pg.Counts(run));
        Assert.Equal(digests, SourceDigests(run));
        var third = await RunKillingAt(ws, 1);
        Assert.True(third.ExitCode == SigKill, third.ToString());
    }
}
