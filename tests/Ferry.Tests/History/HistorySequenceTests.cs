using System.Globalization;

namespace Ferry.Tests.History;

/// <summary>
/// The history's invariants under any sequence of loads, re-runs, older files and rollbacks (a fixed
/// seed), and exactly-once batches when the process is killed and the run resumed.
/// </summary>
public class HistorySequenceTests
{
    private static List<Citizen> Month(Random random, List<Citizen> previous)
    {
        var next = new List<Citizen>();
        for (var id = 1; id <= 30; id++)
        {
            if (random.Next(10) == 0)
                continue; // absent this month
            var last = previous.Find(c => c.Id == id) ?? new Citizen(id, $"N{id}", "C0", "P0");
            next.Add(last with
            {
                City = random.Next(5) == 0 ? $"C{random.Next(100)}" : last.City,
                Phone = random.Next(5) == 0 ? $"P{random.Next(100)}" : last.Phone,
            });
        }
        return next;
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Any_sequence_of_loads_reruns_older_files_and_rollbacks_keeps_one_current_version_per_key_and_rollbacks_exact(string kind)
    {
        using var target = new HistoryTarget(kind);
        target.WriteManifest("delete", batchSize: 7);
        var random = new Random(20260301);
        var files = new List<(List<Citizen> Rows, string AsOf)>();
        var undo = new Stack<(int Nth, List<string> Before)>(); // runs not rolled back, newest on top, with the table before each
        var runs = 0;
        var month = 0;
        var kinds = new int[4];
        for (var step = 0; step < 14; step++)
        {
            var choice = files.Count == 0 ? 0 : random.Next(4);
            kinds[choice]++;
            if (choice == 3 && undo.Count > 0)
            {
                var (nth, before) = undo.Pop();
                var rolledBack = await target.Rollback(nth);
                Assert.True(rolledBack.ExitCode == 0, $"step {step}: {rolledBack}");
                Assert.Equal(before, target.Dump());
            }
            else
            {
                (List<Citizen> Rows, string AsOf) file = choice switch
                {
                    1 => files[^1],                            // the same file again
                    2 => files[random.Next(files.Count)],      // an older (or the same) file
                    _ => (Month(random, files.Count == 0 ? [] : files[^1].Rows), new DateOnly(2026, 1, 1).AddMonths(month++).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)),
                };
                if (choice == 0 || choice == 3)
                    files.Add(file);
                target.WriteFile(file.Rows);
                var before = target.Dump();
                var loaded = await target.Load(file.AsOf);
                Assert.True(loaded.ExitCode is 0 or 3, $"step {step}: {loaded}");
                undo.Push((++runs, before));
                if (choice == 1)
                    Assert.Equal(before, target.Dump()); // a re-run changes nothing
            }
            target.AssertConsistent();
        }
        Assert.All(kinds, k => Assert.True(k > 0, $"the seed exercises every kind of step: {string.Join(", ", kinds)}"));
        // Everything rolled back, newest first: the table is empty again.
        while (undo.Count > 0)
        {
            var (nth, before) = undo.Pop();
            var rolledBack = await target.Rollback(nth);
            Assert.True(rolledBack.ExitCode == 0, rolledBack.ToString());
            Assert.Equal(before, target.Dump());
            target.AssertConsistent();
        }
        Assert.Equal(0, target.Count("SELECT count(*) FROM {t}"));
    }

    [Theory]
    [InlineData("sqlite", "sqlite.before-commit:2")]
    [InlineData("sqlite", "sqlite.after-commit:2")]
    [InlineData("sqlite", "sqlite.missing-before-commit:0")]
    [InlineData("postgres", "postgres.before-commit:2")]
    [InlineData("postgres", "postgres.after-commit:2")]
    [InlineData("postgres", "postgres.missing-before-commit:0")]
    public async Task A_run_killed_mid_history_resumes_to_the_history_an_uninterrupted_run_gives(string kind, string fault)
    {
        var random = new Random(7);
        var january = Month(random, []);
        var february = Month(random, january);

        using var baseline = new HistoryTarget(kind);
        baseline.WriteManifest("delete", batchSize: 5);
        baseline.WriteFile(january);
        Assert.Equal(0, (await baseline.Load("2026-01-01")).ExitCode);
        baseline.WriteFile(february);
        Assert.Equal(0, (await baseline.Load("2026-02-01")).ExitCode);

        using var target = new HistoryTarget(kind);
        target.WriteManifest("delete", batchSize: 5);
        target.WriteFile(january);
        Assert.Equal(0, (await target.Load("2026-01-01")).ExitCode);
        target.WriteFile(february);

        var killed = await target.LoadInProcessOfItsOwn("2026-02-01", fault);
        Assert.True(killed.ExitCode == 137, killed.ToString());
        Assert.Contains("fault injected", killed.Error, StringComparison.Ordinal);
        Assert.Equal("running", target.Runs()[^1].Status);

        // Resumed without --as-of: the run keeps the as-of time it began with.
        var resumed = await target.LoadInProcessOfItsOwn(null, null);

        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Equal(2, target.Runs().Count);
        Assert.Equal(baseline.Counts(2), target.Counts(2));
        Assert.Equal(baseline.Dump(versionIds: false), target.Dump(versionIds: false));
        string Changes(HistoryTarget t) => string.Join("\n", t.Query(
                $"SELECT batch_no, action, keys FROM {t.Ledger("history_changes")} WHERE run_id = {t.RunId(2)} ORDER BY batch_no, action")
            .Select(r => $"{r["batch_no"]} {r["action"]} {(r["keys"] is string[] keys ? string.Join(",", keys) : HistoryTarget.Text(r["keys"]).Replace("\"", "", StringComparison.Ordinal).Trim('[', ']'))}"));
        Assert.Equal(Changes(baseline), Changes(target));
        target.AssertConsistent();

        // And its change ledger is whole: rolling it back gives January's history.
        var rolledBack = await target.Rollback(2);
        Assert.True(rolledBack.ExitCode == 0, rolledBack.ToString());
        Assert.Equal(0, target.Count("SELECT count(*) FROM {t} WHERE valid_from > '2026-01-15' OR valid_to IS NOT NULL OR NOT is_current"));
    }
}
