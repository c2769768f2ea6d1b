using System.Buffers.Binary;
using System.Numerics;

namespace Ferry.Mapping;

/// <summary>
/// SHA-1 (FIPS 180-4) of an input that fits one 64-byte block: at most 55 bytes, the name of a UUID
/// from a namespace and a short key. A migration makes one such UUID per row, and through the crypto
/// library each cost about a microsecond, nearly all of it the call (setting up and clearing
/// OpenSSL's state) rather than the 80 rounds of one block; longer names still go to the library.
/// Tests compare it with <see cref="System.Security.Cryptography.SHA1"/> for every length it takes.
/// </summary>
internal static class ShortSha1
{
    public const int MaxInput = 55; // 64 bytes less the 0x80 marker and the 8-byte length

    /// <summary>Writes the 20-byte hash of <paramref name="input"/> (at most <see cref="MaxInput"/> bytes) to <paramref name="hash"/>.</summary>
    public static unsafe void Hash(ReadOnlySpan<byte> input, Span<byte> hash)
    {
        if (input.Length > MaxInput)
            throw new ArgumentException($"at most {MaxInput} bytes", nameof(input));
        Span<byte> block = stackalloc byte[64];
        block.Clear();
        input.CopyTo(block);
        block[input.Length] = 0x80;
        BinaryPrimitives.WriteUInt64BigEndian(block[56..], (ulong)input.Length * 8);

        // The schedule through a pointer: indexing a span checked every w[i - 3], w[i - 8] … of the 80 rounds.
        var w = stackalloc uint[80];
        for (var i = 0; i < 16; i++)
            w[i] = BinaryPrimitives.ReadUInt32BigEndian(block[(i * 4)..]);
        for (var i = 16; i < 80; i++)
            w[i] = BitOperations.RotateLeft(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);

        uint a = 0x67452301, b = 0xEFCDAB89, c = 0x98BADCFE, d = 0x10325476, e = 0xC3D2E1F0;
        for (var i = 0; i < 80; i++)
        {
            var fk = i < 20 ? ((b & c) | (~b & d)) + 0x5A827999
                : i < 40 ? (b ^ c ^ d) + 0x6ED9EBA1
                : i < 60 ? ((b & c) | (b & d) | (c & d)) + 0x8F1BBCDC
                : (b ^ c ^ d) + 0xCA62C1D6;
            var t = BitOperations.RotateLeft(a, 5) + fk + e + w[i];
            e = d;
            d = c;
            c = BitOperations.RotateLeft(b, 30);
            b = a;
            a = t;
        }
        BinaryPrimitives.WriteUInt32BigEndian(hash, 0x67452301 + a);
        BinaryPrimitives.WriteUInt32BigEndian(hash[4..], 0xEFCDAB89 + b);
        BinaryPrimitives.WriteUInt32BigEndian(hash[8..], 0x98BADCFE + c);
        BinaryPrimitives.WriteUInt32BigEndian(hash[12..], 0x10325476 + d);
        BinaryPrimitives.WriteUInt32BigEndian(hash[16..], 0xC3D2E1F0 + e);
    }
}
