using System.IO.Hashing;
using System.Text.Json;
using Ferry.Manifest;
using Sylvan.Data.Csv;

namespace Ferry.Sources;

/// <summary>Delimited text through Sylvan.Data.Csv, with physical line numbers for every record.</summary>
public sealed class CsvSourceReader : ISourceReader
{
    private readonly string path;
    private readonly bool header;
    private Stream stream;
    private CsvDataReader reader;
    private readonly string[] columns;
    private readonly long length;
    private readonly string encodingName;
    private readonly System.Text.Encoding encoding; // the file's, with bad bytes read as TextEncodings.InvalidMarker
    private readonly char delimiter;
    private readonly CsvDataReaderOptions blockOptions;
    private CsvRecordScanner? scanner;
    private bool started;
    private CsvRecordBlock? block;
    private byte[] utf8 = new byte[1 << 10];
    private long nextLine;
    private readonly RepeatedTexts texts;
    private RepeatedTexts? blockTexts; // the record blocks', which the thread asking for their values uses, not this one

    /// <summary>The most a record may hold (a long quoted field grows the buffer up to this).</summary>
    private const int MaxRecordSize = 1 << 24;

    private CsvSourceReader(string path, bool header, string origin, Stream stream, CsvDataReader reader, CsvDataReaderOptions options, string[] columns, long firstLine, string encodingName, System.Text.Encoding encoding, char delimiter)
    {
        this.path = path;
        this.header = header;
        blockOptions = new CsvDataReaderOptions
        {
            HasHeaders = false,
            Delimiter = options.Delimiter,
            Quote = options.Quote,
            Escape = options.Escape,
            BufferSize = options.BufferSize,
            MaxBufferSize = options.MaxBufferSize,
            CsvStyle = options.CsvStyle,
        };
        this.encodingName = encodingName;
        this.encoding = encoding;
        this.delimiter = delimiter;
        Origin = origin;
        this.stream = stream;
        this.reader = reader;
        this.columns = columns;
        texts = new RepeatedTexts(columns.Length);
        length = stream.Length;
        nextLine = firstLine;
    }

    public string Origin { get; }
    public IReadOnlyList<string> Columns => columns;
    public double? Progress => length == 0 ? 1 : (double)(scanner?.Position ?? stream.Position) / length;

    /// <summary>
    /// Each record gets <see cref="SourceRow.TextHash"/>, a hash of its text: a re-run compares
    /// records by it (<see cref="Engine.SourceHasher"/>) without making their values.
    /// </summary>
    public bool HashRecords { get; set; }

    /// <summary>
    /// With <see cref="HashRecords"/>, set before the first record is read: a UTF-8 file's records
    /// are found in its bytes (<see cref="CsvRecordScanner"/>) and hashed there, and a well-formed
    /// record's values are made only when asked for, by whoever asks, from the bytes read again
    /// (<see cref="CsvRecordBlock"/>). A re-run whose batches are found unchanged by their hashes
    /// then never decodes or parses them. A record the scanner cannot judge (a line break inside
    /// quotes, the wrong number of fields, a bad byte) is parsed at once, as without this; from a
    /// record it cannot be sure where it ends (a quote inside an unquoted value, a carriage return
    /// alone), the parser reads the rest of the file.
    /// </summary>
    public bool DeferValues { get; set; }

    public static async Task<CsvSourceReader> OpenAsync(string path, SourceSpec spec, CancellationToken cancellationToken)
    {
        var origin = Path.GetFileName(path);
        if (!File.Exists(path))
            throw new SourceException(origin, 0, "file", $"source file not found: {path}");
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        try
        {
            var encoding = TextEncodings.Get(spec.Encoding);
            var text = new StreamReader(stream, encoding, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
            var options = new CsvDataReaderOptions
            {
                HasHeaders = spec.Header,
                Delimiter = spec.Delimiter,
                Quote = spec.Quote,
                Escape = spec.Quote,
                BufferSize = 1 << 16,
                // A quoted field may be long (free text); the buffer grows up to this, then the row is an error.
                MaxBufferSize = MaxRecordSize,
                CsvStyle = CsvStyle.Standard,
            };
            CsvDataReader reader;
            try
            {
                reader = await CsvDataReader.CreateAsync(text, options, cancellationToken).ConfigureAwait(false);
            }
            catch (CsvFormatException ex)
            {
                throw new SourceException(origin, ex.RowNumber + 1, "csv-format", $"malformed CSV header: {ex.Message}", ex);
            }
            string[] names;
            if (spec.Header)
            {
                names = Enumerable.Range(0, reader.FieldCount).Select(i => reader.GetName(i).Trim()).ToArray();
                var blank = Array.FindIndex(names, string.IsNullOrEmpty);
                if (blank >= 0)
                    throw new SourceException(origin, 1, "header", $"header column {blank + 1} has no name");
                var duplicate = names.GroupBy(n => n, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
                if (duplicate is not null)
                    throw new SourceException(origin, 1, "header", $"header names column '{duplicate.Key}' twice");
            }
            else
            {
                names = [.. spec.Columns!];
            }
            return new CsvSourceReader(path, spec.Header, origin, stream, reader, options, names, spec.Header ? 2 : 1, spec.Encoding, encoding, spec.Delimiter);
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask<SourceRow?> ReadAsync(CancellationToken cancellationToken)
    {
        if (!started)
        {
            started = true;
            if (HashRecords && DeferValues && encoding.CodePage == 65001)
                scanner = CsvRecordScanner.Open(path, delimiter, blockOptions.Quote, columns.Length, header, MaxRecordSize);
        }
        if (scanner is not null && Scanned(cancellationToken) is var (scanned, sure) && sure)
            return scanned;
        while (true)
        {
            if (!await NextRecordAsync(cancellationToken).ConfigureAwait(false))
                return null;
            // Sylvan reads a blank line as a record of one empty field. It is no record (unless the
            // file has one column, where it is a blank value), but it is a line.
            if (reader.RowFieldCount == 1 && columns.Length > 1 && reader.GetString(0).Length == 0)
                nextLine++;
            else
                break;
        }
        return Record(reader, HashRecords ? CsvRecordBlock.HashOf(reader.GetRawRecordSpan(), ref utf8) : null);
    }

    /// <summary>The next record as the scanner finds it; not sure when the parser must read on from here.</summary>
    private (SourceRow? Row, bool Sure) Scanned(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var scan = scanner!;
        while (true)
        {
            var offset = scan.Position;
            switch (scan.Next(out var bytes))
            {
                case CsvRecordScanner.Kind.End:
                    return (null, true);
                case CsvRecordScanner.Kind.Blank:
                    nextLine++;
                    continue;
                case CsvRecordScanner.Kind.Record:
                    var hash = unchecked((long)XxHash3.HashToUInt64(bytes));
                    var lineBreak = (int)(scan.Position - offset - bytes.Length);
                    if (block is null || !block.TryAdd(offset, bytes.Length, lineBreak, hash, out var index))
                    {
                        block = new CsvRecordBlock(path, Origin, blockOptions, columns.Length, offset, nextLine, blockTexts ??= new(columns.Length));
                        block.TryAdd(offset, bytes.Length, lineBreak, hash, out index);
                    }
                    return (new SourceRow(nextLine++, block, index, bytes.Length, hash), true);
                case CsvRecordScanner.Kind.Suspect:
                    // Judged as the parser judges it: parsed on its own, which a record whose end is
                    // certain parses to what it would among the others.
                    var text = encoding.GetString(bytes);
                    using (var alone = CsvDataReader.Create(new StringReader(text), blockOptions))
                    {
                        if (!alone.Read())
                            throw new InvalidOperationException($"the record on line {nextLine} did not parse on its own");
                        if (alone.RowFieldCount == 1 && columns.Length > 1 && alone.GetString(0).Length == 0)
                        {
                            nextLine++; // a lone empty value ("") is read as a blank line, as by the parser below
                            continue;
                        }
                        var row = Record(alone, CsvRecordBlock.HashOf(text, ref utf8));
                        if (alone.Read())
                            throw new InvalidOperationException($"the record on line {row.Line} parsed on its own to more than one");
                        return (row, true);
                    }
                default:
                    // The parser reads on from this record, where the scanner stopped.
                    scanner = null;
                    scan.Dispose();
                    var rest = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
                    rest.Position = offset;
                    reader.Dispose();
                    stream.Dispose();
                    stream = rest;
                    reader = CsvDataReader.Create(new StreamReader(rest, encoding, detectEncodingFromByteOrderMarks: false, bufferSize: 1 << 16), blockOptions);
                    return (null, false);
            }
        }
    }

    /// <summary>The record <paramref name="parser"/> has just read, with its problems, on the next line.</summary>
    private SourceRow Record(CsvDataReader parser, long? textHash)
    {
        var line = nextLine;
        var count = parser.RowFieldCount;
        var values = new string?[columns.Length];
        var newlines = 0;
        var invalid = -1; // the first named column holding bytes invalid in the encoding
        List<string>? beyond = null;
        for (var i = 0; i < count; i++)
        {
            var field = parser.GetFieldSpan(i);
            // One scan finds both, and a value has neither nearly always.
            var special = field.IndexOfAny('\n', TextEncodings.InvalidMarker);
            if (special >= 0)
            {
                newlines += field[special..].Count('\n');
                if (invalid < 0 && i < values.Length && field[special..].Contains(TextEncodings.InvalidMarker))
                    invalid = i;
            }
            if (i < values.Length)
                values[i] = texts.Get(i, field);
            else
                (beyond ??= []).Add(new string(field));
        }
        nextLine = line + 1 + newlines;

        if (newlines > 0 && RunawayQuote(parser, line, count) is { } runaway)
            return new SourceRow(line, values, runaway, textHash: textHash);
        if (count != columns.Length)
            return new SourceRow(line, values, new RowProblem(null, "field-count",
                $"expected {columns.Length} fields, found {count}" + (beyond is null ? "" : $"; beyond the last column: {Quoted(beyond)}")), textHash: textHash);
        if (invalid >= 0)
            return new SourceRow(line, values, new RowProblem(columns[invalid], "encoding",
                $"bytes invalid in encoding '{encodingName}'"), textHash: textHash);
        return new SourceRow(line, values, textHash: textHash);
    }

    /// <summary>A record's text without the line break that ends it (the last record may have none).</summary>
    internal static ReadOnlySpan<char> WithoutLineBreak(ReadOnlySpan<char> record)
    {
        if (record.EndsWith('\n'))
            record = record[..^1];
        if (record.EndsWith('\r'))
            record = record[..^1];
        return record;
    }

    /// <summary>
    /// The raw record keeps only the named columns, so the values past them go into the message:
    /// a rejected row must keep everything it held, to be corrected and fed back.
    /// </summary>
    internal static string Quoted(IEnumerable<string> values) =>
        string.Join(", ", values.Select(v => JsonSerializer.Serialize(v, QuotedJson)));

    private static readonly JsonSerializerOptions QuotedJson = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private ValueTask<bool> NextRecordAsync(CancellationToken cancellationToken)
    {
        try
        {
            // Read synchronously: the source is read on a task of its own, and an awaited read per
            // record cost its state machines more than the file's I/O (a file read never waits long).
            cancellationToken.ThrowIfCancellationRequested();
            return ValueTask.FromResult(reader.Read());
        }
        catch (CsvRecordTooLargeException ex)
        {
            // Sylvan's own text ("Row 2 was too large. Try increasing the MaxBufferSize setting.")
            // counts records, not lines, and names a setting the user does not have.
            throw new SourceException(Origin, nextLine, "csv-format",
                $"malformed CSV: the record starting on this line runs past {MaxRecordSize >> 20} MB; is a quote opened here never closed?", ex);
        }
        catch (CsvFormatException ex)
        {
            throw new SourceException(Origin, nextLine, "csv-format", $"malformed CSV: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// A quote opened by mistake (or never closed) runs on until some later quote happens to close
    /// it, and the records in between become part of one field: Sylvan sees one valid record.
    /// Such a record spans several lines, and every one of them, read without regard to quotes,
    /// has exactly the fields of a whole record. A genuine multi-line value (an address, a note)
    /// almost never does, because the line it opens on is short of fields. Files of fewer than
    /// three columns are not judged: one delimiter in a line of free text is too common there.
    /// </summary>
    private RowProblem? RunawayQuote(CsvDataReader parser, long line, int count)
    {
        if (columns.Length < 3)
            return null;
        var delimiters = 0; // on the current physical line
        var offset = 0;     // physical lines before the current one in this record
        int? field = null;  // the first field that holds a line break: where the quote opened
        for (var i = 0; i < count; i++)
        {
            if (i > 0)
                delimiters++;
            foreach (var c in parser.GetString(i))
            {
                if (c == delimiter)
                {
                    delimiters++;
                }
                else if (c == '\n')
                {
                    if (delimiters != columns.Length - 1)
                        return null;
                    field ??= i;
                    delimiters = 0;
                    offset++;
                }
            }
        }
        if (field is null || delimiters != columns.Length - 1)
            return null;
        var last = line + offset;
        return new RowProblem(field < columns.Length ? columns[field.Value] : null, "unclosed-quote",
            $"a quoted value opened on line {line} only closes on line {last}, yet lines {line}-{last} each have the {columns.Length} fields " +
            $"of a whole record: a closing quote is probably missing on line {line}, and the records after it were read into this value");
    }

    public async ValueTask DisposeAsync()
    {
        scanner?.Dispose();
        await reader.DisposeAsync().ConfigureAwait(false);
        await stream.DisposeAsync().ConfigureAwait(false);
    }
}
