using System.CommandLine;
using Ferry.Engine;
using Ferry.Manifest;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry check</c>: parse, bind, compile and connect; no data moves.</summary>
internal static class CheckCommand
{
    public static Command Create(CliConsole console)
    {
        var manifestArg = FerryCommandLine.ManifestArgument();
        var command = new Command("check", "Check a manifest: parse it, compile its expressions, open the source and the target. No data moves.") { manifestArg };
        command.SetAction((parse, ct) => FerryCommandLine.Guard(console, async () =>
        {
            var manifest = ManifestLoader.Load(parse.GetValue(manifestArg)!);
            var plans = await RunEngine.CheckAsync(manifest, ct).ConfigureAwait(false);
            foreach (var plan in plans)
                await console.Output.WriteLineAsync(
                    $"entity {plan.Spec.Name}: {plan.Spec.Rules.Count} rules, {plan.Spec.Columns.Count} columns -> table {plan.Spec.Table} ({plan.Spec.Mode.ToString().ToLowerInvariant()})").ConfigureAwait(false);
            await console.Output.WriteLineAsync($"ok: {Path.GetFileName(manifest.FilePath)} is ready to run").ConfigureAwait(false);
            return ExitCodes.Succeeded;
        }));
        return command;
    }
}
