using System.Globalization;
using Ferry.Tests.EndToEnd;

namespace Ferry.Tests.Postgres;

/// <summary>
/// The two files of the crash tests: a first load, then a second file that inserts, updates,
/// leaves rows unchanged, warns and rejects, with a duplicate key late in the file that the unique
/// rule can only catch if a resumed run has seen the rows before its checkpoint again.
/// </summary>
internal static class ResumeKit
{
    public const int FirstRows = 300;

    public static string First => Foi.Csv(Foi.Rows(1, FirstRows));

    /// <param name="rejects">With rejected rows (the run ends partial) or without (it ends succeeded).</param>
    public static string Second(int count, bool rejects = true)
    {
        var lines = new List<string>(count);
        for (var i = 1; i <= count; i++)
        {
            if (rejects && i == count - 50)
                lines.Add(Foi.Row(150, summary: "a late duplicate of line 151")); // unique: rejected
            else if (rejects && i % 97 == 0)
                lines.Add(Foi.Row(i, status: "lost"));
            else if (i <= FirstRows && i % 4 == 0)
                lines.Add(Foi.Row(i, summary: $"Updated summary {i}", fee: $"{i % 7}.25"));
            else if (i % 50 == 0)
            {
                var fields = Foi.Row(i).Split(',');
                fields[5] = "200000"; // pages out of range: a warning, the row loads
                lines.Add(string.Join(',', fields));
            }
            else
                lines.Add(Foi.Row(i));
        }
        return Foi.Csv(lines);
    }

    /// <summary>Everything a run left in the ledger and target, to compare two runs of the same files.</summary>
    public static RunImage Image(PgScope pg, long runId) => new(
        pg.Dump(),
        Pg.Counts(runId),
        Pg.Query("""
            SELECT batch_no, first_line, last_line, rows_read, inserted, updated, unchanged, rejected, warnings
            FROM ferry.batches WHERE run_id = @r AND entity = 'foi_request' ORDER BY batch_no
            """, ("r", runId)).Select(Line).ToList(),
        Pg.Query("""
            SELECT line, business_key, status, raw::text AS raw, errors::text AS errors, warnings::text AS warnings, batch_no
            FROM ferry."stage_foi_request" WHERE run_id = @r ORDER BY line, stage_id
            """, ("r", runId)).Select(Line).ToList(),
        Pg.Query("""
            SELECT batch_no, action::text AS action, business_key, before::text AS before, keys::text AS keys
            FROM ferry.undo WHERE run_id = @r AND entity = 'foi_request' ORDER BY batch_no, action, business_key, before::text, keys::text
            """, ("r", runId)).Select(Line).ToList());

    private static string Line(Dictionary<string, object?> row) =>
        string.Join(" | ", row.Select(p => $"{p.Key}={Convert.ToString(p.Value, CultureInfo.InvariantCulture) ?? "NULL"}"));

    /// <summary>
    /// Asserts that a run that was killed and resumed left exactly what the uninterrupted run left:
    /// the table row for row, the counts, every batch with its lines, every staging row once, and the
    /// undo log (so that rolling it back is exact too).
    /// </summary>
    public static void AssertSame(RunImage expected, RunImage actual)
    {
        Assert.Equal(expected.Counts, actual.Counts);
        Assert.Equal(expected.Batches, actual.Batches);
        Assert.Equal(expected.Staging.Count, actual.Staging.Count);
        Assert.Equal(expected.Staging, actual.Staging);
        Assert.Equal(expected.Undo.Count, actual.Undo.Count);
        Assert.Equal(expected.Undo, actual.Undo);
        Assert.Equal(expected.Table.Count, actual.Table.Count);
        Assert.Equal(expected.Table, actual.Table);
    }

    /// <summary>No staging line twice, none left pending, and the ledger's totals are its batches' sums.</summary>
    public static void AssertLedgerConsistent(long runId)
    {
        Assert.Empty(Pg.Query("""SELECT line FROM ferry."stage_foi_request" WHERE run_id = @r GROUP BY line HAVING count(*) > 1""", ("r", runId)));
        Assert.Equal(0, Pg.Count("""SELECT count(*) FROM ferry."stage_foi_request" WHERE run_id = @r AND status = 'pending'""", ("r", runId)));
        Assert.Empty(Pg.Query("SELECT k FROM ferry.undo, unnest(keys) k WHERE run_id = @r AND action = 'i' GROUP BY k HAVING count(*) > 1", ("r", runId)));
        Assert.Equal(Pg.Counts(runId), Pg.BatchTotals(runId));
        Assert.Equal(0, Pg.Count("SELECT count(*) FROM ferry.batches WHERE run_id = @r AND state <> 'committed'", ("r", runId)));
        var numbers = Pg.Query("SELECT batch_no FROM ferry.batches WHERE run_id = @r ORDER BY batch_no", ("r", runId)).Select(r => (int)r["batch_no"]!).ToList();
        Assert.Equal(Enumerable.Range(1, numbers.Count), numbers);
    }

    /// <summary>The run of a manifest still marked running (the one a kill interrupted).</summary>
    public static long? RunningRun(string manifest) =>
        Pg.Runs(manifest).LastOrDefault(r => r.Status == "running")?.RunId;

    public static long CommittedBatches(long runId) => Pg.Count("SELECT count(*) FROM ferry.batches WHERE run_id = @r AND state = 'committed'", ("r", runId));
}

internal sealed record RunImage(List<string> Table, LedgerCounts Counts, List<string> Batches, List<string> Staging, List<string> Undo);

/// <summary>
/// The uninterrupted reference: the same two files loaded by the same manifest (but for its schema)
/// without any crash, once for a whole test class.
/// </summary>
public sealed class ResumeBaseline : IAsyncLifetime
{
    public const int SecondRows = 1200;
    public const int BatchSize = 200;

    private PgScope? pg;

    internal RunImage Second { get; private set; } = null!;

    internal List<string> AfterFirst { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        pg = new PgScope("base");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", ResumeKit.First);
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: BatchSize));
        var first = await ws.Ferry("run", "ferry.yaml");
        Assert.True(first.ExitCode == 0, first.ToString());
        AfterFirst = pg.Dump();
        ws.Write("data/requests.csv", ResumeKit.Second(SecondRows));
        var second = await ws.Ferry("run", "ferry.yaml");
        Assert.True(second.ExitCode == 3, second.ToString());
        var run = Pg.Runs(pg.Manifest())[^1];
        Assert.Equal("partial", run.Status);
        Second = ResumeKit.Image(pg, run.RunId);
        // The files do what the tests rely on: every kind of outcome, in every batch.
        Assert.True(Second.Counts is { Inserted: > 0, Updated: > 0, Unchanged: > 0, Rejected: > 0, Warnings: > 0 }, Second.Counts.ToString());
        Assert.Equal(SecondRows / BatchSize, Second.Batches.Count);
    }

    public Task DisposeAsync()
    {
        pg?.Dispose();
        return Task.CompletedTask;
    }
}
