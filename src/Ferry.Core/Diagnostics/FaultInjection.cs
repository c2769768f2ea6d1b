using System.Diagnostics;
using System.Globalization;

namespace Ferry.Diagnostics;

/// <summary>
/// Crash tests' kill switch. With the environment variable <c>FERRY_FAULT=point:batch</c> set, the
/// process kills itself (SIGKILL, no clean-up of any kind) when it reaches that point of that batch,
/// so tests can prove a crash at that instant loses and doubles nothing. With <c>FERRY_PAUSE</c>
/// (<c>point:batch</c>, several separated by commas) it stops itself (SIGSTOP, Linux) there instead,
/// until the test continues it (SIGCONT) or kills it: a test catches a run mid-load however fast the
/// machine runs it. Unset, a point costs one comparison.
/// </summary>
public static class FaultInjection
{
    public const string Variable = "FERRY_FAULT";
    public const string PauseVariable = "FERRY_PAUSE";

    private static readonly (string Point, long Batch)? Armed = Parse(Environment.GetEnvironmentVariable(Variable));
    private static readonly (string Point, long Batch)[] Pauses = Environment.GetEnvironmentVariable(PauseVariable) is { Length: > 0 } pauses
        ? pauses.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => Parse(p)!.Value).ToArray()
        : [];

    /// <summary>Kills the process if <c>FERRY_FAULT</c> names this point and batch; stops it if <c>FERRY_PAUSE</c> does.</summary>
    public static void Point(string name, long batch)
    {
        if (Pauses.Length > 0 && Array.IndexOf(Pauses, (name, batch)) >= 0)
            Stop(name, batch);
        if (Armed is not { } armed || armed.Batch != batch || !string.Equals(armed.Point, name, StringComparison.Ordinal))
            return;
        Console.Error.WriteLine($"ferry: fault injected at {name}, batch {batch.ToString(CultureInfo.InvariantCulture)}: killing the process");
        Console.Error.Flush();
        using var self = Process.GetCurrentProcess();
        self.Kill();
        Thread.Sleep(Timeout.Infinite); // the signal is on its way; nothing after this point may run
    }

    private static void Stop(string name, long batch)
    {
        Console.Error.WriteLine($"ferry: paused at {name}, batch {batch.ToString(CultureInfo.InvariantCulture)} (SIGSTOP)");
        Console.Error.Flush();
        // The kill command stops this process; it goes on from here when continued.
        using var stop = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-STOP", Environment.ProcessId.ToString(CultureInfo.InvariantCulture) } })!;
        stop.WaitForExit();
    }

    private static (string, long)? Parse(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
            return null;
        var colon = value.LastIndexOf(':');
        return colon > 0 && long.TryParse(value.AsSpan(colon + 1), NumberStyles.Integer, CultureInfo.InvariantCulture, out var batch)
            ? (value[..colon].Trim(), batch)
            : throw new InvalidOperationException($"{Variable} and {PauseVariable} take 'point:batch' (e.g. postgres.before-commit:3), not '{value}'");
    }
}
