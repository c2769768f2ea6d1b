using Ferry.Cli;

namespace Ferry.Tests.Support;

public sealed record CliResult(int ExitCode, string Output, string Error)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Output}\n--- stderr\n{Error}";
}

/// <summary>
/// Runs the real <c>ferry</c> command tree in-process: the same parser, commands and output as the
/// binary, with standard output and error captured. The working folder is the given one, so
/// relative paths on the command line resolve as they would for a user standing there.
/// </summary>
public static class CliRunner
{
    // The working folder is process-wide; tests that change it must not overlap.
    private static readonly SemaphoreSlim CurrentDirectory = new(1, 1);

    public static async Task<CliResult> RunAsync(string workingDirectory, params string[] args)
    {
        await CurrentDirectory.WaitAsync();
        var previous = Environment.CurrentDirectory;
        try
        {
            Environment.CurrentDirectory = workingDirectory;
            var output = new StringWriter();
            var error = new StringWriter();
            var exit = await FerryCommandLine.RunAsync(args, new CliConsole(output, error, interactive: false));
            return new CliResult(exit, output.ToString(), error.ToString());
        }
        finally
        {
            Environment.CurrentDirectory = previous;
            CurrentDirectory.Release();
        }
    }
}
