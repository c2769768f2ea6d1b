namespace Ferry.Targets;

/// <summary>
/// A staged row's id, computed from where it is rather than allocated: its run (23 bits), its
/// batch (20 bits) and its 1-based position in the batch (20 bits; a batch holds at most a million
/// rows). A batch's rows need no id of their own in the ledger, so a batch record can hold them all.
/// </summary>
public static class StageId
{
    public const int MaxBatches = (1 << 20) - 1;

    public static long For(long runId, int batch, int ordinal) => (runId << 40) + ((long)batch << 20) + ordinal;

    /// <summary>Refuses a batch number the id has no room for.</summary>
    public static void Check(int batch)
    {
        if (batch > MaxBatches)
            throw new TargetException($"an entity's run may have at most {MaxBatches:N0} batches; raise batch_size");
    }
}
