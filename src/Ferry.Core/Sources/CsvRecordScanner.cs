using System.Buffers;
using System.Text.Unicode;

namespace Ferry.Sources;

/// <summary>
/// Finds a UTF-8 file's records in its bytes, without decoding them or making their values: where a
/// record starts and ends, how many fields it has, whether it is one line of valid text. A re-run
/// hashes each record's bytes and compares them with the prior run's; the CSV parser reads only the
/// records of batches that differ (<see cref="CsvRecordBlock"/>). The scanner is sure of a record's
/// end only for plain CSV: quotes that open a field, close it before a delimiter or a line break,
/// and are doubled inside it; lines that end in LF or CR LF. Anything else it calls
/// <see cref="Kind.Unsure"/>, and the parser reads the rest of the file.
/// </summary>
internal sealed class CsvRecordScanner : IDisposable
{
    public enum Kind
    {
        /// <summary>No more records.</summary>
        End,
        /// <summary>One line of valid UTF-8 with the file's number of fields.</summary>
        Record,
        /// <summary>An empty line, which the parser skips (in a file of more than one column).</summary>
        Blank,
        /// <summary>A record whose end is certain but which the parser must read at once to judge it: a line break inside quotes, the wrong number of fields, bytes that are not valid UTF-8, or U+FFFF.</summary>
        Suspect,
        /// <summary>Where the record ends is not certain: the parser reads on from <see cref="Position"/>.</summary>
        Unsure,
    }

    private readonly FileStream file;
    private readonly byte delimiter, quote;
    private readonly int columns;
    private readonly int maxRecord;
    private readonly SearchValues<byte> unquoted;
    private readonly SearchValues<byte> quoted;
    private byte[] buffer = new byte[1 << 20];
    private int start, end;     // the bytes not yet scanned are buffer[start..end)
    private long bufferOffset;  // the file offset of buffer[0]
    private bool eof;

    private CsvRecordScanner(FileStream file, byte delimiter, byte quote, int columns, int maxRecord)
    {
        this.file = file;
        this.delimiter = delimiter;
        this.quote = quote;
        this.columns = columns;
        this.maxRecord = maxRecord;
        unquoted = SearchValues.Create(delimiter, quote, (byte)'\n', (byte)'\r');
        quoted = SearchValues.Create(quote, (byte)'\n', (byte)'\r');
    }

    /// <summary>The file offset of the next record.</summary>
    public long Position => bufferOffset + start;

    /// <summary>
    /// A scanner of <paramref name="path"/>'s records after its byte order mark and, with
    /// <paramref name="header"/>, its first record; null when the delimiter or quote is not one byte
    /// of UTF-8, or the file does not start as the scanner can be sure of (another byte order mark,
    /// a header on more than one line).
    /// </summary>
    public static CsvRecordScanner? Open(string path, char delimiter, char quote, int columns, bool header, int maxRecord)
    {
        if (delimiter >= 0x80 || quote >= 0x80 || delimiter is '\n' or '\r' || quote is '\n' or '\r' || delimiter == quote)
            return null;
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        var scanner = new CsvRecordScanner(file, (byte)delimiter, (byte)quote, columns, maxRecord);
        try
        {
            scanner.Fill();
            var head = scanner.buffer.AsSpan(0, scanner.end);
            if (head.StartsWith("\xEF\xBB\xBF"u8))
                scanner.start = 3;
            else if (head.StartsWith("\xFE\xFF"u8) || head.StartsWith("\xFF\xFE"u8))
                return Fail();
            // The header's fields are counted by the parser, which has read them already.
            if (header && scanner.Next(out _, countFields: false) is not (Kind.Record or Kind.Suspect))
                return Fail();
            return scanner;
        }
        catch
        {
            scanner.Dispose();
            throw;
        }

        CsvRecordScanner? Fail()
        {
            scanner.Dispose();
            return null;
        }
    }

    /// <summary>The next record: its bytes without the line break that ends it.</summary>
    public Kind Next(out ReadOnlySpan<byte> record) => Next(out record, countFields: true);

    private Kind Next(out ReadOnlySpan<byte> record, bool countFields)
    {
        while (true)
        {
            var kind = Scan(out var length, out var breakLength, out var fields, out var needMore);
            if (needMore)
            {
                if (eof || !Refill())
                {
                    record = default;
                    return Kind.Unsure;
                }
                continue;
            }
            if (kind == Kind.End)
            {
                record = default;
                return Kind.End;
            }
            if (kind == Kind.Unsure)
            {
                record = default;
                return Kind.Unsure;
            }
            record = buffer.AsSpan(start, length);
            start += length + breakLength;
            if (length == 0 && columns > 1)
                return Kind.Blank;
            if (kind == Kind.Suspect || (countFields && fields != columns) || !Utf8.IsValid(record) || record.IndexOf("\xEF\xBF\xBF"u8) >= 0)
                return Kind.Suspect;
            return Kind.Record;
        }
    }

    /// <summary>Scans the record at <see cref="start"/> in the buffer; <paramref name="needMore"/> when the buffer ends before it does.</summary>
    private Kind Scan(out int length, out int breakLength, out int fields, out bool needMore)
    {
        length = breakLength = 0;
        fields = 1;
        needMore = false;
        var data = buffer.AsSpan(0, end);
        var i = start;
        if (i == end)
        {
            needMore = !eof;
            return Kind.End;
        }
        var lineInside = false;
        while (true)
        {
            if (i < end && data[i] == quote)
            {
                // A quoted field: runs to a quote that is not doubled.
                i++;
                while (true)
                {
                    var j = data[i..].IndexOfAny(quoted);
                    if (j < 0)
                        return More(out needMore);
                    i += j;
                    if (data[i] != quote)
                    {
                        lineInside = true;
                        i++;
                        continue;
                    }
                    if (i + 1 == end && !eof)
                        return More(out needMore);
                    if (i + 1 < end && data[i + 1] == quote)
                    {
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                // After the closing quote: a delimiter, the line's end or the file's.
                if (i == end)
                {
                    if (!eof)
                        return More(out needMore);
                    length = i - start;
                    return lineInside ? Kind.Suspect : Kind.Record;
                }
                if (data[i] == delimiter)
                {
                    fields++;
                    i++;
                    continue;
                }
                if (data[i] == '\n' || data[i] == '\r')
                    return LineEnd(data, i, lineInside, ref length, ref breakLength, ref needMore);
                return Kind.Unsure;
            }
            else
            {
                var j = data[i..].IndexOfAny(unquoted);
                if (j < 0)
                {
                    if (!eof)
                        return More(out needMore);
                    length = end - start;
                    return lineInside ? Kind.Suspect : Kind.Record;
                }
                i += j;
                if (data[i] == delimiter)
                {
                    fields++;
                    i++;
                    continue;
                }
                if (data[i] == quote)
                    return Kind.Unsure; // a quote inside an unquoted value: the parser decides what it means
                return LineEnd(data, i, lineInside, ref length, ref breakLength, ref needMore);
            }
        }
    }

    /// <summary>A record ending at <paramref name="i"/> in LF or CR LF; a CR alone is a line end the scanner leaves to the parser.</summary>
    private Kind LineEnd(Span<byte> data, int i, bool lineInside, ref int length, ref int breakLength, ref bool needMore)
    {
        length = i - start;
        if (data[i] == '\n')
        {
            breakLength = 1;
        }
        else if (i + 1 < end)
        {
            if (data[i + 1] != '\n')
                return Kind.Unsure;
            breakLength = 2;
        }
        else if (!eof)
        {
            return More(out needMore);
        }
        else
        {
            return Kind.Unsure;
        }
        return lineInside ? Kind.Suspect : Kind.Record;
    }

    private static Kind More(out bool needMore)
    {
        needMore = true;
        return Kind.Unsure;
    }

    /// <summary>Keeps the record being scanned and reads more after it; false when it would grow past the largest record.</summary>
    private bool Refill()
    {
        if (start > 0)
        {
            buffer.AsSpan(start, end - start).CopyTo(buffer);
            bufferOffset += start;
            end -= start;
            start = 0;
        }
        if (end == buffer.Length)
        {
            if (buffer.Length >= maxRecord)
                return false;
            Array.Resize(ref buffer, buffer.Length * 2);
        }
        Fill();
        return true;
    }

    private void Fill()
    {
        while (end < buffer.Length)
        {
            var n = file.Read(buffer, end, buffer.Length - end);
            if (n == 0)
            {
                eof = true;
                return;
            }
            end += n;
        }
    }

    public void Dispose() => file.Dispose();
}
