namespace Ferry.Cli;

/// <summary>What <c>ferry</c> returns, so scripts can tell outcomes apart.</summary>
public static class ExitCodes
{
    public const int Succeeded = 0;
    public const int Failed = 1;
    public const int BadUsage = 2;
    public const int Partial = 3;

    /// <summary>Reconciliation found a mismatch (<c>ferry reconcile</c>, or the check at the end of <c>ferry run</c>).</summary>
    public const int Mismatch = 4;
}
