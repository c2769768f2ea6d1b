using System.Diagnostics;
using Ferry.Tests.Support;
using Xunit.Abstractions;

namespace Ferry.Tests.Postgres;

/// <summary>kill -9 from outside, at moments nobody chose, again and again until the run gets through.</summary>
public class PgRandomKillTests(ITestOutputHelper output)
{
    private const int Rows = 20000; // 400 batches: enough of a load for each kill to land inside it however fast batches commit
    private const int BatchSize = 50;
    private const int Kills = 4;

    [Fact]
    public async Task A_run_killed_with_kill_9_at_random_moments_until_it_completes_equals_an_uninterrupted_run()
    {
        var data = ResumeKit.Second(Rows);

        using var reference = new PgScope("rnd");
        reference.Workspace.Write("data/requests.csv", ResumeKit.First);
        reference.Workspace.Write("ferry.yaml", PgFoi.Manifest(reference.Schema, batchSize: BatchSize, check: false));
        Assert.Equal(0, (await reference.Workspace.Ferry("run", "ferry.yaml")).ExitCode);
        reference.Workspace.Write("data/requests.csv", data);
        Assert.Equal(3, (await reference.Workspace.Ferry("run", "ferry.yaml")).ExitCode);
        var expected = ResumeKit.Image(reference, Pg.Runs(reference.Manifest())[^1].RunId);
        var totalBatches = expected.Batches.Count;

        using var pg = new PgScope("rnd");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", ResumeKit.First);
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: BatchSize, check: false));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        ws.Write("data/requests.csv", data);

        var seed = Environment.TickCount;
        output.WriteLine($"random seed {seed}");
        var random = new Random(seed);
        var midRunKills = 0;
        long? runId = null;
        CliResult? finished = null;
        for (var attempt = 1; attempt <= Kills + 10 && finished is null; attempt++)
        {
            using var ferry = FerryProcess.Start(ws, null, "run", "ferry.yaml");
            if (midRunKills >= Kills)
            {
                finished = await ferry.WaitAsync(TimeSpan.FromMinutes(2));
                break;
            }
            // Wait for a random number of batches more than the last kill left, then a random few
            // milliseconds more, so the kill lands anywhere inside a batch.
            runId ??= await WaitForAsync(() => ResumeKit.RunningRun(pg.Manifest()), ferry);
            if (runId is null)
            {
                finished = await ferry.WaitAsync(TimeSpan.FromMinutes(2));
                break;
            }
            var committed = ResumeKit.CommittedBatches(runId.Value);
            var target = committed + random.Next(1, Math.Max(2, (int)(totalBatches - committed) / (Kills - midRunKills + 1)));
            await WaitForAsync(() => ResumeKit.CommittedBatches(runId.Value) >= target ? true : (bool?)null, ferry);
            await Task.Delay(random.Next(0, 15));
            var before = ResumeKit.CommittedBatches(runId.Value);
            var killed = await ferry.KillAsync();
            if (killed.ExitCode != 137)
            {
                finished = killed; // it ended on its own before the kill
                break;
            }
            var at = ResumeKit.CommittedBatches(runId.Value);
            output.WriteLine($"attempt {attempt}: killed with {at} of {totalBatches} batches committed");
            Assert.True(at >= before, $"killed with {at} of {totalBatches} batches committed, {before} before the kill");
            // Killed after its last batch, while the run was finishing: a moment to resume from too,
            // but not one inside the load, which is what the kills are counted for.
            if (at < totalBatches)
                midRunKills++;
        }

        Assert.NotNull(finished);
        Assert.True(finished.ExitCode == 3, finished.ToString());
        Assert.True(midRunKills >= Kills, $"only {midRunKills} kill(s) landed while the run was loading");
        Assert.Contains($"run {runId} resumed", finished.Output);
        var runs = Pg.Runs(pg.Manifest());
        Assert.Equal(2, runs.Count);
        Assert.Equal((runId!.Value, "partial"), (runs[1].RunId, runs[1].Status));
        ResumeKit.AssertLedgerConsistent(runId.Value);
        ResumeKit.AssertSame(expected, ResumeKit.Image(pg, runId.Value));
    }

    /// <summary>Polls until <paramref name="probe"/> gives a value, or the process ends (null), within a minute.</summary>
    private static async Task<T?> WaitForAsync<T>(Func<T?> probe, FerryProcess process) where T : struct
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(1))
        {
            if (probe() is { } value)
                return value;
            if (process.HasExited)
                return null;
            await Task.Delay(5);
        }
        Assert.Fail("ferry made no progress within a minute");
        return null;
    }
}
