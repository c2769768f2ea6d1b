using System.CommandLine;
using Ferry.Cli.Commands;
using Ferry.Diagnostics;
using Ferry.Manifest;
using Ferry.Sources;
using Ferry.Targets;

namespace Ferry.Cli;

/// <summary>The <c>ferry</c> command tree. Tests call <see cref="RunAsync"/> in-process with their own writers.</summary>
public static class FerryCommandLine
{
    /// <param name="ownsProcess">True only from Program: process-wide settings (the heap limit) are then ferry's to make.</param>
    public static async Task<int> RunAsync(string[] args, CliConsole console, CancellationToken cancellationToken = default, bool ownsProcess = false)
    {
        var root = new RootCommand("ferry — land, validate, map and load data under a run ledger");
        root.Subcommands.Add(CheckCommand.Create(console));
        root.Subcommands.Add(RunCommand.Create(console, limitHeap: ownsProcess));
        root.Subcommands.Add(LedgerCommands.Status(console));
        root.Subcommands.Add(LedgerCommands.Runs(console));
        root.Subcommands.Add(LedgerCommands.Rejects(console));
        root.Subcommands.Add(RollbackCommand.Create(console));
        root.Subcommands.Add(ReconcileCommand.Create(console));
        root.Subcommands.Add(PipelineCommands.Ingest(console));
        root.Subcommands.Add(PipelineCommands.Pipeline(console, limitHeap: ownsProcess));
        root.Subcommands.Add(PipelineCommands.Publish(console));
        root.Subcommands.Add(PipelineCommands.Files(console));
        root.Subcommands.Add(PipelineCommands.Audit(console));

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors)
                await console.Error.WriteLineAsync($"ferry: {error.Message}").ConfigureAwait(false);
            await console.Error.WriteLineAsync("Run 'ferry --help' for usage.").ConfigureAwait(false);
            return ExitCodes.BadUsage;
        }
        return await parse.InvokeAsync(new InvocationConfiguration { Output = console.Output, Error = console.Error }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The manifest argument every command takes; it defaults to ./ferry.yaml.</summary>
    internal static Argument<string> ManifestArgument() => new("manifest")
    {
        Description = "The manifest (YAML); default ./ferry.yaml",
        Arity = ArgumentArity.ZeroOrOne,
        DefaultValueFactory = _ => "ferry.yaml",
    };

    /// <summary>
    /// Runs a command body, turning the errors a user can act on into one clear message and an exit
    /// code. Nothing printed here can hold a secret: every message passes the masker.
    /// </summary>
    internal static async Task<int> Guard(CliConsole console, Func<Task<int>> body)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (ManifestException ex)
        {
            foreach (var error in ex.Errors)
                await console.Error.WriteLineAsync($"error: {error}").ConfigureAwait(false);
            return ExitCodes.BadUsage;
        }
        catch (Exception ex) when (ex is SourceException or TargetException or UsageException)
        {
            await console.Error.WriteLineAsync($"error: {SecretMasker.Scrub(ex.Message)}").ConfigureAwait(false);
            return ex is UsageException ? ExitCodes.BadUsage : ExitCodes.Failed;
        }
        catch (OperationCanceledException)
        {
            await console.Error.WriteLineAsync("cancelled").ConfigureAwait(false);
            return ExitCodes.Failed;
        }
        catch (Exception ex)
        {
            await console.Error.WriteLineAsync($"error: {ex.GetType().Name}: {SecretMasker.Scrub(ex.Message)}").ConfigureAwait(false);
            return ExitCodes.Failed;
        }
    }
}

/// <summary>The command line asks for something that cannot be (a run that does not exist, say).</summary>
internal sealed class UsageException(string message) : Exception(message);
