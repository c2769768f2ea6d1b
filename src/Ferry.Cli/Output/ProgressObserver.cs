using System.Diagnostics;
using Ferry.Diagnostics;
using Ferry.Engine;
using Ferry.Targets;
using Spectre.Console;

namespace Ferry.Cli.Output;

/// <summary>
/// Shows a run's progress: on a terminal, a bar per entity with rows, rows/s and time remaining;
/// otherwise a plain line every few seconds and at the end of each entity.
/// </summary>
internal sealed class ProgressObserver(CliConsole console) : IRunObserver
{
    private static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(5);
    private readonly Dictionary<string, (ProgressTask? Task, Stopwatch Clock)> entities = [];
    private ProgressContext? context;
    private TimeSpan lastPlain;

    /// <summary>Runs <paramref name="run"/> under a live progress display when a person is watching.</summary>
    public async Task<T> WrapAsync<T>(Func<Task<T>> run)
    {
        if (!console.Interactive)
            return await run().ConfigureAwait(false);
        T result = default!;
        await console.Ansi.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async ctx =>
            {
                context = ctx;
                result = await run().ConfigureAwait(false);
            }).ConfigureAwait(false);
        return result;
    }

    public void RunStarted(RunContext run)
    {
        var what = run.DryRun ? "dry run (nothing will be written)" : run.Resumed ? $"run {run.RunId} resumed" : $"run {run.RunId} started";
        if (context is null)
            console.Output.WriteLine($"{what}, correlation id {run.CorrelationId}");
        else if (run.Resumed)
            console.Ansi.MarkupLine($"[yellow]{what}[/]");
    }

    public void EntityStarted(RunContext run, EntityPlan entity, string origin, EntityCheckpoint? resumedFrom)
    {
        var task = context?.AddTask(Markup.Escape(entity.Describe()), maxValue: 100);
        entities[entity.Describe()] = (task, Stopwatch.StartNew());
        var from = resumedFrom is null ? "" : $", resuming after line {resumedFrom.LastLine} (batch {resumedFrom.LastBatch})";
        if (context is null)
            console.Output.WriteLine($"{entity.Describe()}: reading {SecretMasker.Scrub(origin)}{from}");
        else if (from.Length > 0)
            console.Ansi.WriteLine($"{entity.Describe()}{from}");
    }

    public void RowRejected(RunContext run, EntityPlan entity, int batch, BatchRow row, string origin) { }

    public void BatchCommitted(RunContext run, EntityPlan entity, int batch, EntityCounts batchCounts, EntityCounts totals, double? progress)
    {
        var (task, clock) = entities[entity.Describe()];
        var rate = totals.RowsRead / Math.Max(clock.Elapsed.TotalSeconds, 0.001);
        if (task is not null)
        {
            task.Description = $"{Markup.Escape(entity.Describe())} {totals.RowsRead:N0} rows, {rate:N0} rows/s";
            if (progress is { } p)
                task.Value = p * 100;
            return;
        }
        if (clock.Elapsed - lastPlain < PlainInterval)
            return;
        lastPlain = clock.Elapsed;
        var eta = progress is > 0 and < 1 ? $", about {TimeSpan.FromSeconds(clock.Elapsed.TotalSeconds * (1 - progress.Value) / progress.Value):hh\\:mm\\:ss} left" : "";
        var percent = progress is { } q ? $" ({q:P0})" : "";
        console.Output.WriteLine($"{entity.Describe()}: {totals.RowsRead:N0} rows{percent}, {rate:N0} rows/s{eta}");
    }

    public void EntityFinished(RunContext run, EntityPlan entity, EntityCounts totals)
    {
        var (task, clock) = entities[entity.Describe()];
        var rate = totals.RowsRead / Math.Max(clock.Elapsed.TotalSeconds, 0.001);
        if (task is not null)
        {
            task.Description = $"{Markup.Escape(entity.Describe())} {totals.RowsRead:N0} rows, {rate:N0} rows/s";
            task.Value = 100;
            task.StopTask();
            return;
        }
        console.Output.WriteLine($"{entity.Describe()}: {totals.RowsRead:N0} rows in {clock.Elapsed.TotalSeconds:F1} s ({rate:N0} rows/s)");
    }

    public void RunFinished(RunContext run, RunResult result) { }
}
