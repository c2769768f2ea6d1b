using Sylvan.Data.Csv;

namespace Ferry.Sources;

/// <summary>
/// The text of consecutive well-formed records, one line each, kept as read so that their values
/// are parsed only when something asks for them. Making a string of every value is most of what
/// parsing a file costs; a re-run whose batches are found unchanged by their records' text never
/// asks (see <see cref="CsvSourceReader.DeferValues"/>). The first row asked for parses the whole
/// block, with the file's own settings, on the thread that asks, which is not the reading one.
/// </summary>
internal sealed class CsvRecordBlock(CsvDataReaderOptions options, int columns)
{
    /// <summary>Characters a block holds at most (a record longer than this has a block of its own).</summary>
    public const int Capacity = 1 << 17;

    private char[]? text;
    private int used;
    private int count;
    private string?[][]? parsed;

    /// <summary>
    /// Appends a record (without its line break); false when the block has no room for it and holds
    /// records already, or was parsed already: a row of it was asked for while the reader went on.
    /// </summary>
    public bool TryAdd(ReadOnlySpan<char> record, out int index)
    {
        lock (this)
        {
            index = count;
            if (parsed is not null)
                return false;
            // Not cleared first: every character of it that is read was written.
            if (text is null)
                text = GC.AllocateUninitializedArray<char>(Math.Max(Capacity, record.Length + 1));
            else if (used + record.Length + 1 > text.Length)
                return false;
            record.CopyTo(text.AsSpan(used));
            used += record.Length;
            text[used++] = '\n';
            count++;
            return true;
        }
    }

    /// <summary>The values of the record at <paramref name="index"/>: as many as the file has columns, none null.</summary>
    public string?[] ValuesOf(int index)
    {
        lock (this)
        {
            if (parsed is null)
            {
                parsed = Parse();
                text = null;
            }
            var values = parsed[index];
            parsed[index] = null!; // its row keeps them now
            return values;
        }
    }

    private string?[][] Parse()
    {
        var rows = new string?[count][];
        using var reader = CsvDataReader.Create(new CharsReader(text!, used), options);
        for (var i = 0; i < count; i++)
        {
            // Each record was read from the file by the same parser with the same settings, so it
            // parses again to the same fields.
            if (!reader.Read() || reader.RowFieldCount != columns)
                throw new InvalidOperationException($"record {i + 1} of a block of {count} did not parse again to {columns} fields");
            var values = new string?[columns];
            for (var c = 0; c < columns; c++)
                values[c] = reader.GetString(c);
            rows[i] = values;
        }
        return rows;
    }

    /// <summary>The block's characters as a text reader, without copying them into a string.</summary>
    private sealed class CharsReader(char[] chars, int length) : TextReader
    {
        private int position;

        public override int Peek() => position < length ? chars[position] : -1;

        public override int Read() => position < length ? chars[position++] : -1;

        public override int Read(char[] buffer, int index, int count) => Read(buffer.AsSpan(index, count));

        public override int Read(Span<char> buffer)
        {
            var n = Math.Min(buffer.Length, length - position);
            chars.AsSpan(position, n).CopyTo(buffer);
            position += n;
            return n;
        }

        public override Task<int> ReadAsync(char[] buffer, int index, int count) => Task.FromResult(Read(buffer, index, count));

        public override ValueTask<int> ReadAsync(Memory<char> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));
    }
}
