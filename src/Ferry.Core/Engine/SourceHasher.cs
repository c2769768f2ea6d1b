using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using System.Globalization;
using System.Reflection;
using Ferry.Manifest;

namespace Ferry.Engine;

/// <summary>
/// The hash of a source row as read: 64 bits of XXH3 over its raw values, seeded by everything
/// else that decides what the row validates and maps to (the entity's whole manifest entry, the
/// source's columns, this build of Ferry). Where a row's mapped values are a function of its raw
/// values alone, two rows with the same source hash map to the same key and values, so a re-run can
/// tell that a batch is unchanged without validating or mapping it again (see <see cref="RunEngine"/>).
/// </summary>
public sealed class SourceHasher
{
    private readonly long seed;
    private byte[] buffer = new byte[1024];

    public SourceHasher(ulong seed) => this.seed = unchecked((long)seed);

    /// <summary>
    /// The seed for an entity whose mapped values depend on the source row alone; null for one where
    /// they may not: a tenant's (its batches are found by their first line), a <c>unique</c> rule
    /// (it depends on the rows before), C# expressions (they may read the clock), lookups and legacy
    /// keys (they depend on the key map), history, a load mode other than upsert, or a source with
    /// Ferry's own columns (a rejects export, which corrects staged rows).
    /// </summary>
    /// <param name="source">The manifest's source: how a file is parsed decides what values a record's
    /// text holds, and a file's records are compared by their text (<see cref="Sources.SourceRow.TextHash"/>).</param>
    public static ulong? SeedFor(EntitySpec spec, string? tenant, IReadOnlyList<string> sourceColumns, SourceSpec? source = null)
    {
        if (tenant is not null || spec.Mode != LoadMode.Upsert || spec.Key.Count == 0 || spec.LegacyKey is not null || spec.History is not null
            || spec.Rules.Any(r => r.Kind is RuleKind.Unique or RuleKind.Check || r.Expression is not null)
            || spec.Columns.Any(c => c.Expression is not null || c.Lookup is not null || c.UuidFromLegacy)
            || sourceColumns.Any(c => c.StartsWith(RunEngine.ReservedPrefix, StringComparison.Ordinal)))
            return null;
        var shape = new StringBuilder();
        Describe(shape, spec);
        // Where the file is and how to reach a database say nothing of how a record parses.
        Describe(shape, source is null ? null : source with { Path = null, Connection = null, Line = 0 });
        shape.Append('\u001E').AppendJoin('\u001F', sourceColumns).Append('\u001E').Append(typeof(SourceHasher).Assembly.ManifestModule.ModuleVersionId);
        return XxHash3.HashToUInt64(Encoding.UTF8.GetBytes(shape.ToString()));
    }

    /// <summary>
    /// Every public property of the manifest's records, lists and dictionaries item by item, texts
    /// with their length: a field added to the model later is covered without being named here. (A
    /// JSON serializer did the same, at 100 ms of a run's start.)
    /// </summary>
    private static void Describe(StringBuilder text, object? value)
    {
        switch (value)
        {
            case null:
                text.Append('\u2205');
                break;
            case string s:
                text.Append(s.Length).Append(':').Append(s);
                break;
            case System.Collections.IEnumerable items:
                text.Append('[');
                foreach (var item in items)
                {
                    Describe(text, item);
                    text.Append(',');
                }
                text.Append(']');
                break;
            case var scalar when scalar.GetType().IsPrimitive || scalar is Enum or decimal:
                text.Append(Convert.ToString(scalar, CultureInfo.InvariantCulture));
                break;
            default:
                text.Append(value.GetType().Name).Append('{');
                foreach (var property in value.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderBy(p => p.Name, StringComparer.Ordinal))
                {
                    if (property.GetIndexParameters().Length > 0)
                        continue;
                    text.Append(property.Name).Append('=');
                    Describe(text, property.GetValue(value));
                    text.Append(';');
                }
                text.Append('}');
                break;
        }
    }

    /// <summary>Never 0, which a digest keeps for a row that cannot be skipped.</summary>
    public long Hash(string?[] values)
    {
        var length = 0;
        foreach (var value in values)
        {
            var bytes = value is null ? 0 : value.Length * 2;
            if (length + 4 + bytes > buffer.Length)
                Array.Resize(ref buffer, Math.Max(buffer.Length * 2, length + 4 + bytes));
            // A null and an empty text differ: -1 and 0 as the length.
            BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(length), value is null ? -1 : value.Length);
            length += 4;
            if (value is not null)
            {
                MemoryMarshal.AsBytes(value.AsSpan()).CopyTo(buffer.AsSpan(length));
                length += bytes;
            }
        }
        var hash = unchecked((long)XxHash3.HashToUInt64(buffer.AsSpan(0, length), seed));
        return hash == 0 ? 1 : hash;
    }

    /// <summary>The hash of a record by the hash of its text (<see cref="Sources.SourceRow.TextHash"/>); never 0.</summary>
    public long HashText(long textHash)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, textHash);
        var hash = unchecked((long)XxHash3.HashToUInt64(bytes, seed));
        return hash == 0 ? 1 : hash;
    }

    /// <summary>
    /// A batch's source digest: 8 bytes a row, its hash, or 0 for a record that is malformed (see
    /// <see cref="ClearIssues"/> for the rest). A record read with a hash of its text is hashed by
    /// that, without its values being made.
    /// </summary>
    public byte[] Digest(IReadOnlyList<Sources.SourceRow> records)
    {
        var digest = new byte[records.Count * 8];
        for (var i = 0; i < records.Count; i++)
            if (records[i].Problem is null)
                BinaryPrimitives.WriteInt64LittleEndian(digest.AsSpan(i * 8),
                    records[i].TextHash is { } text ? HashText(text) : Hash(records[i].Values));
        return digest;
    }

    /// <summary>Zeroes, in a batch's source digest (8 bytes a row), the hash of each row with an issue: a later run never skips it by this record.</summary>
    public static void ClearIssues(byte[] digest, IReadOnlyList<BatchRow> rows)
    {
        for (var i = 0; i < rows.Count; i++)
            if (rows[i].HasIssues)
                BinaryPrimitives.WriteInt64LittleEndian(digest.AsSpan(i * 8), 0);
    }
}
