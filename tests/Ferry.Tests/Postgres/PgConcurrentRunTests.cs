using Ferry.Diagnostics;
using System.Diagnostics;
using System.Globalization;
using Ferry.Tests.EndToEnd;
using Ferry.Tests.Support;
using Npgsql;

namespace Ferry.Tests.Postgres;

/// <summary>One run of a manifest at a time: a second is refused at once, naming the run in the way.</summary>
public class PgConcurrentRunTests
{
    /// <summary>"At once": a refusal that waited for the first run to finish would take far longer than this.</summary>
    private static readonly TimeSpan AtOnce = TimeSpan.FromSeconds(15);

    private static async Task<(CliResult Result, TimeSpan Took)> TimedAsync(Func<Task<CliResult>> run)
    {
        var clock = Stopwatch.StartNew();
        var task = run();
        var finished = await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(60)));
        Assert.True(finished == task, "the second run neither ran nor was refused within a minute: it waits for the first");
        return (await task, clock.Elapsed);
    }

    [Fact]
    public async Task A_second_run_while_the_run_lock_is_held_is_refused_at_once_naming_the_running_run()
    {
        using var pg = new PgScope("lock");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 5)));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, check: false));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var first = Assert.Single(Pg.Runs(pg.Manifest())).RunId;
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 9)));
        var before = pg.Dump();

        // Another ferry, as far as the ledger can tell: it holds the manifest's run lock and its run is marked running.
        long holder;
        await using (var session = Pg.Open())
        {
            await using (var locking = new NpgsqlCommand($"SELECT pg_advisory_lock({Pg.RunLockClass}, hashtext(@m))", session))
            {
                locking.Parameters.AddWithValue("m", pg.Manifest());
                await locking.ExecuteNonQueryAsync();
            }
            await using (var run = new NpgsqlCommand("""
                INSERT INTO ferry.runs (name, manifest, source, source_fingerprint, correlation_id, status, host, pid)
                VALUES ('foi-import', @m, 'data/requests.csv', '', 'elsewhere', 'running', 'batch-host-7', 4242) RETURNING run_id
                """, session))
            {
                run.Parameters.AddWithValue("m", pg.Manifest());
                holder = (long)(await run.ExecuteScalarAsync())!;
            }

            var (second, took) = await TimedAsync(() => ws.Ferry("run", "ferry.yaml"));

            Assert.True(second.ExitCode == 1, second.ToString());
            Assert.Contains($"run {holder} (process 4242 on batch-host-7, started ", second.Error);
            Assert.Contains("a second run is refused", second.Error);
            Assert.True(took < AtOnce, $"the refusal took {took}");
            Assert.Equal(before, pg.Dump());
            Assert.Equal([first, holder], Pg.Runs(pg.Manifest()).Select(r => r.RunId));

            // Nor can a run be rolled back under its feet.
            var rollback = await ws.Ferry("rollback", first.ToString(CultureInfo.InvariantCulture), "ferry.yaml");
            Assert.True(rollback.ExitCode == 1, rollback.ToString());
            Assert.Contains("a run of this manifest is loading the target right now", rollback.Error);
            Assert.Equal(before, pg.Dump());
        }

        // The lock went with its session; once that run is settled the manifest runs again.
        Pg.Execute("UPDATE ferry.runs SET status = 'failed' WHERE run_id = @r", ("r", holder));
        var third = await ws.Ferry("run", "ferry.yaml");
        Assert.True(third.ExitCode == 0, third.ToString());
        Assert.Equal(9, pg.Count());
    }

    [Fact]
    public async Task A_run_frees_its_lock_when_it_ends_even_while_the_server_is_still_closing_its_session()
    {
        using var pg = new PgScope("unl");
        var ws = pg.Workspace;
        // An entity name of its own, so that ferry's temporary work table is this test's alone.
        var entity = "foi_" + Guid.NewGuid().ToString("N")[..10];
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 5)));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, check: false).Replace("- name: foi_request", $"- name: {entity}", StringComparison.Ordinal));
        var manifest = Ferry.Manifest.ManifestLoader.Load(ws.PathOf("ferry.yaml"));
        await using var holder = Pg.Open();
        var observer = new HoldWorkTableAtFinish(holder, $"ferry_work_{entity}", pg.Manifest());

        var result = await Ferry.Engine.RunEngine.RunAsync(manifest, new Ferry.Engine.RunOptions(), observer, CancellationToken.None);

        Assert.Equal(Ferry.Engine.RunStatus.Succeeded, result.Status);
        // The run's session cannot end yet: dropping its temporary table waits for the test's lock on it.
        Assert.NotNull(observer.FerryBackend);
        Assert.Equal(1, Pg.Count("SELECT count(*) FROM pg_stat_activity WHERE pid = @p", ("p", observer.FerryBackend!.Value)));
        // Yet the run lock is free at once: a rollback (or run) started right after the run ended is not refused.
        Assert.Equal(0, Pg.Count($"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = @p", ("p", observer.FerryBackend.Value)));
        var rollback = await ws.Ferry("rollback", result.RunId.ToString(CultureInfo.InvariantCulture), "ferry.yaml");
        Assert.True(rollback.ExitCode == 0, rollback.ToString());
        var again = await ws.Ferry("run", "ferry.yaml");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(5, pg.Count());

        await using (var commit = new NpgsqlCommand("COMMIT", holder))
            await commit.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task A_run_after_a_kill_waits_for_the_dead_process_session_to_end_instead_of_being_refused()
    {
        using var pg = new PgScope("dead");
        var ws = pg.Workspace;
        var entity = "foi_" + Guid.NewGuid().ToString("N")[..10];
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 3000)));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 50, check: false).Replace("- name: foi_request", $"- name: {entity}", StringComparison.Ordinal));
        await using var holder = Pg.Open();

        using (var first = FerryProcess.Start(ws, new Dictionary<string, string?> { [FaultInjection.PauseVariable] = "postgres.after-commit:3" }, "run", "ferry.yaml"))
        {
            // It stops itself once its third batch is loaded; the test takes a lock on its temporary work
            // table (which its session must drop before it can end), then kills it: the server keeps the
            // dead process's session, and its run lock, meanwhile.
            Assert.True(await first.WaitPausedAsync(TimeSpan.FromMinutes(1)), "the run never paused mid-load");
            Assert.Equal(3, ResumeKit.CommittedBatches(ResumeKit.RunningRun(pg.Manifest())!.Value));
            var table = (string)Pg.Scalar("""
                SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relname = @t AND c.relpersistence = 't'
                """, ("t", $"ferry_work_{entity}"))!;
            await using (var locking = new NpgsqlCommand($"SET lock_timeout = '20s'; BEGIN; LOCK TABLE {table} IN ACCESS SHARE MODE", holder))
                await locking.ExecuteNonQueryAsync();
            Assert.Equal(137, (await first.KillAsync()).ExitCode);
        }
        await Task.Delay(500);
        Assert.Equal(1, Pg.Count($"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = {Pg.RunLockClass} AND objid = (hashtext(@m)::bigint & 4294967295)::oid",
            ("m", pg.Manifest())));
        var interrupted = Assert.Single(Pg.Runs(pg.Manifest()));
        Assert.Equal("running", interrupted.Status);

        // The session ends two seconds later, when the test lets go of the table.
        var release = Task.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(2));
            await using var commit = new NpgsqlCommand("COMMIT", holder);
            await commit.ExecuteNonQueryAsync();
        });
        var clockAgain = Stopwatch.StartNew();
        var again = await ws.Ferry("run", "ferry.yaml");
        await release;

        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.True(clockAgain.Elapsed >= TimeSpan.FromSeconds(1.5), $"the run went ahead after {clockAgain.Elapsed} while the lock was still held");
        Assert.Contains($"run {interrupted.RunId} resumed", again.Output);
        Assert.Equal((interrupted.RunId, "succeeded"), (Assert.Single(Pg.Runs(pg.Manifest())).RunId, Pg.Runs(pg.Manifest())[0].Status));
        Assert.Equal(3000, pg.Count());
        Assert.Equal(new LedgerCounts(3000, 3000, 0, 0, 0, 0), Pg.Counts(interrupted.RunId, entity));
    }

    /// <summary>
    /// When the run has finished (its connection not yet closed), takes a lock on ferry's temporary
    /// work table from another session and keeps it: the server cannot finish closing ferry's session
    /// (it must drop that table first) until the test lets go.
    /// </summary>
    private sealed class HoldWorkTableAtFinish(NpgsqlConnection holder, string workTable, string manifestPath) : Ferry.Engine.IRunObserver
    {
        public int? FerryBackend { get; private set; }

        public void RunFinished(Ferry.Engine.RunContext run, Ferry.Engine.RunResult result)
        {
            using (var find = new NpgsqlCommand("""
                SELECT l.pid FROM pg_locks l
                WHERE l.locktype = 'advisory' AND l.classid = @class AND l.objid = (hashtext(@m)::bigint & 4294967295)::oid AND l.granted
                """, holder))
            {
                find.Parameters.AddWithValue("class", (long)Pg.RunLockClass);
                find.Parameters.AddWithValue("m", manifestPath);
                FerryBackend = (int?)find.ExecuteScalar();
            }
            string table;
            using (var name = new NpgsqlCommand("""
                SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relname = @t AND c.relpersistence = 't'
                """, holder))
            {
                name.Parameters.AddWithValue("t", workTable);
                table = (string)name.ExecuteScalar()!;
            }
            using var locking = new NpgsqlCommand($"BEGIN; LOCK TABLE {table} IN ACCESS SHARE MODE", holder);
            locking.ExecuteNonQuery();
        }

        public void RunStarted(Ferry.Engine.RunContext run) { }
        public void EntityStarted(Ferry.Engine.RunContext run, Ferry.Engine.EntityPlan entity, string origin, Ferry.Targets.EntityCheckpoint? resumedFrom) { }
        public void RowRejected(Ferry.Engine.RunContext run, Ferry.Engine.EntityPlan entity, int batch, Ferry.Engine.BatchRow row, string origin) { }
        public void BatchCommitted(Ferry.Engine.RunContext run, Ferry.Engine.EntityPlan entity, int batch, Ferry.Engine.EntityCounts batchCounts, Ferry.Engine.EntityCounts totals, double? progress) { }
        public void EntityFinished(Ferry.Engine.RunContext run, Ferry.Engine.EntityPlan entity, Ferry.Engine.EntityCounts totals) { }
    }

    [Theory]
    [InlineData("upsert")]
    [InlineData("replace")] // one transaction for the whole load: the ledger tables are written all along
    public async Task A_second_run_while_a_real_run_is_loading_is_refused_at_once_and_another_manifest_still_runs(string mode)
    {
        using var pg = new PgScope("busy");
        var ws = pg.Workspace;
        const int rows = 20000; // enough batches that the test catches the first run while it loads
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, rows)));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, mode: mode, batchSize: 50, check: false));
        using var other = new PgScope("busyo");
        other.Workspace.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 20)));
        other.Workspace.Write("ferry.yaml", PgFoi.Manifest(other.Schema, mode: mode, check: false));

        // The first run stops itself once its third batch is loaded: frozen mid-run, its session (and lock) open.
        using var first = FerryProcess.Start(ws, new Dictionary<string, string?> { [FaultInjection.PauseVariable] = "postgres.after-commit:3" }, "run", "ferry.yaml");
        Assert.True(await first.WaitPausedAsync(TimeSpan.FromMinutes(1)), "the first run never paused mid-load");
        var run = ResumeKit.RunningRun(pg.Manifest());
        Assert.NotNull(run);
        // Loading: batches committed (upsert), or the table truncated by the replace's one transaction (its
        // batches are not visible outside it, but its lock on the table is).
        Assert.True(mode == "replace"
            ? Pg.Count("SELECT count(*) FROM pg_locks WHERE relation = to_regclass(@t) AND mode = 'AccessExclusiveLock' AND granted", ("t", $"\"{pg.Schema}\".foi_request")) > 0
            : ResumeKit.CommittedBatches(run.Value) == 3);
        try
        {
            var (second, took) = await TimedAsync(() => ws.Ferry("run", "ferry.yaml"));
            Assert.True(second.ExitCode == 1, second.ToString());
            Assert.Contains($"run {run} (process {first.Id} on {Environment.MachineName}, started ", second.Error);
            Assert.Contains("a second run is refused", second.Error);
            Assert.True(took < AtOnce, $"the refusal took {took}");

            // A run of another manifest into the same database goes ahead meanwhile.
            var (elsewhere, _) = await TimedAsync(() => other.Workspace.Ferry("run", "ferry.yaml"));
            Assert.True(elsewhere.ExitCode == 0, elsewhere.ToString());
            Assert.Equal(20, other.Count());
        }
        finally
        {
            first.Signal("CONT");
        }

        var done = await first.WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(done.ExitCode == 0, done.ToString());
        Assert.Equal(rows, pg.Count());
        var runs = Pg.Runs(pg.Manifest());
        Assert.Equal((run!.Value, "succeeded"), (Assert.Single(runs).RunId, runs[0].Status));
        Assert.Equal(new LedgerCounts(rows, rows, 0, 0, 0, 0), Pg.Counts(run.Value));
    }
}
