using System.Globalization;
using ExcelDataReader;
using Ferry.Manifest;

namespace Ferry.Sources;

/// <summary>
/// One sheet of an XLSX workbook through ExcelDataReader, which streams the sheet's rows. The first
/// row is the header; line numbers are the spreadsheet's row numbers.
/// </summary>
public sealed class XlsxSourceReader : ISourceReader
{
    private readonly Stream stream;
    private readonly IExcelDataReader reader;
    private readonly string[] columns;
    private readonly int rowCount;
    private long row;

    private XlsxSourceReader(string origin, Stream stream, IExcelDataReader reader, string[] columns)
    {
        Origin = origin;
        this.stream = stream;
        this.reader = reader;
        this.columns = columns;
        rowCount = Math.Max(reader.RowCount, 1);
        row = 1;
    }

    public string Origin { get; }
    public IReadOnlyList<string> Columns => columns;
    public double? Progress => Math.Min(1.0, (double)row / rowCount);

    public static Task<XlsxSourceReader> OpenAsync(string path, SourceSpec spec, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        TextEncodings.RegisterCodePages(); // ExcelDataReader needs windows-1252 to open any workbook
        var origin = Path.GetFileName(path);
        if (!File.Exists(path))
            throw new SourceException(origin, 0, "file", $"source file not found: {path}");
        var stream = File.OpenRead(path);
        IExcelDataReader? reader = null;
        try
        {
            try
            {
                reader = ExcelReaderFactory.CreateOpenXmlReader(stream);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                throw new SourceException(origin, 0, "xlsx", $"not a readable XLSX workbook ({ex.Message})", ex);
            }
            if (spec.Sheet is not null)
            {
                while (!string.Equals(reader.Name, spec.Sheet, StringComparison.OrdinalIgnoreCase))
                    if (!reader.NextResult())
                        throw new SourceException(origin, 0, "sheet", $"the workbook has no sheet named '{spec.Sheet}'");
            }
            if (!reader.Read())
                throw new SourceException(origin, 1, "header", $"sheet '{reader.Name}' is empty: its first row must name the columns");
            var names = new string[reader.FieldCount];
            for (var i = 0; i < names.Length; i++)
                names[i] = Cell(reader.GetValue(i))?.Trim() ?? "";
            var last = Array.FindLastIndex(names, n => n.Length > 0);
            names = names[..(last + 1)];
            var blank = Array.FindIndex(names, string.IsNullOrEmpty);
            if (names.Length == 0 || blank >= 0)
                throw new SourceException(origin, 1, "header", $"header column {blank + 1} has no name");
            return Task.FromResult(new XlsxSourceReader(origin, stream, reader, names));
        }
        catch
        {
            reader?.Dispose();
            stream.Dispose();
            throw;
        }
    }

    public ValueTask<SourceRow?> ReadAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        while (true)
        {
            bool more;
            try
            {
                more = reader.Read();
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                throw new SourceException(Origin, row + 1, "xlsx", $"unreadable row ({ex.Message})", ex);
            }
            if (!more)
                return ValueTask.FromResult<SourceRow?>(null);
            row++;
            var values = new string?[columns.Length];
            var any = false;
            for (var i = 0; i < values.Length && i < reader.FieldCount; i++)
            {
                values[i] = Cell(reader.GetValue(i));
                any |= values[i] is not null;
            }
            RowProblem? problem = null;
            List<string>? beyond = null;
            var first = 0;
            for (var i = values.Length; i < reader.FieldCount; i++)
                if (reader.GetValue(i) is { } extra)
                {
                    first = first == 0 ? i + 1 : first;
                    (beyond ??= []).Add(Cell(extra)!);
                }
            // The raw record keeps only the named columns, so the values past them go into the message.
            if (beyond is not null)
                problem = new RowProblem(null, "field-count",
                    $"a value in column {first}, beyond the {columns.Length} named columns: {CsvSourceReader.Quoted(beyond)}");
            // Spreadsheets end with formatted but empty rows; they are not records.
            if (any || problem is not null)
                return ValueTask.FromResult<SourceRow?>(new SourceRow(row, values, problem));
        }
    }

    /// <summary>A cell as the text a person sees: ISO dates, invariant numbers.</summary>
    internal static string? Cell(object? value) => value switch
    {
        null => null,
        string s => s,
        DateTime d when d.TimeOfDay == TimeSpan.Zero => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        DateTime d => d.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
        double n => n.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };

    public ValueTask DisposeAsync()
    {
        reader.Dispose();
        stream.Dispose();
        return ValueTask.CompletedTask;
    }
}
