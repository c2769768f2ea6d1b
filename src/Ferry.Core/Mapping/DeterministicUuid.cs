using System.Security.Cryptography;
using System.Text;

namespace Ferry.Mapping;

/// <summary>
/// Name-based UUIDs (RFC 9562 version 5): the same entity and legacy key always give the same UUID,
/// on any machine, in any run, so re-runs and key maps agree without storing anything.
/// </summary>
public static class DeterministicUuid
{
    /// <summary>Ferry's namespace: the v5 UUID of "ferry" in the RFC's URL namespace.</summary>
    private static readonly Guid FerryNamespace = Create(new Guid("6ba7b811-9dad-11d1-80b4-00c04fd430c8"), "ferry");

    public static Guid ForKey(string entity, string key) => Create(FerryNamespace, entity + "\u001F" + key);

    /// <summary>
    /// The key map's UUID for a legacy key of an entity in a tenant ("" without tenants). Its name has one
    /// part more than <see cref="ForKey"/>'s: the tenant.
    /// </summary>
    public static Guid ForLegacyKey(string entity, string tenant, string legacyKey) =>
        Create(FerryNamespace, entity + "\u001F" + tenant + "\u001F" + legacyKey);

    public static Guid Create(Guid ns, string name)
    {
        // Keys are short, but a value can be any length: only small inputs go on the stack.
        var size = 16 + Encoding.UTF8.GetMaxByteCount(name.Length);
        Span<byte> input = size <= 512 ? stackalloc byte[size] : new byte[size];
        ns.TryWriteBytes(input, bigEndian: true, out _);
        var length = 16 + Encoding.UTF8.GetBytes(name, input[16..]);
        Span<byte> hash = stackalloc byte[20];
        SHA1.HashData(input[..length], hash);
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash[..16], bigEndian: true);
    }
}
