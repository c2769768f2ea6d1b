using System.IO.Hashing;
using Sylvan.Data.Csv;

namespace Ferry.Sources;

/// <summary>
/// Consecutive well-formed records of a UTF-8 file, one line each, known by where they lie in the
/// file and by the hash of each one's bytes, so that their values are parsed only when something
/// asks for them. Making a string of every value is most of what parsing a file costs; a re-run
/// whose batches are found unchanged by their records' hashes never asks (see
/// <see cref="CsvSourceReader.DeferValues"/>). The first row asked for reads the block's bytes
/// again and parses them with the file's own settings, on the thread that asks, which is not the
/// reading one. Each record must hash as it did when it was scanned: a file changed during the run
/// stops it rather than load values that were never compared. The blocks of one file share
/// <paramref name="texts"/> for the values their columns repeat (held while a record's values are made).
/// </summary>
internal sealed class CsvRecordBlock(string path, string origin, CsvDataReaderOptions options, int columns, long start, long firstLine, RepeatedTexts texts)
{
    /// <summary>Bytes a block spans at most (a record longer than this has a block of its own).</summary>
    public const int Capacity = 1 << 18;

    /// <summary>The file's columns: the values each record parses into.</summary>
    public int Columns => columns;

    private readonly List<long> hashes = [];
    private readonly long begin = start;
    private long end = start;
    private string?[][]? parsed;

    /// <summary>
    /// Appends the record at <paramref name="offset"/>, of <paramref name="length"/> bytes and the
    /// line break after it; false when it does not follow the block's last record, the block is full,
    /// or it was parsed already (a row of it was asked for while the reader went on).
    /// </summary>
    public bool TryAdd(long offset, int length, int lineBreak, long hash, out int index)
    {
        lock (this)
        {
            index = hashes.Count;
            if (parsed is not null || offset != end || (hashes.Count > 0 && offset + length - begin > Capacity))
                return false;
            hashes.Add(hash);
            end = offset + length + lineBreak;
            return true;
        }
    }

    /// <summary>The values of the record at <paramref name="index"/>: as many as the file has columns, none null.</summary>
    public string?[] ValuesOf(int index)
    {
        lock (this)
        {
            parsed ??= Parse();
            var values = parsed[index];
            parsed[index] = null!; // its row keeps them now
            return values;
        }
    }

    private string?[][] Parse()
    {
        var bytes = new byte[end - begin];
        using (var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        {
            var read = 0;
            while (read < bytes.Length && RandomAccess.Read(handle, bytes.AsSpan(read), begin + read) is var n and > 0)
                read += n;
            if (read < bytes.Length)
                throw Changed(firstLine);
        }
        var chars = TextEncodings.Get("utf-8").GetChars(bytes);
        var rows = new string?[hashes.Count][];
        var utf8 = new byte[256];
        using var reader = CsvDataReader.Create(new CharsReader(chars), options);
        for (var i = 0; i < rows.Length; i++)
        {
            // The records were scanned as one line each with the file's number of fields: they parse
            // to those fields, and hash as they did, unless the file changed since.
            if (!reader.Read() || reader.RowFieldCount != columns || HashOf(reader.GetRawRecordSpan(), ref utf8) != hashes[i])
                throw Changed(firstLine + i);
            var values = new string?[columns];
            lock (texts)
            {
                for (var c = 0; c < columns; c++)
                    values[c] = texts.Get(c, reader.GetFieldSpan(c));
            }
            rows[i] = values;
        }
        return rows;
    }

    private SourceException Changed(long line) =>
        new(origin, line, "file-changed", "the file changed while it was read: this record is not what it was when the run compared it; run again on a file no program is writing");

    /// <summary>The hash of a record as the reader gives it, <see cref="SourceRow.TextHash"/>: XXH3 of its text in UTF-8, without the line break that ends it.</summary>
    internal static long HashOf(ReadOnlySpan<char> record, ref byte[] scratch)
    {
        record = CsvSourceReader.WithoutLineBreak(record);
        var most = System.Text.Encoding.UTF8.GetMaxByteCount(record.Length);
        if (scratch.Length < most)
            scratch = new byte[Math.Max(most, scratch.Length * 2)];
        var length = System.Text.Encoding.UTF8.GetBytes(record, scratch);
        return unchecked((long)XxHash3.HashToUInt64(scratch.AsSpan(0, length)));
    }

    /// <summary>Characters as a text reader, without copying them into a string.</summary>
    private sealed class CharsReader(char[] chars) : TextReader
    {
        private int position;

        public override int Peek() => position < chars.Length ? chars[position] : -1;

        public override int Read() => position < chars.Length ? chars[position++] : -1;

        public override int Read(char[] buffer, int index, int count) => Read(buffer.AsSpan(index, count));

        public override int Read(Span<char> buffer)
        {
            var n = Math.Min(buffer.Length, chars.Length - position);
            chars.AsSpan(position, n).CopyTo(buffer);
            position += n;
            return n;
        }

        public override Task<int> ReadAsync(char[] buffer, int index, int count) => Task.FromResult(Read(buffer, index, count));

        public override ValueTask<int> ReadAsync(Memory<char> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));
    }
}
