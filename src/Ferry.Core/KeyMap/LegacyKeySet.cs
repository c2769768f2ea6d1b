using System.Data.Common;
using System.Globalization;
using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace Ferry.KeyMap;

/// <summary>
/// The legacy keys the key map holds for one entity and tenant, in a compact form a lookup can
/// search without a round trip: keys that are integers (<c>17</c>, written as an integer is) are kept
/// as their values, exactly; any other key as a 64-bit hash of its text. Both are sorted arrays, 8 bytes
/// a key (1M parents: 8 MB; while loading, the lists may briefly hold twice that).
/// </summary>
/// <remarks>
/// A hash can meet another key's hash: a key that is not in the map is then taken for one that is.
/// With 64-bit hashes the chance is about (keys × lookups) / 2^64, under 10^-6 for a million of each.
/// Integer keys, the usual legacy keys, have no such chance.
/// </remarks>
public sealed class LegacyKeySet
{
    private readonly long[] integers;
    private readonly long[] hashes;

    private LegacyKeySet(long[] integers, long[] hashes)
    {
        this.integers = integers;
        this.hashes = hashes;
    }

    public static LegacyKeySet Empty { get; } = new([], []);

    public int Count => integers.Length + hashes.Length;

    /// <summary>Reads the legacy keys a query's first column gives.</summary>
    public static async Task<LegacyKeySet> ReadAsync(DbCommand command, CancellationToken cancellationToken)
    {
        var builder = new Builder();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            builder.Add(reader.GetString(0));
        return builder.Build();
    }

    /// <summary>Whether the map holds <paramref name="legacyKey"/> (as <see cref="LegacyKeyText"/> writes keys).</summary>
    public bool Contains(string legacyKey) =>
        TryInteger(legacyKey, out var value)
            ? Array.BinarySearch(integers, value) >= 0
            : Array.BinarySearch(hashes, Hash(legacyKey)) >= 0;

    /// <summary>An integer written the one way it formats (no sign but '-', no leading zeros): only then is the text the value.</summary>
    private static bool TryInteger(string text, out long value)
    {
        if (text.Length is 0 or > 20 || !long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value))
        {
            value = 0;
            return false;
        }
        Span<char> formatted = stackalloc char[20];
        return value.TryFormat(formatted, out var written, default, CultureInfo.InvariantCulture) && formatted[..written].SequenceEqual(text);
    }

    private static long Hash(string text) => unchecked((long)XxHash3.HashToUInt64(MemoryMarshal.AsBytes(text.AsSpan())));

    /// <summary>
    /// A set that keys join as a run records them, 8 bytes a key: the keys the map held when the entity
    /// began, sorted, with each new key above all of them appended (a database source gives its keys in
    /// key order); a key that comes out of order goes to a hash set (about 20 bytes a key).
    /// Arrays grow by doubling, so the large ones are allocated a few times, not with every batch.
    /// </summary>
    public sealed class Growing(LegacyKeySet start)
    {
        private readonly Ascending integers = new(start.integers);
        private readonly Ascending hashes = new(start.hashes);

        /// <summary>Adds the key; false when the set had it (or, for a key that is not an integer, a key of the same 64-bit hash).</summary>
        public bool Add(string legacyKey) =>
            TryInteger(legacyKey, out var value) ? integers.Add(value) : hashes.Add(Hash(legacyKey));

        /// <summary>Whether the set has the key (or, for a key that is not an integer, a key of the same 64-bit hash).</summary>
        public bool Contains(string legacyKey) =>
            TryInteger(legacyKey, out var value) ? integers.Contains(value) : hashes.Contains(Hash(legacyKey));

        private sealed class Ascending(long[] sorted)
        {
            private long[] sorted = sorted;
            private int count = sorted.Length;
            private HashSet<long>? outOfOrder;

            // A key out of order was at most the largest sorted key when it came, and that only grows.
            public bool Contains(long value) =>
                count > 0 && value <= sorted[count - 1] && (Array.BinarySearch(sorted, 0, count, value) >= 0 || outOfOrder?.Contains(value) == true);

            public bool Add(long value)
            {
                if (count > 0 && value <= sorted[count - 1])
                    return Array.BinarySearch(sorted, 0, count, value) < 0 && (outOfOrder ??= []).Add(value);
                // Above every sorted key, so above every key out of order too: new.
                if (count == sorted.Length)
                    Array.Resize(ref sorted, Math.Max(1024, count * 2));
                sorted[count++] = value;
                return true;
            }
        }
    }

    /// <summary>Collects keys one by one, then sorts them once.</summary>
    public sealed class Builder
    {
        private readonly List<long> integers = [];
        private readonly List<long> hashes = [];

        public void Add(string legacyKey)
        {
            if (TryInteger(legacyKey, out var value))
                integers.Add(value);
            else
                hashes.Add(Hash(legacyKey));
        }

        public LegacyKeySet Build()
        {
            var ints = integers.ToArray();
            var hashed = hashes.ToArray();
            Array.Sort(ints);
            Array.Sort(hashed);
            return new LegacyKeySet(ints, hashed);
        }
    }
}
