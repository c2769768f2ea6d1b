using System.CommandLine;
using Ferry.Cli.Output;
using Ferry.Engine;
using Ferry.Manifest;

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
        var source = new Option<string?>("--source") { Description = "Read this file instead of the manifest's source (e.g. corrected rejects from 'ferry rejects export')" };
        var logJson = new Option<string?>("--log-json") { Description = "Also write JSON-lines events (run, entity, batch, rejected rows) to this file" };
        var resume = new Option<bool>("--resume") { Description = "Resume the manifest's latest run if it failed (a run whose process died is resumed without this)" };
        var restart = new Option<bool>("--restart") { Description = "Do not resume an interrupted run: mark it failed and start a new run" };
        var command = new Command("run", "Run a manifest: every row is landed, validated, mapped and loaded under the run ledger")
        {
            manifestArg, dryRun, entity, source, logJson, resume, restart,
        };
        command.SetAction((parse, ct) => FerryCommandLine.Guard(console, async () =>
        {
            var manifest = ManifestLoader.Load(parse.GetValue(manifestArg)!);
            var options = new RunOptions
            {
                DryRun = parse.GetValue(dryRun),
                Entity = parse.GetValue(entity),
                SourceOverride = parse.GetValue(source) is { } path ? Path.GetFullPath(path) : null,
                Resume = parse.GetValue(resume),
                Restart = parse.GetValue(restart),
                BeforeLoad = limitHeap ? MemoryBudget.Apply : null,
            };
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
                return result.Status switch
                {
                    RunStatus.Succeeded => ExitCodes.Succeeded,
                    RunStatus.Partial => ExitCodes.Partial,
                    _ => ExitCodes.Failed,
                };
            }
        }));
        return command;
    }
}
