namespace Ferry.Engine;

/// <summary>
/// What the latest earlier run wrote at the same batch position of an entity: each row's business
/// key and content hash, as its ledger record keeps them. A row of the current batch whose key
/// and hash are there is unchanged since that run wrote it, and is skipped without a target write.
/// </summary>
/// <remarks>
/// The target hands over a record only while it still says what the table holds (on PostgreSQL: no
/// later write has replaced a row version it lists); otherwise every row goes through the target's
/// own comparison. Keys repeated within either batch are never skipped: which of their images is
/// the table's cannot be told from the record.
/// </remarks>
public sealed class PriorBatch
{
    private readonly Dictionary<string, (long Hash, long Tag)> hashes;
    private readonly HashSet<string> repeated = new(StringComparer.Ordinal);

    /// <param name="tags">What the target keeps with each row (PostgreSQL: the row version), handed back for the rows found unchanged.</param>
    public PriorBatch(IReadOnlyList<string?> keys, IReadOnlyList<long?> rowHashes, IReadOnlyList<long?> tags)
    {
        hashes = new Dictionary<string, (long, long)>(keys.Count, StringComparer.Ordinal);
        for (var i = 0; i < keys.Count; i++)
        {
            if (keys[i] is not { } key || rowHashes[i] is not { } hash || tags[i] is not { } tag)
                continue;
            if (!hashes.TryAdd(key, (hash, tag)))
                repeated.Add(key);
        }
    }

    /// <summary>
    /// Marks the rows the earlier run left as they are now <see cref="RowAction.Unchanged"/>, and
    /// puts each one's tag at its position in <paramref name="tags"/>; returns how many.
    /// </summary>
    public int MarkUnchanged(IReadOnlyList<BatchRow> rows, long?[] tags)
    {
        var seen = new Dictionary<string, int>(rows.Count, StringComparer.Ordinal);
        foreach (var row in rows)
            if (!row.Rejected)
                seen[row.Key!] = seen.GetValueOrDefault(row.Key!) + 1;
        var marked = 0;
        for (var i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            if (row.Rejected || row.Hash is not { } hash || seen[row.Key!] > 1 || repeated.Contains(row.Key!))
                continue;
            if (hashes.TryGetValue(row.Key!, out var prior) && prior.Hash == hash)
            {
                row.Action = RowAction.Unchanged;
                tags[i] = prior.Tag;
                marked++;
            }
        }
        return marked;
    }
}
