using Ferry.Diagnostics;
using Ferry.Engine;
using Spectre.Console;

namespace Ferry.Cli.Output;

/// <summary>Collects the first rejected rows and prints the summary table at the end of a run.</summary>
internal sealed class RunSummaryObserver : IRunObserver
{
    private const int Shown = 20;
    private readonly List<string> rejects = [];
    private long rejected;

    public void RunStarted(RunContext run) { }
    public void EntityStarted(RunContext run, EntityPlan entity, string origin, Targets.EntityCheckpoint? resumedFrom) { }
    public void BatchCommitted(RunContext run, EntityPlan entity, int batch, EntityCounts batchCounts, EntityCounts totals, double? progress) { }
    public void EntityFinished(RunContext run, EntityPlan entity, EntityCounts totals) { }
    public void RunFinished(RunContext run, RunResult result) { }

    public void RowRejected(RunContext run, EntityPlan entity, int batch, BatchRow row, string origin)
    {
        if (++rejected > Shown)
            return;
        var issues = row.Issues.Where(i => i.RejectsRow).Select(i => i.ToString());
        rejects.Add($"{origin}:{row.Line}: {string.Join("; ", issues)}");
    }

    public void Print(CliConsole console, RunResult result)
    {
        // A dry run's counts are what the run would have done: nothing was written.
        var would = result.DryRun ? "would be " : "";
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumns("entity", "read", would + "inserted", would + "updated", "unchanged", would + "rejected", "warnings");
        foreach (var column in table.Columns.Skip(1))
            column.RightAligned();
        var rows = result.Tenants.Count > 0
            ? result.Tenants.Select(t => ($"{t.Entity} ({t.Tenant})", t.Counts))
            : result.Entities.Select(e => (e.Key, e.Value));
        foreach (var (entity, c) in rows)
            table.AddRow(Markup.Escape(entity), $"{c.RowsRead:N0}", $"{c.Inserted:N0}", $"{c.Updated:N0}", $"{c.Unchanged:N0}", $"{c.Rejected:N0}", $"{c.Warnings:N0}");
        console.Ansi.Write(table);

        if (rejects.Count > 0)
        {
            console.Ansi.WriteLine($"Rejected rows ({rejected:N0}):");
            foreach (var line in rejects)
                console.Ansi.WriteLine("  " + SecretMasker.Scrub(line));
            if (rejected > Shown)
                console.Ansi.WriteLine($"  … and {rejected - Shown:N0} more: ferry rejects list --run {result.RunId}");
        }
        var seconds = (result.FinishedAt - result.StartedAt).TotalSeconds;
        var outcome = result.Status.ToString().ToLowerInvariant();
        var what = result.DryRun ? "dry run (nothing was written; the counts are what a run would insert, update and reject)" : result.Resumed ? $"run {result.RunId} (resumed)" : $"run {result.RunId}";
        console.Ansi.WriteLine($"{what}: {outcome} in {seconds:F1} s");
        if (result.Error is not null)
            console.Error.WriteLine($"error: {SecretMasker.Scrub(result.Error)}");
    }
}
