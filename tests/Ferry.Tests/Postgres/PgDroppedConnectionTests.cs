using Ferry.Diagnostics;
using System.Diagnostics;
using System.Text.RegularExpressions;
using Ferry.Tests.EndToEnd;
using Npgsql;

namespace Ferry.Tests.Postgres;

/// <summary>
/// The server drops ferry's connection in the middle of a run (pg_terminate_backend): the batch in
/// flight is rolled back by the server, and ferry reconnects and resumes the same run from its last
/// committed batch (Polly), ending as an uninterrupted run would.
/// </summary>
public class PgDroppedConnectionTests
{
    private const int Rows = 4000;
    private const int BatchSize = 50;

    [Fact]
    public async Task A_run_whose_connection_is_terminated_twice_mid_run_resumes_by_itself_and_ends_succeeded_and_equal()
    {
        var data = ResumeKit.Second(Rows, rejects: false);

        using var reference = new PgScope("drop");
        reference.Workspace.Write("data/requests.csv", ResumeKit.First);
        reference.Workspace.Write("ferry.yaml", PgFoi.Manifest(reference.Schema, batchSize: BatchSize, check: false));
        Assert.Equal(0, (await reference.Workspace.Ferry("run", "ferry.yaml")).ExitCode);
        reference.Workspace.Write("data/requests.csv", data);
        Assert.Equal(0, (await reference.Workspace.Ferry("run", "ferry.yaml")).ExitCode);
        var expected = ResumeKit.Image(reference, Pg.Runs(reference.Manifest())[^1].RunId);

        // Its own application name, so that only this test's ferry sessions are terminated, not those of
        // tests running alongside (ferry's own default is 'ferry').
        var application = "ferry-drop-" + Guid.NewGuid().ToString("N")[..8];
        using var pg = new PgScope("drop");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", ResumeKit.First);
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: BatchSize, connection: $"${{FERRY_TEST_PG}};Application Name={application}", check: false));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        ws.Write("data/requests.csv", data);

        // It stops itself after its 5th and 20th batches; each time the test drops its connection and lets it go on.
        using var ferry = FerryProcess.Start(ws, new Dictionary<string, string?> { [FaultInjection.PauseVariable] = "postgres.after-commit:5, postgres.after-commit:20" },
            "run", "ferry.yaml");
        long? run = null;
        var dropsAt = new List<long>();
        for (var drop = 0; drop < 2; drop++)
        {
            Assert.True(await ferry.WaitPausedAsync(TimeSpan.FromMinutes(1)), "ferry never paused for its connection to be dropped");
            run ??= ResumeKit.RunningRun(pg.Manifest());
            // In the select list, so that only the sessions the WHERE clause chose are terminated.
            var terminated = Pg.Query("SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name = @a", ("a", application));
            Assert.Equal([true], terminated.Select(r => (bool)r["done"]!));
            dropsAt.Add(ResumeKit.CommittedBatches(run!.Value));
            ferry.Signal("CONT");
        }

        var result = await ferry.WaitAsync(TimeSpan.FromMinutes(2));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(2, Regex.Matches(result.Output, $"run {run} resumed").Count);
        Assert.True(dropsAt[0] < dropsAt[1] && dropsAt[1] < expected.Batches.Count, string.Join(", ", dropsAt));
        var runs = Pg.Runs(pg.Manifest());
        Assert.Equal(2, runs.Count);
        Assert.Equal((run!.Value, "succeeded"), (runs[1].RunId, runs[1].Status));
        ResumeKit.AssertLedgerConsistent(run.Value);
        ResumeKit.AssertSame(expected, ResumeKit.Image(pg, run.Value));
    }

    [Fact]
    public async Task A_connection_lost_before_a_restarted_run_began_does_not_resume_the_old_run_instead()
    {
        var application = "ferry-drop-" + Guid.NewGuid().ToString("N")[..8];
        using var pg = new PgScope("drst");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 500)));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 100, connection: $"${{FERRY_TEST_PG}};Application Name={application}", check: false));
        var killed = await FerryProcess.RunAsync(ws, new Dictionary<string, string?> { ["FERRY_FAULT"] = "postgres.after-commit:2" }, "run", "ferry.yaml");
        Assert.True(killed.ExitCode == 137, killed.ToString());
        var old = Assert.Single(Pg.Runs(pg.Manifest()));
        Assert.Equal("running", old.Status);

        // --restart: the interrupted run is to be marked failed and a new one started. The test holds the
        // old run's ledger row, so ferry waits there, and drops ferry's connection while it does.
        await using var holder = Pg.Open();
        await using (var hold = new NpgsqlCommand("BEGIN; SELECT 1 FROM ferry.runs WHERE run_id = @r FOR UPDATE", holder))
        {
            hold.Parameters.AddWithValue("r", old.RunId);
            await hold.ExecuteNonQueryAsync();
        }
        using var ferry = FerryProcess.Start(ws, null, "run", "ferry.yaml", "--restart");
        var clock = Stopwatch.StartNew();
        while (Pg.Count("SELECT count(*) FROM pg_stat_activity WHERE application_name = @a AND wait_event_type = 'Lock'", ("a", application)) == 0)
        {
            Assert.False(ferry.HasExited || clock.Elapsed > TimeSpan.FromMinutes(1), "ferry never waited for the old run's row");
            await Task.Delay(10);
        }
        var terminated = Pg.Query("SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name = @a", ("a", application));
        Assert.Equal([true], terminated.Select(r => (bool)r["done"]!));
        await using (var release = new NpgsqlCommand("ROLLBACK", holder))
            await release.ExecuteNonQueryAsync();

        var result = await ferry.WaitAsync(TimeSpan.FromMinutes(2));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.DoesNotContain("resumed", result.Output, StringComparison.Ordinal);
        var runs = Pg.Runs(pg.Manifest());
        Assert.Equal(2, runs.Count);
        Assert.Equal((old.RunId, "failed"), (runs[0].RunId, runs[0].Status));
        Assert.Equal("succeeded", runs[1].Status);
        Assert.Equal(new LedgerCounts(500, 300, 0, 200, 0, 0), Pg.Counts(runs[1].RunId)); // from line 1: the killed run had committed two batches
        ResumeKit.AssertLedgerConsistent(runs[1].RunId);
        Assert.Equal(500, pg.Count());
    }
}
