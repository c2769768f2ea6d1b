using System.Diagnostics;
using System.Text.Json;
using Ferry.Tests.Support;

namespace Ferry.Tests.Postgres;

/// <summary>The FOI staged import of the end-to-end tests (<see cref="EndToEnd.Foi"/>), aimed at PostgreSQL.</summary>
internal static class PgFoi
{
    public const string Table = "foi_request";

    /// <summary>
    /// The FOI manifest with a postgres target in <paramref name="schema"/>. <paramref name="extraRules"/>
    /// are YAML lines already indented for the rules list; <paramref name="check"/> adds a C# check rule.
    /// </summary>
    public static string Manifest(
        string schema,
        string mode = "upsert",
        int batchSize = 1000,
        string source = "data/requests.csv",
        string connection = "${FERRY_TEST_PG}",
        string extraRules = "",
        bool unique = true,
        bool staging = true,
        bool check = true) => $$"""
        name: foi-import
        source:
          type: csv
          path: {{source}}
        target:
          type: postgres
          connection: "{{connection}}"
          schema: {{schema}}
        entities:
          - name: foi_request
            table: foi_request
            key: [reference]
            mode: {{mode}}
            batch_size: {{batchSize}}
            staging: {{(staging ? "true" : "false")}}
            rules:
              - { column: reference, required: true }
              - { column: reference, regex: '^FOI-\d{4}-\d{5}$' }
        {{(unique ? "      - { column: reference, unique: true }" : "")}}
              - { column: received, type: date, format: yyyy-MM-dd }
              - { column: due, type: date, format: yyyy-MM-dd }
              - { column: status, allowed: [open, closed, withdrawn] }
              - { column: pages, type: int }
              - { column: pages, type: int, range: { min: 0, max: 100000 }, severity: warning }
              - { column: fee, type: decimal }
        {{(check ? CheckRule : "")}}
        {{extraRules}}
            columns:
              reference: { from: reference, trim: true }
              requester: requester_name
              received_on: { from: received, type: date, format: yyyy-MM-dd }
              due_on: { from: due, type: date }
              status: status
              pages: { from: pages, type: int, default: 0 }
              fee: { from: fee, type: decimal }
              summary: summary
              id: { uuid: key }
              origin: { const: legacy-foi }
        """;

    /// <summary>A C# check. Compiling it costs a new ferry process seconds (Roslyn, cold), so tests that start many leave it out.</summary>
    private const string CheckRule = """
              - check: "Blank(received) || Blank(due) || string.Compare(received, due) <= 0"
                message: due date before received date
        """;

    /// <summary>Runs <c>ferry runs --json</c> in-process and parses it.</summary>
    public static async Task<List<JsonElement>> RunsJson(Workspace ws, string manifest = "ferry.yaml")
    {
        var result = await ws.Ferry("runs", manifest, "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        return JsonDocument.Parse(result.Output).RootElement.EnumerateArray().Select(e => e.Clone()).ToList();
    }
}

/// <summary>
/// The built <c>ferry</c> (ferry.dll next to the test assembly) in a process of its own, so that it
/// can be killed for real: SIGKILL from outside, or by its own fault-injection hook.
/// </summary>
internal sealed class FerryProcess : IDisposable
{
    private readonly Process process;
    private readonly Task<string> output, error;

    private FerryProcess(Process process)
    {
        this.process = process;
        output = process.StandardOutput.ReadToEndAsync();
        error = process.StandardError.ReadToEndAsync();
    }

    public int Id => process.Id;

    public bool HasExited => process.HasExited;

    public static FerryProcess Start(Workspace ws, IReadOnlyDictionary<string, string?>? environment, params string[] args)
    {
        var ferry = Path.Combine(AppContext.BaseDirectory, "ferry.dll");
        Assert.True(File.Exists(ferry), $"{ferry} is missing: build tests/Ferry.Tests first (it references Ferry.Cli)");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = ws.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("exec");
        start.ArgumentList.Add(ferry);
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        // No fault from the test host's own environment leaks into a run that should not crash.
        start.Environment.Remove(Ferry.Diagnostics.FaultInjection.Variable);
        start.Environment.Remove(Ferry.Diagnostics.FaultInjection.PauseVariable);
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
                start.Environment.Remove(name);
            else
                start.Environment[name] = value;
        }
        return new FerryProcess(Process.Start(start)!);
    }

    /// <summary>Runs ferry to its end (at most <paramref name="timeout"/>, two minutes by default).</summary>
    public static async Task<CliResult> RunAsync(Workspace ws, IReadOnlyDictionary<string, string?>? environment, params string[] args)
    {
        using var process = Start(ws, environment, args);
        return await process.WaitAsync(TimeSpan.FromMinutes(2));
    }

    public async Task<CliResult> WaitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            Assert.Fail($"ferry did not finish within {timeout}:\n{await output}\n{await error}");
        }
        return new CliResult(process.ExitCode, await output, await error);
    }

    /// <summary>kill -9: the process dies at whatever instant it is at.</summary>
    public async Task<CliResult> KillAsync()
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It ended on its own just before.
        }
        await process.WaitForExitAsync(CancellationToken.None);
        return new CliResult(process.ExitCode, await output, await error);
    }

    /// <summary>
    /// Waits until the process has stopped itself at a <c>FERRY_PAUSE</c> point; false if it ended, or
    /// the time ran out, first.
    /// </summary>
    public async Task<bool> WaitPausedAsync(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout && !process.HasExited)
        {
            string stat;
            try
            {
                stat = await File.ReadAllTextAsync($"/proc/{process.Id}/stat");
            }
            catch (IOException)
            {
                return false; // it ended
            }
            // "pid (command) state …": the state follows the command's closing parenthesis.
            if (stat[stat.LastIndexOf(')') + 2] == 'T')
                return true;
            await Task.Delay(5);
        }
        return false;
    }

    /// <summary>Sends a signal by name (STOP, CONT) with the system's kill command.</summary>
    public void Signal(string name)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-" + name, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) } })!;
        kill.WaitForExit();
        Assert.True(kill.ExitCode == 0, $"kill -{name} {process.Id} failed");
    }

    public void Dispose()
    {
        if (!process.HasExited)
        {
            try
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
            }
            catch (InvalidOperationException)
            {
                // Gone already.
            }
        }
        process.Dispose();
    }
}
