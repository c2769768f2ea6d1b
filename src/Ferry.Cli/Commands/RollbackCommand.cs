using System.CommandLine;
using Ferry.Manifest;
using Ferry.Targets;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry rollback RUN_ID</c>: return the target to its state before a run.</summary>
internal static class RollbackCommand
{
    public static Command Create(CliConsole console)
    {
        var run = new Argument<long>("run") { Description = "The run to undo" };
        var manifestArg = FerryCommandLine.ManifestArgument();
        var command = new Command("rollback", "Undo a run: delete the rows it inserted, restore the rows it updated, give back a table it replaced")
        {
            run, manifestArg,
        };
        command.SetAction((parse, ct) => FerryCommandLine.Guard(console, async () =>
        {
            var manifest = ManifestLoader.Load(parse.GetValue(manifestArg)!);
            var result = await Rollback.RollBackRunAsync(manifest, parse.GetValue(run), ct).ConfigureAwait(false);
            foreach (var entity in result.Entities)
                await console.Output.WriteLineAsync(entity.Replaced
                    ? $"{entity.Entity}: the table's contents before run {result.RunId} are back"
                    : $"{entity.Entity}: {entity.Deleted:N0} inserted row(s) deleted, {entity.Restored:N0} updated row(s) restored").ConfigureAwait(false);
            await console.Output.WriteLineAsync($"run {result.RunId} rolled back").ConfigureAwait(false);
            return ExitCodes.Succeeded;
        }));
        return command;
    }
}
