using System.CommandLine;
using Ferry.Cli.Output;
using Ferry.Engine;
using Ferry.Manifest;
using Ferry.Reconciliation;
using Spectre.Console;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry run</c>: the migration itself.</summary>
internal static class RunCommand
{
    /// <param name="limitHeap">Size the process's heap limit from the run (only when ferry owns the process).</param>
    public static Command Create(CliConsole console, bool limitHeap)
    {
        var manifestArg = FerryCommandLine.ManifestArgument();
        var dryRun = new Option<bool>("--dry-run") { Description = "Read, validate, map and load, then roll everything back: the target is left as it was" };
        var entity = new Option<string?>("--entity") { Description = "Run only this entity" };
        var tenant = new Option<string?>("--tenant") { Description = "Run only this tenant (a manifest with tenants)" };
        var parallel = new Option<int>("--parallel") { Description = "How many tenants load at the same time (default 1)", DefaultValueFactory = _ => 1 };
        var source = new Option<string?>("--source") { Description = "Read this file instead of the manifest's source (e.g. corrected rejects from 'ferry rejects export')" };
        var logJson = new Option<string?>("--log-json") { Description = "Also write JSON-lines events (run, entity, batch, rejected rows) to this file" };
        var resume = new Option<bool>("--resume") { Description = "Resume the manifest's latest run if it failed (a run whose process died is resumed without this)" };
        var restart = new Option<bool>("--restart") { Description = "Do not resume an interrupted run: mark it failed and start a new run" };
        var noReconcile = new Option<bool>("--no-reconcile") { Description = "Do not reconcile the run against its source and target when it ends" };
        var sample = new Option<int>("--sample") { Description = "Rows per entity the reconciliation compares field by field (default 10)", DefaultValueFactory = _ => 10 };
        var asOf = new Option<string?>("--as-of") { Description = "scd2 entities: when the versions this run opens become valid, as a date (2026-03-01) or UTC date-time (default: the run's start)" };
        var command = new Command("run", "Run a manifest: every row is landed, validated, mapped and loaded under the run ledger, then reconciled")
        {
            manifestArg, dryRun, entity, tenant, parallel, source, logJson, resume, restart, noReconcile, sample, asOf,
        };
        command.SetAction((parse, ct) => FerryCommandLine.Guard(console, async () =>
        {
            var manifest = ManifestLoader.Load(parse.GetValue(manifestArg)!);
            IReadOnlyList<EntityPlan>? compiled = null;
            var options = new RunOptions
            {
                DryRun = parse.GetValue(dryRun),
                Entity = parse.GetValue(entity),
                Tenant = parse.GetValue(tenant),
                Parallel = parse.GetValue(parallel),
                SourceOverride = parse.GetValue(source) is { } path ? Path.GetFullPath(path) : null,
                Resume = parse.GetValue(resume),
                Restart = parse.GetValue(restart),
                AsOf = parse.GetValue(asOf) is { } time ? ParseAsOf(time) : null,
                BeforeLoad = (plans, columns) =>
                {
                    compiled = plans;
                    if (limitHeap && MemoryBudget.Apply(plans, columns, Math.Max(1, Math.Min(parse.GetValue(dryRun) ? 1 : parse.GetValue(parallel), plans.Select(p => p.Tenant).Distinct().Count()))) is { } warning)
                        console.Error.WriteLine(warning);
                },
                BatchBytes = limitHeap ? MemoryBudget.Grow : null,
            };
            if (options.Parallel < 1)
                throw new UsageException("--parallel must be 1 or more");
            if (options.Tenant is not null && !manifest.Tenants.Any(t => t.Id == options.Tenant))
                throw new UsageException(manifest.Tenants.Count == 0
                    ? $"--tenant {options.Tenant}: {Path.GetFileName(manifest.FilePath)} has no tenants"
                    : $"no tenant named '{options.Tenant}' in {Path.GetFileName(manifest.FilePath)} (it has: {string.Join(", ", manifest.Tenants.Select(t => t.Id))})");
            if (options.Resume && options.Restart)
                throw new UsageException("--resume and --restart contradict each other; choose one");
            JsonLogObserver? log = null;
            if (parse.GetValue(logJson) is { } logPath)
                log = JsonLogObserver.Open(logPath);
            using (log)
            {
                var summary = new RunSummaryObserver();
                var progress = new ProgressObserver(console);
                var observers = log is null
                    ? new RunObservers(summary, progress)
                    : new RunObservers(summary, progress, log);
                var result = await progress.WrapAsync(() => RunEngine.RunAsync(manifest, options, observers, ct)).ConfigureAwait(false);
                summary.Print(console, result);
                var exit = result.Status switch
                {
                    RunStatus.Succeeded => ExitCodes.Succeeded,
                    RunStatus.Partial => ExitCodes.Partial,
                    _ => ExitCodes.Failed,
                };
                // A run that wrote something from the manifest's own source is reconciled against it.
                if (exit == ExitCodes.Failed || options.DryRun || parse.GetValue(noReconcile))
                    return exit;
                if (options.SourceOverride is not null)
                {
                    console.Ansi.WriteLine("reconciliation skipped: the run read --source, not the manifest's source (run 'ferry reconcile' on a full run)");
                    return exit;
                }
                var report = await Reconciler.ReconcileAsync(manifest, new ReconcileOptions
                {
                    RunId = result.RunId,
                    Entity = options.Entity,
                    Tenant = options.Tenant,
                    SampleSize = Math.Max(0, parse.GetValue(sample)),
                    Plans = compiled,
                    ChunkBytes = limitHeap ? MemoryBudget.Grow : null,
                }, ct).ConfigureAwait(false);
                ReconcileCommand.Print(console, report);
                return report.Ok ? exit : ExitCodes.Mismatch;
            }
        }));
        return command;
    }

    /// <summary>A date (midnight UTC) or a date-time, taken as UTC unless it names its offset.</summary>
    private static DateTime ParseAsOf(string text) =>
        DateTime.TryParse(text, System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal, out var time)
            ? time
            : throw new UsageException($"--as-of '{text}' is not a date (2026-03-01) or a date-time (2026-03-01T12:00:00Z)");
}
