using Ferry.Manifest;

namespace Ferry.Sources;

/// <summary>
/// One sheet of an XLSX workbook (<see cref="XlsxSheet"/>: the Open XML SDK finds the parts, the sheet's
/// XML is read once, row by row). The first row is the header; line numbers are the spreadsheet's
/// row numbers.
/// </summary>
public sealed class XlsxSourceReader : ISourceReader
{
    private readonly Stream stream;
    private readonly XlsxSheet sheet;
    private readonly string[] columns;
    private long row;

    private XlsxSourceReader(string origin, Stream stream, XlsxSheet sheet, string[] columns)
    {
        Origin = origin;
        this.stream = stream;
        this.sheet = sheet;
        this.columns = columns;
        row = 1;
    }

    public string Origin { get; }
    public IReadOnlyList<string> Columns => columns;
    public double? Progress => sheet.Progress;

    public static Task<XlsxSourceReader> OpenAsync(string path, SourceSpec spec, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var origin = Path.GetFileName(path);
        if (!File.Exists(path))
            throw new SourceException(origin, 0, "file", $"source file not found: {path}");
        var stream = File.OpenRead(path);
        XlsxSheet? sheet = null;
        try
        {
            try
            {
                sheet = XlsxSheet.Open(stream, spec.Sheet)
                    ?? throw new SourceException(origin, 0, "sheet", $"the workbook has no sheet named '{spec.Sheet}'");
                // The header is the sheet's first row; a sheet whose first row is not row 1 has none.
                if (!sheet.Read())
                    throw new SourceException(origin, 1, "header", $"sheet '{sheet.Name}' is empty: its first row must name the columns");
            }
            catch (Exception ex) when (ex is not SourceException and not OperationCanceledException)
            {
                throw new SourceException(origin, 0, "xlsx", $"not a readable XLSX workbook ({ex.Message})", ex);
            }
            var names = sheet.RowNumber == 1 ? sheet.Cells.Select(c => c?.Trim() ?? "").ToArray() : [];
            var last = Array.FindLastIndex(names, n => n.Length > 0);
            names = names[..(last + 1)];
            var blank = Array.FindIndex(names, string.IsNullOrEmpty);
            if (names.Length == 0)
                throw new SourceException(origin, 1, "header", $"sheet '{sheet.Name}' has no header: its row 1 must name the columns");
            if (blank >= 0)
                throw new SourceException(origin, 1, "header", $"header column {blank + 1} has no name");
            return Task.FromResult(new XlsxSourceReader(origin, stream, sheet, names));
        }
        catch
        {
            sheet?.Dispose();
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
                more = sheet.Read();
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                throw new SourceException(Origin, row + 1, "xlsx", $"unreadable row ({ex.Message})", ex);
            }
            if (!more)
                return ValueTask.FromResult<SourceRow?>(null);
            row = sheet.RowNumber;
            var cells = sheet.Cells;
            var values = new string?[columns.Length];
            var any = false;
            for (var i = 0; i < values.Length && i < cells.Count; i++)
            {
                values[i] = cells[i];
                any |= values[i] is not null;
            }
            RowProblem? problem = null;
            List<string>? beyond = null;
            var first = 0;
            for (var i = values.Length; i < cells.Count; i++)
                if (cells[i] is { } extra)
                {
                    first = first == 0 ? i + 1 : first;
                    (beyond ??= []).Add(extra);
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

    public ValueTask DisposeAsync()
    {
        sheet.Dispose();
        stream.Dispose();
        return ValueTask.CompletedTask;
    }
}
