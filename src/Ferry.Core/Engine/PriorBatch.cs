using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace Ferry.Engine;

/// <summary>
/// What the latest earlier run wrote at the same batch position of an entity: for each row, the
/// hash of its business key, its content hash and a tag the target keeps with it (PostgreSQL: the
/// row version), packed as a digest of 24 bytes a row. A row of the current batch whose key and
/// content hashes are there is unchanged since that run, and is skipped without a target write.
/// </summary>
/// <remarks>
/// The target hands over a record only while it still says what the table holds (on PostgreSQL: no
/// later write has replaced a row version it lists); otherwise every row goes through the target's
/// own comparison. Keys repeated within either batch are never skipped: which of their images is
/// the table's cannot be told from the record. The content hash covers the key's own values, so a
/// skip needs two 64-bit hashes to agree by chance to be wrong.
/// </remarks>
public sealed class PriorBatch
{
    private const int EntrySize = 24;
    private readonly Dictionary<long, (long Hash, long Tag)> entries = [];
    private readonly HashSet<long> repeated = [];
    private readonly Dictionary<long, int> seen = [];

    public PriorBatch(byte[] digest) => Load(digest);

    /// <summary>One to <see cref="Load"/> a record into, batch after batch: at a batch's size its tables are large objects, which only a full collection frees.</summary>
    public PriorBatch()
    {
    }

    /// <summary>Holds this digest instead of the one before.</summary>
    public PriorBatch Load(byte[] digest)
    {
        entries.Clear();
        repeated.Clear();
        var count = digest.Length / EntrySize;
        entries.EnsureCapacity(count);
        for (var i = 0; i < count; i++)
        {
            var entry = digest.AsSpan(i * EntrySize, EntrySize);
            var key = BinaryPrimitives.ReadInt64LittleEndian(entry);
            var tag = BinaryPrimitives.ReadInt64LittleEndian(entry[16..]);
            if (tag == 0)
                continue; // a row the record has no content for (rejected)
            if (!entries.TryAdd(key, (BinaryPrimitives.ReadInt64LittleEndian(entry[8..]), tag)))
                repeated.Add(key);
        }
        return this;
    }

    /// <summary>The digest of a batch: each written or unchanged row's key hash, content hash and non-zero tag; zeros for the others.</summary>
    public static byte[] Digest(IReadOnlyList<BatchRow> rows, long?[] tags)
    {
        var digest = new byte[rows.Count * EntrySize];
        for (var i = 0; i < rows.Count; i++)
        {
            if (tags[i] is not { } tag || rows[i].Hash is not { } hash || rows[i].Key is not { } key)
                continue;
            var entry = digest.AsSpan(i * EntrySize, EntrySize);
            BinaryPrimitives.WriteInt64LittleEndian(entry, KeyHash(key));
            BinaryPrimitives.WriteInt64LittleEndian(entry[8..], hash);
            BinaryPrimitives.WriteInt64LittleEndian(entry[16..], tag);
        }
        return digest;
    }

    /// <summary>
    /// A batch's source digest (<see cref="SourceHasher"/>, 8 bytes a row) as its record keeps it: the
    /// hash of each row a later run may skip by this record, 0 for the others. Those are the rows
    /// <see cref="Load"/> does not hold either: a row without a tag in <paramref name="digest"/>
    /// (rejected, or refused by the table) and a row whose key repeats within the batch. A later run,
    /// whose hashes are never 0, then takes the batch unchanged only where every hash is equal,
    /// without reading this digest. Loads <paramref name="digest"/>.
    /// </summary>
    public byte[]? Skippable(byte[]? sourceDigest, byte[] digest)
    {
        if (sourceDigest is null)
            return null;
        Load(digest);
        var kept = (byte[])sourceDigest.Clone();
        for (var i = 0; i < Math.Min(kept.Length / 8, digest.Length / EntrySize); i++)
        {
            var entry = digest.AsSpan(i * EntrySize, EntrySize);
            if (BinaryPrimitives.ReadInt64LittleEndian(entry[16..]) == 0 || repeated.Contains(BinaryPrimitives.ReadInt64LittleEndian(entry)))
                kept.AsSpan(i * 8, 8).Clear();
        }
        return kept;
    }

    public static long KeyHash(string key) => unchecked((long)XxHash3.HashToUInt64(MemoryMarshal.AsBytes(key.AsSpan())));

    /// <summary>
    /// Marks the rows the earlier run left as they are now <see cref="RowAction.Unchanged"/>, and
    /// puts each one's tag at its position in <paramref name="tags"/>; returns how many.
    /// </summary>
    public int MarkUnchanged(IReadOnlyList<BatchRow> rows, long?[] tags)
    {
        var keys = new long[rows.Count];
        seen.Clear();
        for (var i = 0; i < rows.Count; i++)
        {
            if (rows[i].Rejected)
                continue;
            keys[i] = KeyHash(rows[i].Key!);
            seen[keys[i]] = seen.GetValueOrDefault(keys[i]) + 1;
        }
        var marked = 0;
        for (var i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            if (row.Rejected || row.Hash is not { } hash || seen[keys[i]] > 1 || repeated.Contains(keys[i]))
                continue;
            if (entries.TryGetValue(keys[i], out var prior) && prior.Hash == hash)
            {
                row.Action = RowAction.Unchanged;
                tags[i] = prior.Tag;
                marked++;
            }
        }
        return marked;
    }
}
