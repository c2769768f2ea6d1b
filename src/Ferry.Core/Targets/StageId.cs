namespace Ferry.Targets;

/// <summary>
/// A staged row's id, computed from where it is rather than allocated: its run (23 bits), its
/// batch (20 bits) and its 1-based position in the batch (20 bits; a batch holds at most a million
/// rows). A batch's rows need no id of their own in the ledger, so a batch record can hold them all.
/// Every target computes it this way, in C# here and in its ledger's SQL (the staging views).
/// </summary>
public static class StageId
{
    public const int RunShift = 40, BatchShift = 20;

    /// <summary>The largest batch number (and position) an id can hold: 2^20 - 1.</summary>
    public const int MaxBatches = (1 << BatchShift) - 1;

    /// <summary>The largest run id an id can hold: 2^23 - 1.</summary>
    public const long MaxRuns = (1L << (63 - RunShift)) - 1;

    public static long For(long runId, int batch, int ordinal) => (runId << RunShift) + ((long)batch << BatchShift) + ordinal;

    /// <summary>Refuses a batch number or run id the ids have no room for.</summary>
    public static void Check(string entity, long runId, int batch)
    {
        if (batch > MaxBatches || runId > MaxRuns)
            throw new TargetException($"entity '{entity}' reached batch {batch} of run {runId}: the ledger's stage ids hold at most {MaxBatches} batches a run (raise batch_size) and {MaxRuns} runs");
    }
}
