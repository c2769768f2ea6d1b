using System.CommandLine;
using Ferry.Manifest;
using Ferry.Targets;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry rollback RUN_ID</c>: return the target to its state before a run.</summary>
internal static class RollbackCommand
{
    public static Command Create(CliConsole console)
    {
        var run = new Argument<long?>("run")
        {
            Description = "The run to undo",
            Arity = ArgumentArity.ZeroOrOne,
            // With --version the run is not given: a first argument that is not a number is the manifest.
            CustomParser = result =>
            {
                if (result.Tokens.Count == 0)
                    return null;
                if (long.TryParse(result.Tokens[0].Value, System.Globalization.CultureInfo.InvariantCulture, out var id))
                    return id;
                result.OnlyTake(0);
                return null;
            },
        };
        var version = new Option<long?>("--version") { Description = "Undo this version of the file registry ('ferry files'): its run, then republish the mart" };
        var manifestArg = FerryCommandLine.ManifestArgument();
        var command = new Command("rollback", "Undo a run: delete the rows it inserted, restore the rows it updated, give back a table it replaced")
        {
            run, version, manifestArg,
        };
        command.SetAction((parse, ct) => FerryCommandLine.Guard(console, async () =>
        {
            var manifest = ManifestLoader.Load(parse.GetValue(manifestArg)!);
            if (parse.GetValue(version) is { } fileVersion)
            {
                if (parse.GetValue(run) is not null)
                    throw new UsageException("give a run or --version, not both");
                await new Ferry.Pipeline.FilePipeline(manifest, line => console.Output.WriteLine(Ferry.Diagnostics.SecretMasker.Scrub(line)))
                    .RollbackVersionAsync(fileVersion, ct).ConfigureAwait(false);
                return ExitCodes.Succeeded;
            }
            if (parse.GetValue(run) is null)
                throw new UsageException("name the run to roll back (or --version V for a file's version)");
            var result = await Rollback.RollBackRunAsync(manifest, parse.GetValue(run)!.Value, ct).ConfigureAwait(false);
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
