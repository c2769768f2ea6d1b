using System.Security.Cryptography;
using System.Text;

namespace Ferry.Mapping;

/// <summary>
/// Name-based UUIDs (RFC 9562 version 5): the same entity and legacy key always give the same UUID,
/// on any machine, in any run, so re-runs and key maps agree without storing anything.
/// </summary>
public static class DeterministicUuid
{
    private const byte Separator = 0x1F; // U+001F between the parts of a name, one UTF-8 byte

    /// <summary>Ferry's namespace: the v5 UUID of "ferry" in the RFC's URL namespace.</summary>
    private static readonly Guid FerryNamespace = Create(new Guid("6ba7b811-9dad-11d1-80b4-00c04fd430c8"), "ferry");

    // A name of one block (most keys) is hashed by ShortSha1; a longer one by one SHA-1 per thread, reset
    // by each hash: a one-shot hash set up and tore down OpenSSL's digest every time (0.8 µs against 0.5 µs).
    [ThreadStatic]
    private static IncrementalHash? sha1;

    public static Guid ForKey(string entity, string key) => Create(FerryNamespace, entity, key);

    /// <summary>
    /// The key map's UUID for a legacy key of an entity in a tenant ("" without tenants). Its name has one
    /// part more than <see cref="ForKey"/>'s: the tenant.
    /// </summary>
    public static Guid ForLegacyKey(string entity, string tenant, string legacyKey) => Create(FerryNamespace, entity, tenant, legacyKey);

    public static Guid Create(Guid ns, string name) => Create(ns, [name]);

    /// <summary>The UUID of the name made of <paramref name="parts"/> joined by U+001F.</summary>
    private static Guid Create(Guid ns, params ReadOnlySpan<string> parts)
    {
        // Keys are short, but a value can be any length: only small inputs go on the stack.
        var size = 16;
        foreach (var part in parts)
            size += Encoding.UTF8.GetMaxByteCount(part.Length) + 1;
        Span<byte> input = size <= 512 ? stackalloc byte[size] : new byte[size];
        ns.TryWriteBytes(input, bigEndian: true, out _);
        var length = 16;
        for (var i = 0; i < parts.Length; i++)
        {
            if (i > 0)
                input[length++] = Separator;
            length += Encoding.UTF8.GetBytes(parts[i], input[length..]);
        }
        Span<byte> hash = stackalloc byte[20];
        if (length <= ShortSha1.MaxInput)
        {
            ShortSha1.Hash(input[..length], hash);
        }
        else
        {
            var digest = sha1 ??= IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
            digest.AppendData(input[..length]);
            digest.GetHashAndReset(hash);
        }
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash[..16], bigEndian: true);
    }
}
