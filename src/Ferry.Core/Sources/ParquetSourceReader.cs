using Ferry.Sources.Database;
using Parquet;
using Parquet.Schema;

namespace Ferry.Sources;

/// <summary>
/// A Parquet file, read one row group at a time (Parquet.Net), so memory holds one row group's
/// values, not the file. Values become text by the rules database values follow (ISO dates,
/// invariant numbers, hex bytes). A row's line is its 1-based ordinal in the file, unless the file
/// has a <c>_ferry_line</c> column (a pipeline's stage file keeps its source file's lines there),
/// which is then the line and not a column.
/// </summary>
public sealed class ParquetSourceReader : ISourceReader
{
    /// <summary>The column of a stage file that holds each row's line in the file it came from.</summary>
    public const string LineColumn = "_ferry_line";

    private readonly ParquetReader reader;
    private readonly DataField[] fields;
    private readonly DataField? lineField;
    private readonly string[] columns;
    private readonly long totalRows;
    private int group = -1;
    private string?[][] values = [];
    private long[]? lines;
    private int position;
    private int groupRows;
    private long rowsRead;

    private ParquetSourceReader(string origin, ParquetReader reader, DataField[] fields, DataField? lineField, long totalRows)
    {
        Origin = origin;
        this.reader = reader;
        this.fields = fields;
        this.lineField = lineField;
        this.totalRows = totalRows;
        columns = fields.Select(f => f.Name).ToArray();
    }

    public string Origin { get; }
    public IReadOnlyList<string> Columns => columns;
    public double? Progress => totalRows == 0 ? 1.0 : Math.Min(1.0, (double)rowsRead / totalRows);

    public static async Task<ParquetSourceReader> OpenAsync(string path, CancellationToken cancellationToken)
    {
        var origin = Path.GetFileName(path);
        if (!File.Exists(path))
            throw new SourceException(origin, 0, "file", $"source file not found: {path}");
        ParquetReader reader;
        try
        {
            reader = await ParquetReader.CreateAsync(path, new ParquetOptions { UseDateOnlyTypeForDates = true }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new SourceException(origin, 0, "parquet", $"not a readable Parquet file ({ex.Message})", ex);
        }
        try
        {
            var nested = reader.Schema.Fields.FirstOrDefault(f => f is not DataField || ((DataField)f).IsArray);
            if (nested is not null)
                throw new SourceException(origin, 0, "parquet", $"column '{nested.Name}' is nested or repeated; only flat columns can be read");
            var all = reader.Schema.GetDataFields();
            var lineField = all.FirstOrDefault(f => f.Name == LineColumn);
            var fields = all.Where(f => f != lineField).ToArray();
            if (fields.Length == 0)
                throw new SourceException(origin, 0, "parquet", "the file has no columns");
            long total = 0;
            for (var i = 0; i < reader.RowGroupCount; i++)
                using (var rowGroup = reader.OpenRowGroupReader(i))
                    total += rowGroup.RowCount;
            return new ParquetSourceReader(origin, reader, fields, lineField, total);
        }
        catch
        {
            await reader.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask<SourceRow?> ReadAsync(CancellationToken cancellationToken)
    {
        while (position >= groupRows)
        {
            if (group + 1 >= reader.RowGroupCount)
                return null;
            await ReadGroupAsync(++group, cancellationToken).ConfigureAwait(false);
        }
        var row = new string?[columns.Length];
        for (var c = 0; c < row.Length; c++)
            row[c] = values[c][position];
        var line = lines is null ? rowsRead + 1 : lines[position];
        position++;
        rowsRead++;
        return new SourceRow(line, row);
    }

    private async Task ReadGroupAsync(int index, CancellationToken cancellationToken)
    {
        using var rowGroup = reader.OpenRowGroupReader(index);
        var rows = checked((int)rowGroup.RowCount);
        var read = new string?[fields.Length][];
        try
        {
            for (var c = 0; c < fields.Length; c++)
                read[c] = await ColumnAsync(rowGroup, fields[c], rows, cancellationToken).ConfigureAwait(false);
            if (lineField is not null)
            {
                lines = new long[rows];
                await rowGroup.ReadAsync<long>(lineField, lines.AsMemory(), null, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is not (OperationCanceledException or SourceException))
        {
            throw new SourceException(Origin, rowsRead + 1, "parquet", $"unreadable row group {index + 1} ({ex.Message})", ex);
        }
        values = read;
        position = 0;
        groupRows = rows;
    }

    /// <summary>One column of a row group as text.</summary>
    private async Task<string?[]> ColumnAsync(ParquetRowGroupReader rowGroup, DataField field, int rows, CancellationToken ct)
    {
        var type = field.ClrType;
        if (type == typeof(string) || type == typeof(ReadOnlyMemory<char>))
        {
            var text = new string?[rows];
            await rowGroup.ReadAsync(field, text.AsMemory(), null, ct).ConfigureAwait(false);
            return text;
        }
        if (type == typeof(byte[]) || type == typeof(ReadOnlyMemory<byte>))
        {
            var bytes = new byte[]?[rows];
            await rowGroup.ReadAsync(field, bytes.AsMemory(), null, ct).ConfigureAwait(false);
            return bytes.Select(b => b is null ? null : Convert.ToHexStringLower(b)).ToArray();
        }
        return type switch
        {
            _ when type == typeof(bool) => await ValuesAsync<bool>(rowGroup, field, rows, ct).ConfigureAwait(false),
            _ when type == typeof(sbyte) => await ValuesAsync<sbyte>(rowGroup, field, rows, ct).ConfigureAwait(false),
            _ when type == typeof(byte) => await ValuesAsync<byte>(rowGroup, field, rows, ct).ConfigureAwait(false),
            _ when type == typeof(short) => await ValuesAsync<short>(rowGroup, field, rows, ct).ConfigureAwait(false),
            _ when type == typeof(ushort) => await ValuesAsync<ushort>(rowGroup, field, rows, ct).ConfigureAwait(false),
            _ when type == typeof(int) => await ValuesAsync<int>(rowGroup, field, rows, ct).ConfigureAwait(false),
            _ when type == typeof(uint) => await ValuesAsync<uint>(rowGroup, field, rows, ct).ConfigureAwait(false),
            _ when type == typeof(long) => await ValuesAsync<long>(rowGroup, field, rows, ct).ConfigureAwait(false),
            _ when type == typeof(ulong) => await ValuesAsync<ulong>(rowGroup, field, rows, ct).ConfigureAwait(false),
            _ when type == typeof(float) => await ValuesAsync<float>(rowGroup, field, rows, ct).ConfigureAwait(false),
            _ when type == typeof(double) => await ValuesAsync<double>(rowGroup, field, rows, ct).ConfigureAwait(false),
            _ when type == typeof(decimal) => await ValuesAsync<decimal>(rowGroup, field, rows, ct).ConfigureAwait(false),
            _ when type == typeof(DateTime) => await ValuesAsync<DateTime>(rowGroup, field, rows, ct).ConfigureAwait(false),
            _ when type == typeof(DateOnly) => await ValuesAsync<DateOnly>(rowGroup, field, rows, ct).ConfigureAwait(false),
            _ when type == typeof(TimeOnly) => await ValuesAsync<TimeOnly>(rowGroup, field, rows, ct).ConfigureAwait(false),
            _ when type == typeof(TimeSpan) => await ValuesAsync<TimeSpan>(rowGroup, field, rows, ct).ConfigureAwait(false),
            _ when type == typeof(Guid) => await ValuesAsync<Guid>(rowGroup, field, rows, ct).ConfigureAwait(false),
            _ => throw new SourceException(Origin, 0, "parquet", $"column '{field.Name}' has type {type.Name}, which cannot be read as text"),
        };
    }

    private static async Task<string?[]> ValuesAsync<T>(ParquetRowGroupReader rowGroup, DataField field, int rows, CancellationToken ct) where T : struct
    {
        var text = new string?[rows];
        if (field.IsNullable)
        {
            var values = new T?[rows];
            await rowGroup.ReadAsync<T>(field, values.AsMemory(), null, ct).ConfigureAwait(false);
            for (var i = 0; i < rows; i++)
                text[i] = values[i] is { } value ? DbValueText.Default(value, dateColumn: false) : null;
        }
        else
        {
            var values = new T[rows];
            await rowGroup.ReadAsync<T>(field, values.AsMemory(), null, ct).ConfigureAwait(false);
            for (var i = 0; i < rows; i++)
                text[i] = DbValueText.Default(values[i], dateColumn: false);
        }
        return text;
    }

    public ValueTask DisposeAsync() => reader.DisposeAsync();
}
