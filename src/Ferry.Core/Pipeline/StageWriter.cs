using Ferry.Sources;
using Parquet;
using Parquet.Schema;

namespace Ferry.Pipeline;

/// <summary>
/// Writes a validated file's rows to Parquet: every source column as nullable text, as read, plus
/// <c>_ferry_line</c>, the row's line in the file it came from. Rows are buffered one row group at a
/// time: 10,000 rows, or fewer when their values reach 16 MB in memory. A group is written whole and
/// read whole again by the history step (<see cref="ParquetSourceReader"/>), so wide rows (a
/// document's text in each) make smaller groups rather than hold 10,000 of them in memory twice.
/// The file appears under its final name only once it is complete.
/// </summary>
internal sealed class StageWriter : IAsyncDisposable
{
    private const int RowGroupSize = 10_000;
    private const long RowGroupBytes = 16L << 20;
    private readonly string path;
    private readonly string temporary;
    private readonly FileStream stream;
    private readonly ParquetWriter writer;
    private readonly DataField<string>[] fields;
    private readonly DataField<long> lineField;
    private readonly List<string?>[] values;
    private readonly List<long> lines = new(RowGroupSize);
    private long bufferedBytes; // the buffered rows' values, as SourceRow.ApproximateBytes counts them
    private bool completed;

    private StageWriter(string path, string temporary, FileStream stream, ParquetWriter writer, DataField<string>[] fields, DataField<long> lineField)
    {
        this.lineField = lineField;
        this.path = path;
        this.temporary = temporary;
        this.stream = stream;
        this.writer = writer;
        this.fields = fields;
        values = fields.Select(_ => new List<string?>(RowGroupSize)).ToArray();
    }

    public long Rows { get; private set; }

    public static async Task<StageWriter> CreateAsync(string path, IReadOnlyList<string> columns, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = path + ".partial";
        var fields = columns.Select(c => new DataField<string>(c, true)).ToArray();
        var stream = new FileStream(temporary, FileMode.Create, FileAccess.ReadWrite, FileShare.None);
        try
        {
            var lineField = new DataField<long>(ParquetSourceReader.LineColumn, false);
            var writer = await ParquetWriter.CreateAsync(new ParquetSchema([.. fields, lineField]), stream,
                cancellationToken: cancellationToken).ConfigureAwait(false);
            return new StageWriter(path, temporary, stream, writer, fields, lineField);
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            File.Delete(temporary);
            throw;
        }
    }

    public async Task AddAsync(SourceRow row, CancellationToken cancellationToken)
    {
        for (var c = 0; c < values.Length; c++)
            values[c].Add(c < row.Values.Length ? row.Values[c] : null);
        lines.Add(row.Line);
        Rows++;
        bufferedBytes += row.ApproximateBytes;
        if (lines.Count == RowGroupSize || bufferedBytes >= RowGroupBytes)
            await FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (lines.Count == 0)
            return;
        using (var group = writer.CreateRowGroup())
        {
            for (var c = 0; c < fields.Length; c++)
                await group.WriteAsync(fields[c], values[c]).ConfigureAwait(false);
            await group.WriteAsync<long>(lineField, lines.ToArray().AsMemory(), null, null, cancellationToken).ConfigureAwait(false);
        }
        foreach (var column in values)
            column.Clear();
        lines.Clear();
        bufferedBytes = 0;
    }

    /// <summary>Writes the last row group and the footer, then gives the file its final name.</summary>
    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        await FlushAsync(cancellationToken).ConfigureAwait(false);
        await writer.DisposeAsync().ConfigureAwait(false);
        await stream.DisposeAsync().ConfigureAwait(false);
        File.Move(temporary, path, overwrite: true);
        completed = true;
    }

    /// <summary>An incomplete file (the validation failed or was cancelled) is deleted.</summary>
    public async ValueTask DisposeAsync()
    {
        if (completed)
            return;
        await writer.DisposeAsync().ConfigureAwait(false);
        await stream.DisposeAsync().ConfigureAwait(false);
        File.Delete(temporary);
    }
}
