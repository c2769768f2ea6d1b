using System.Globalization;
using Ferry.Tests.EndToEnd;

namespace Ferry.Tests.Postgres;

/// <summary>
/// Exactly-once batches: the real ferry process is killed (SIGKILL, by its fault-injection hook) at
/// each dangerous instant of a batch, then run again; the result must equal an uninterrupted run of
/// the same files, row for row, in the target and in the ledger.
/// </summary>
public class PgKillResumeTests(ResumeBaseline baseline) : IClassFixture<ResumeBaseline>
{
    private const int KillBatch = 3;
    private const int SigKill = 137;

    [Theory]
    [InlineData("postgres.after-land", KillBatch - 1, true)]    // staging committed, the batch transaction not begun
    [InlineData("postgres.mid-copy", KillBatch - 1, true)]      // half the work-table COPY written
    [InlineData("postgres.before-commit", KillBatch - 1, true)] // everything written, COMMIT not sent
    [InlineData("postgres.after-commit", KillBatch, false)]     // COMMIT done, the process dies before going on
    public async Task A_run_killed_at_a_point_of_a_batch_resumes_to_exactly_what_an_uninterrupted_run_gives(string point, int committedAtKill, bool pendingAtKill)
    {
        using var pg = new PgScope("kill");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", ResumeKit.First);
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: ResumeBaseline.BatchSize));
        var first = await ws.Ferry("run", "ferry.yaml");
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Equal(baseline.AfterFirst, pg.Dump());
        ws.Write("data/requests.csv", ResumeKit.Second(ResumeBaseline.SecondRows));

        var killed = await FerryProcess.RunAsync(ws, new Dictionary<string, string?> { ["FERRY_FAULT"] = $"{point}:{KillBatch}" }, "run", "ferry.yaml");

        Assert.True(killed.ExitCode == SigKill, killed.ToString());
        Assert.Contains($"fault injected at {point}, batch {KillBatch}", killed.Error);
        var runs = Pg.Runs(pg.Manifest());
        Assert.Equal(2, runs.Count);
        var interrupted = runs[1];
        Assert.Equal("running", interrupted.Status);
        Assert.Equal(committedAtKill, ResumeKit.CommittedBatches(interrupted.RunId));
        var pending = Pg.Count("""SELECT count(*) FROM ferry."stage_foi_request" WHERE run_id = @r AND status = 'pending'""", ("r", interrupted.RunId));
        Assert.Equal(pendingAtKill ? ResumeBaseline.BatchSize : 0, pending);

        var resumed = await FerryProcess.RunAsync(ws, null, "run", "ferry.yaml");

        Assert.True(resumed.ExitCode == 3, resumed.ToString());
        Assert.Contains($"run {interrupted.RunId} resumed", resumed.Output);
        var lastLine = Pg.Scalar("SELECT max(last_line) FROM ferry.batches WHERE run_id = @r AND batch_no = @b", ("r", interrupted.RunId), ("b", committedAtKill));
        Assert.Contains($"resuming after line {lastLine} (batch {committedAtKill})", resumed.Output);
        var after = Pg.Runs(pg.Manifest());
        Assert.Equal([runs[0].RunId, interrupted.RunId], after.Select(r => r.RunId));
        Assert.Equal("partial", after[1].Status);
        ResumeKit.AssertLedgerConsistent(interrupted.RunId);
        ResumeKit.AssertSame(baseline.Second, ResumeKit.Image(pg, interrupted.RunId));

        // Its undo log is whole too: rolling the resumed run back gives the table after the first run.
        var rollback = await ws.Ferry("rollback", interrupted.RunId.ToString(CultureInfo.InvariantCulture), "ferry.yaml");
        Assert.True(rollback.ExitCode == 0, rollback.ToString());
        Assert.Equal(baseline.AfterFirst, pg.Dump());
    }

    [Fact]
    public async Task A_first_load_killed_once_a_batch_has_landed_ahead_of_the_loader_resumes_to_the_uninterrupted_result()
    {
        // Every batch of this file has rejected and warned rows: a batch landed ahead stages them too.
        var file = ResumeKit.Second(ResumeBaseline.SecondRows);
        using var reference = new PgScope("kahead");
        reference.Workspace.Write("data/requests.csv", file);
        reference.Workspace.Write("ferry.yaml", PgFoi.Manifest(reference.Schema, batchSize: ResumeBaseline.BatchSize));
        Assert.Equal(3, (await reference.Workspace.Ferry("run", "ferry.yaml")).ExitCode);
        var expected = ResumeKit.Image(reference, Pg.Runs(reference.Manifest())[^1].RunId);

        using var pg = new PgScope("kahead");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", file);
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: ResumeBaseline.BatchSize));

        // A first load lands a batch on the preparing task's own connection while the loader loads the one before.
        var killed = await FerryProcess.RunAsync(ws, new Dictionary<string, string?> { ["FERRY_FAULT"] = "postgres.landed-ahead:4" }, "run", "ferry.yaml");

        Assert.True(killed.ExitCode == SigKill, killed.ToString());
        var interrupted = Pg.Runs(pg.Manifest())[^1];
        Assert.Equal("running", interrupted.Status);
        Assert.InRange(ResumeKit.CommittedBatches(interrupted.RunId), 0, 3);
        // Batch 4's landing committed whole: every row pending, with the key and the messages the finished run gives it.
        var landed = ResumeKit.Image(pg, interrupted.RunId).Staging.Where(s => s.EndsWith("batch_no=4", StringComparison.Ordinal)).ToList();
        var loaded = expected.Staging.Where(s => s.EndsWith("batch_no=4", StringComparison.Ordinal)).ToList();
        Assert.Equal(ResumeBaseline.BatchSize, loaded.Count);
        Assert.Equal(loaded.Select(s => s.Replace("status=imported", "status=pending").Replace("status=error", "status=pending")), landed);

        var resumed = await FerryProcess.RunAsync(ws, null, "run", "ferry.yaml");

        Assert.True(resumed.ExitCode == 3, resumed.ToString());
        Assert.Contains($"run {interrupted.RunId} resumed", resumed.Output);
        ResumeKit.AssertLedgerConsistent(interrupted.RunId);
        ResumeKit.AssertSame(expected, ResumeKit.Image(pg, interrupted.RunId));
    }

    [Fact]
    public async Task A_replace_killed_part_way_leaves_the_old_table_whole_and_resumes_to_the_uninterrupted_result()
    {
        var next = Foi.Csv(Foi.Rows(500, 1100).Append(Foi.Row(1101, status: "lost")));

        using var reference = new PgScope("krep");
        reference.Workspace.Write("data/requests.csv", ResumeKit.First);
        reference.Workspace.Write("ferry.yaml", PgFoi.Manifest(reference.Schema, mode: "replace", batchSize: 100));
        Assert.Equal(0, (await reference.Workspace.Ferry("run", "ferry.yaml")).ExitCode);
        reference.Workspace.Write("data/requests.csv", next);
        Assert.Equal(3, (await reference.Workspace.Ferry("run", "ferry.yaml")).ExitCode);
        var expected = ResumeKit.Image(reference, Pg.Runs(reference.Manifest())[^1].RunId);

        using var pg = new PgScope("krep");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", ResumeKit.First);
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, mode: "replace", batchSize: 100));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var old = pg.Dump();
        ws.Write("data/requests.csv", next);

        var killed = await FerryProcess.RunAsync(ws, new Dictionary<string, string?> { ["FERRY_FAULT"] = "postgres.after-commit:4" }, "run", "ferry.yaml");

        Assert.True(killed.ExitCode == SigKill, killed.ToString());
        Assert.Equal(old, pg.Dump());
        var interrupted = Pg.Runs(pg.Manifest())[^1];
        Assert.Equal("running", interrupted.Status);
        Assert.Equal(0, ResumeKit.CommittedBatches(interrupted.RunId));
        Assert.Empty(Pg.Stage(interrupted.RunId));

        var resumed = await FerryProcess.RunAsync(ws, null, "run", "ferry.yaml");

        Assert.True(resumed.ExitCode == 3, resumed.ToString());
        Assert.Equal(interrupted.RunId, Pg.Runs(pg.Manifest())[^1].RunId);
        Assert.Equal("partial", Pg.Runs(pg.Manifest())[^1].Status);
        ResumeKit.AssertLedgerConsistent(interrupted.RunId);
        var actual = ResumeKit.Image(pg, interrupted.RunId);
        Assert.Equal(expected.Table, actual.Table);
        Assert.Equal(expected.Counts, actual.Counts);
        Assert.Equal(expected.Batches, actual.Batches);
        Assert.Equal(expected.Staging, actual.Staging);
    }
}
