using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Ferry.Engine;

namespace Ferry.Targets;

/// <summary>
/// The JSON arrays of a batch record: each row's source line (<c>lines</c>) and business key
/// (<c>keys</c>, null for a row without one), in batch order. Written by hand: a key of plain
/// printable ASCII, by far the commonest, needs no escaping and is copied as it is.
/// </summary>
internal sealed class BatchJson
{
    private static readonly SearchValues<char> Plain = SearchValues.Create(
        string.Concat(Enumerable.Range(0x20, 0x7F - 0x20).Select(c => (char)c).Where(c => c is not ('"' or '\\'))));

    private readonly ArrayBufferWriter<byte> buffer = new(1 << 16);

    /// <summary>[line, line, …] (UTF-8), valid until the next call.</summary>
    public ReadOnlySpan<byte> Lines(IReadOnlyList<BatchRow> rows)
    {
        buffer.ResetWrittenCount();
        Append("["u8);
        for (var i = 0; i < rows.Count; i++)
        {
            if (i > 0)
                Append(","u8);
            var span = buffer.GetSpan(20);
            rows[i].Line.TryFormat(span, out var written, default, System.Globalization.CultureInfo.InvariantCulture);
            buffer.Advance(written);
        }
        Append("]"u8);
        return buffer.WrittenSpan;
    }

    /// <summary>["key", null, …] (UTF-8), valid until the next call.</summary>
    public ReadOnlySpan<byte> Keys(IReadOnlyList<BatchRow> rows)
    {
        buffer.ResetWrittenCount();
        Append("["u8);
        for (var i = 0; i < rows.Count; i++)
        {
            if (i > 0)
                Append(","u8);
            var key = rows[i].Key;
            if (key is null)
            {
                Append("null"u8);
            }
            else if (!key.AsSpan().ContainsAnyExcept(Plain))
            {
                var span = buffer.GetSpan(key.Length + 2);
                span[0] = (byte)'"';
                Encoding.ASCII.GetBytes(key, span[1..]);
                span[key.Length + 1] = (byte)'"';
                buffer.Advance(key.Length + 2);
            }
            else
            {
                Append("\""u8);
                Append(JsonEncodedText.Encode(key, JavaScriptEncoder.UnsafeRelaxedJsonEscaping).EncodedUtf8Bytes);
                Append("\""u8);
            }
        }
        Append("]"u8);
        return buffer.WrittenSpan;
    }

    private void Append(ReadOnlySpan<byte> bytes) => buffer.Write(bytes);
}
