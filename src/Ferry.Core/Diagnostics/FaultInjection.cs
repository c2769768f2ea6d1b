using System.Diagnostics;
using System.Globalization;

namespace Ferry.Diagnostics;

/// <summary>
/// Crash tests' kill switch. With the environment variable <c>FERRY_FAULT=point:batch</c> set, the
/// process kills itself (SIGKILL, no clean-up of any kind) when it reaches that point of that batch,
/// so tests can prove a crash at that instant loses and doubles nothing. Unset, a point costs one
/// comparison.
/// </summary>
public static class FaultInjection
{
    public const string Variable = "FERRY_FAULT";

    private static readonly (string Point, long Batch)? Armed = Parse(Environment.GetEnvironmentVariable(Variable));

    /// <summary>Kills the process if <c>FERRY_FAULT</c> names this point and batch.</summary>
    public static void Point(string name, long batch)
    {
        if (Armed is not { } armed || armed.Batch != batch || !string.Equals(armed.Point, name, StringComparison.Ordinal))
            return;
        Console.Error.WriteLine($"ferry: fault injected at {name}, batch {batch.ToString(CultureInfo.InvariantCulture)}: killing the process");
        Console.Error.Flush();
        using var self = Process.GetCurrentProcess();
        self.Kill();
        Thread.Sleep(Timeout.Infinite); // the signal is on its way; nothing after this point may run
    }

    private static (string, long)? Parse(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
            return null;
        var colon = value.LastIndexOf(':');
        return colon > 0 && long.TryParse(value.AsSpan(colon + 1), NumberStyles.Integer, CultureInfo.InvariantCulture, out var batch)
            ? (value[..colon].Trim(), batch)
            : throw new InvalidOperationException($"{Variable} must be 'point:batch' (e.g. postgres.before-commit:3), not '{value}'");
    }
}
