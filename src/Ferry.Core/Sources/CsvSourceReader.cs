using Ferry.Manifest;
using Sylvan.Data.Csv;

namespace Ferry.Sources;

/// <summary>Delimited text through Sylvan.Data.Csv, with physical line numbers for every record.</summary>
public sealed class CsvSourceReader : ISourceReader
{
    private readonly Stream stream;
    private readonly CsvDataReader reader;
    private readonly string[] columns;
    private readonly long length;
    private readonly string encodingName;
    private long nextLine;

    private CsvSourceReader(string origin, Stream stream, CsvDataReader reader, string[] columns, long firstLine, string encodingName)
    {
        this.encodingName = encodingName;
        Origin = origin;
        this.stream = stream;
        this.reader = reader;
        this.columns = columns;
        length = stream.Length;
        nextLine = firstLine;
    }

    public string Origin { get; }
    public IReadOnlyList<string> Columns => columns;
    public double? Progress => length == 0 ? 1 : (double)stream.Position / length;

    public static async Task<CsvSourceReader> OpenAsync(string path, SourceSpec spec, CancellationToken cancellationToken)
    {
        var origin = Path.GetFileName(path);
        if (!File.Exists(path))
            throw new SourceException(origin, 0, "file", $"source file not found: {path}");
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        try
        {
            var text = new StreamReader(stream, TextEncodings.Get(spec.Encoding), detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
            var options = new CsvDataReaderOptions
            {
                HasHeaders = spec.Header,
                Delimiter = spec.Delimiter,
                Quote = spec.Quote,
                Escape = spec.Quote,
                BufferSize = 1 << 16,
                // A quoted field may be long (free text); the buffer grows up to this, then the row is an error.
                MaxBufferSize = 1 << 24,
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
            return new CsvSourceReader(origin, stream, reader, names, spec.Header ? 2 : 1, spec.Encoding);
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask<SourceRow?> ReadAsync(CancellationToken cancellationToken)
    {
        bool more;
        try
        {
            more = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (CsvFormatException ex)
        {
            throw new SourceException(Origin, nextLine, "csv-format", $"malformed CSV: {ex.Message}", ex);
        }
        if (!more)
            return null;

        var line = nextLine;
        var count = reader.RowFieldCount;
        var values = new string?[columns.Length];
        var newlines = 0;
        for (var i = 0; i < count; i++)
        {
            var value = reader.GetString(i);
            newlines += value.AsSpan().Count('\n');
            if (i < values.Length)
                values[i] = value;
        }
        nextLine = line + 1 + newlines;

        if (count != columns.Length)
            return new SourceRow(line, values, new RowProblem(null, "field-count",
                $"expected {columns.Length} fields, found {count}"));
        for (var i = 0; i < values.Length; i++)
            if (values[i]!.Contains(TextEncodings.InvalidMarker))
                return new SourceRow(line, values, new RowProblem(columns[i], "encoding",
                    $"bytes invalid in encoding '{encodingName}'"));
        return new SourceRow(line, values);
    }

    public async ValueTask DisposeAsync()
    {
        await reader.DisposeAsync().ConfigureAwait(false);
        await stream.DisposeAsync().ConfigureAwait(false);
    }
}
