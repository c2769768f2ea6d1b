namespace Ferry.Engine;

/// <summary>
/// What the latest earlier run wrote at the same batch position of an entity: each row's business
/// key and content hash, as its ledger record keeps them. A row of the current batch whose key
/// and hash are there is unchanged since that run wrote it, and is skipped without a target write.
/// </summary>
/// <remarks>
/// This is sound because the target loads the earlier run's record only when that run is the
/// latest one to have written the entity's table, was not rolled back, and never wrote one key
/// twice (a key repeated across its batches makes the earlier position's image stale); otherwise
/// there is no prior batch and every row goes through the target's own comparison. Keys repeated
/// within either batch are never skipped, for the same reason.
/// </remarks>
public sealed class PriorBatch
{
    private readonly Dictionary<string, long> hashes;
    private readonly HashSet<string> repeated = new(StringComparer.Ordinal);

    public PriorBatch(IReadOnlyList<string?> keys, IReadOnlyList<long> rowHashes)
    {
        hashes = new Dictionary<string, long>(keys.Count, StringComparer.Ordinal);
        for (var i = 0; i < keys.Count; i++)
            if (keys[i] is { } key && !hashes.TryAdd(key, rowHashes[i]))
                repeated.Add(key);
    }

    /// <summary>Marks the rows the earlier run wrote as they are now <see cref="RowAction.Unchanged"/>; returns how many.</summary>
    public int MarkUnchanged(IReadOnlyList<BatchRow> rows)
    {
        var seen = new Dictionary<string, int>(rows.Count, StringComparer.Ordinal);
        foreach (var row in rows)
            if (!row.Rejected)
                seen[row.Key!] = seen.GetValueOrDefault(row.Key!) + 1;
        var marked = 0;
        foreach (var row in rows)
        {
            if (row.Rejected || row.Hash is not { } hash || seen[row.Key!] > 1 || repeated.Contains(row.Key!))
                continue;
            if (hashes.TryGetValue(row.Key!, out var prior) && prior == hash)
            {
                row.Action = RowAction.Unchanged;
                marked++;
            }
        }
        return marked;
    }
}
