using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using Ferry.Mapping;

namespace Ferry.Engine;

/// <summary>
/// The content hash of a mapped row: 64 bits of XXH3 over its values, seeded by the mapping's
/// column names and types, so that a changed mapping changes every hash. A re-run compares it with
/// the hash the ledger kept for the same key and skips the row when they agree.
/// </summary>
public sealed class RowHasher
{
    private readonly ulong seed;
    private byte[] buffer = new byte[1024];

    public RowHasher(RowMapper mapper)
    {
        var shape = string.Join('\u001E', mapper.Columns.Select(c => $"{c.Target}\u001F{c.Type}"));
        seed = XxHash3.HashToUInt64(Encoding.UTF8.GetBytes(shape));
    }

    public long Hash(object?[] values)
    {
        var length = 0;
        foreach (var value in values)
        {
            Ensure(ref length, 17);
            switch (value)
            {
                case null:
                    buffer[length++] = 0;
                    break;
                case string s:
                    WriteText(ref length, 1, s);
                    break;
                case long l:
                    buffer[length] = 2;
                    BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(length + 1), l);
                    length += 9;
                    break;
                case decimal d:
                    // Scale counts: 1.0 and 1.00 hash apart, and the target's own comparison then finds them equal.
                    buffer[length] = 3;
                    decimal.GetBits(d, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(buffer.AsSpan(length + 1, 16)));
                    length += 17;
                    break;
                case double f:
                    buffer[length] = 4;
                    BinaryPrimitives.WriteDoubleLittleEndian(buffer.AsSpan(length + 1), f);
                    length += 9;
                    break;
                case bool b:
                    buffer[length] = (byte)(b ? 6 : 5);
                    length += 1;
                    break;
                case DateOnly day:
                    buffer[length] = 7;
                    BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(length + 1), day.DayNumber);
                    length += 5;
                    break;
                case DateTime time:
                    buffer[length] = 8;
                    BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(length + 1), time.ToBinary());
                    length += 9;
                    break;
                case Guid g:
                    buffer[length] = 9;
                    g.TryWriteBytes(buffer.AsSpan(length + 1));
                    length += 17;
                    break;
                default:
                    WriteText(ref length, 10, RowMapper.Format(value));
                    break;
            }
        }
        return unchecked((long)XxHash3.HashToUInt64(buffer.AsSpan(0, length), unchecked((long)seed)));
    }

    /// <summary>A tag, the UTF-8 length, then the UTF-8 bytes.</summary>
    private void WriteText(ref int length, byte tag, string text)
    {
        Ensure(ref length, 5 + Encoding.UTF8.GetMaxByteCount(text.Length));
        buffer[length] = tag;
        var written = Encoding.UTF8.GetBytes(text, buffer.AsSpan(length + 5));
        BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(length + 1), written);
        length += 5 + written;
    }

    private void Ensure(ref int length, int more)
    {
        if (length + more > buffer.Length)
            Array.Resize(ref buffer, Math.Max(buffer.Length * 2, length + more));
    }
}
