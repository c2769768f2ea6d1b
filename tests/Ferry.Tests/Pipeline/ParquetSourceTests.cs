using Ferry.Pipeline;
using Ferry.Sources;
using Ferry.Tests.Support;
using Parquet;
using Parquet.Schema;

namespace Ferry.Tests.Pipeline;

/// <summary>The Parquet source reader on real Parquet files: the pipeline's stage files and typed files written by Parquet.Net.</summary>
public class ParquetSourceTests
{
    private static async Task<List<SourceRow>> ReadAllAsync(string path, List<string>? columns = null)
    {
        await using var reader = await ParquetSourceReader.OpenAsync(path, CancellationToken.None);
        columns?.AddRange(reader.Columns);
        var rows = new List<SourceRow>();
        while (await reader.ReadAsync(CancellationToken.None) is { } row)
            rows.Add(row);
        return rows;
    }

    [Fact]
    public async Task A_stage_file_gives_back_every_value_null_and_line_as_written()
    {
        using var ws = new Workspace();
        var path = ws.PathOf("stage/register/000007.parquet");
        var written = new List<SourceRow>();
        await using (var writer = await StageWriter.CreateAsync(path, ["id", "name", "note"], CancellationToken.None))
        {
            // More than one row group, lines with gaps (a CSV record over two lines, a skipped blank row).
            for (var i = 1; i <= 25_003; i++)
            {
                var row = new SourceRow(i * 2 + 1, [i.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    i % 3 == 0 ? null : $"Zoë «{i}»", i % 5 == 0 ? "" : i % 7 == 0 ? null : "line\nbreak, \"quoted\""]);
                written.Add(row);
                await writer.AddAsync(row, CancellationToken.None);
            }
            await writer.CompleteAsync(CancellationToken.None);
        }
        Assert.False(File.Exists(path + ".partial"));

        var columns = new List<string>();
        var read = await ReadAllAsync(path, columns);

        Assert.Equal(["id", "name", "note"], columns); // _ferry_line is the line, not a column
        Assert.Equal(written.Count, read.Count);
        for (var i = 0; i < read.Count; i++)
        {
            Assert.Equal(written[i].Line, read[i].Line);
            Assert.Equal(written[i].Values, read[i].Values);
        }
        Assert.Equal("", read[4].Values[2]);   // an empty string stays empty
        Assert.Null(read[6].Values[2]);        // and a missing value stays missing
    }

    [Fact]
    public async Task A_typed_parquet_file_reads_as_text_with_its_row_ordinals_as_lines()
    {
        using var ws = new Workspace();
        var path = ws.PathOf("typed.parquet");
        var id = new DataField<int>("id");
        var amount = new DecimalDataField("amount", 12, 2, isNullable: true);
        var ratio = new DataField<double?>("ratio");
        var active = new DataField<bool?>("active");
        var born = new DataField<DateOnly?>("born");
        var seen = new DateTimeDataField("seen", DateTimeFormat.DateAndTime, isAdjustedToUTC: true, isNullable: true);
        var name = new DataField<string>("name", true);
        await using (var file = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(id, amount, ratio, active, born, seen, name), file))
        using (var group = writer.CreateRowGroup())
        {
            await group.WriteAsync<int>(id, new[] { 1, 2 }.AsMemory());
            await group.WriteAsync<decimal>(amount, new decimal?[] { 12.50m, null }.AsMemory());
            await group.WriteAsync<double>(ratio, new double?[] { 0.1, null }.AsMemory());
            await group.WriteAsync<bool>(active, new bool?[] { true, false }.AsMemory());
            await group.WriteAsync<DateOnly>(born, new DateOnly?[] { new DateOnly(2000, 2, 29), null }.AsMemory());
            await group.WriteAsync<DateTime>(seen, new DateTime?[] { new DateTime(2026, 3, 1, 10, 30, 0, DateTimeKind.Utc), null }.AsMemory());
            await group.WriteAsync(name, new[] { "Ada", null });
        }

        var rows = await ReadAllAsync(path);

        Assert.Equal([1L, 2L], rows.Select(r => r.Line));
        Assert.Equal(new string?[] { "1", "12.50", "0.1", "true", "2000-02-29", "2026-03-01T10:30:00Z", "Ada" }, rows[0].Values.AsEnumerable());
        Assert.Equal(new string?[] { "2", null, null, "false", null, null, null }, rows[1].Values.AsEnumerable());
    }

    [Fact]
    public async Task A_file_that_is_not_parquet_is_refused_naming_it()
    {
        using var ws = new Workspace();
        var path = ws.Write("fake.parquet", "id,name\n1,Ada\n");

        var error = await Assert.ThrowsAsync<SourceException>(() => ReadAllAsync(path));

        Assert.Contains("fake.parquet", error.Message);
        Assert.Contains("not a readable Parquet file", error.Message);
    }
}
