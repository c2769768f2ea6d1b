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

    /// <summary>This set and the sorted keys given, merged in one pass.</summary>
    private LegacyKeySet Merge(long[] moreIntegers, long[] moreHashes) => new(MergeSorted(integers, moreIntegers), MergeSorted(hashes, moreHashes));

    private static long[] MergeSorted(long[] a, long[] b)
    {
        if (b.Length == 0)
            return a;
        var merged = new long[a.Length + b.Length];
        int i = 0, j = 0, k = 0;
        while (i < a.Length && j < b.Length)
            merged[k++] = a[i] <= b[j] ? a[i++] : b[j++];
        while (i < a.Length)
            merged[k++] = a[i++];
        while (j < b.Length)
            merged[k++] = b[j++];
        return merged;
    }

    /// <summary>
    /// A set that keys join as a run records them: the keys the map held when the entity began, sorted,
    /// and the keys added since in hash sets, merged into the sorted arrays every 131,072 keys, so that
    /// a key costs 8 bytes plus little more however many a run adds.
    /// </summary>
    public sealed class Growing(LegacyKeySet start)
    {
        private const int MergeEvery = 1 << 17;
        private LegacyKeySet known = start;
        private readonly HashSet<long> newIntegers = [];
        private readonly HashSet<long> newHashes = [];

        /// <summary>Adds the key; false when the set had it (or, for a key that is not an integer, a key of the same 64-bit hash).</summary>
        public bool Add(string legacyKey)
        {
            bool added;
            if (TryInteger(legacyKey, out var value))
                added = Array.BinarySearch(known.integers, value) < 0 && newIntegers.Add(value);
            else
            {
                var hash = Hash(legacyKey);
                added = Array.BinarySearch(known.hashes, hash) < 0 && newHashes.Add(hash);
            }
            if (added && newIntegers.Count + newHashes.Count >= MergeEvery)
            {
                var ints = newIntegers.ToArray();
                var hashed = newHashes.ToArray();
                Array.Sort(ints);
                Array.Sort(hashed);
                known = known.Merge(ints, hashed);
                newIntegers.Clear();
                newHashes.Clear();
            }
            return added;
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
