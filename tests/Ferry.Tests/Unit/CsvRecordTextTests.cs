using System.Text;
using Ferry.Engine;
using Ferry.Manifest;
using Ferry.Sources;
using Ferry.Tests.Support;

namespace Ferry.Tests.Unit;

/// <summary>
/// A re-run compares a file's records by the hash of their text and makes their values only for a
/// batch it must load (<see cref="CsvSourceReader.DeferValues"/>): the values made later must be
/// exactly the ones read at once, whatever the record holds.
/// </summary>
public class CsvRecordTextTests
{
    // Quotes, an escaped quote, a line break and a carriage return inside quotes, a blank line, too
    // few and too many fields, a byte invalid in UTF-8, empty values, and no line break at the end.
    private static readonly byte[] Tricky = [.. Encoding.UTF8.GetBytes(
        "id,name,note\r\n" +
        "1,\"Smith, \"\"Jo\"\"\",plain\r\n" +
        "2,\"multi\nline\",x\r\n" +
        "\r\n" +
        "3,short\r\n" +
        "4,\"a\",b,extra\r\n" +
        "5,"), 0xFF, .. Encoding.UTF8.GetBytes(",y\r\n" +
        "6,\"\",\r\n" +
        "7,\"ends\r\",z\r\n" +
        "8,Zoë,\"ü, ß\"\r\n" +
        "9,last,\"no line break\"")];

    private static SourceSpec Csv(string path, char quote = '"') =>
        new(SourceKind.Csv, path, null, ',', quote, true, null, "utf-8", null, default, 0);

    private static async Task<List<SourceRow>> ReadAsync(string path, bool defer, Func<SourceRow, bool>? askAt = null)
    {
        await using var reader = await CsvSourceReader.OpenAsync(path, Csv(path), CancellationToken.None);
        reader.HashRecords = true;
        reader.DeferValues = defer;
        var rows = new List<SourceRow>();
        while (await reader.ReadAsync(CancellationToken.None) is { } row)
        {
            rows.Add(row);
            // Asking for a row's values while the reader goes on parses the block it sits in: the
            // records after it must still come out whole.
            if (askAt?.Invoke(row) == true)
                _ = row.Values;
        }
        return rows;
    }

    /// <summary>The same lines, problems, hashes and values, row for row.</summary>
    private static void AssertSameRows(List<SourceRow> expected, List<SourceRow> actual)
    {
        Assert.Equal(expected.Select(r => r.Line), actual.Select(r => r.Line));
        Assert.Equal(expected.Select(r => r.Problem?.Rule), actual.Select(r => r.Problem?.Rule));
        Assert.Equal(expected.Select(r => r.TextHash), actual.Select(r => r.TextHash));
        for (var i = 0; i < expected.Count; i++)
            Assert.Equal(expected[i].Values, actual[i].Values);
    }

    [Fact]
    public async Task Records_whose_values_are_made_later_hold_the_same_values_lines_problems_and_hashes_as_records_read_at_once()
    {
        using var ws = new Workspace();
        var path = ws.WriteBytes("tricky.csv", Tricky);

        var atOnce = await ReadAsync(path, defer: false);
        var later = await ReadAsync(path, defer: true);
        var askedEarly = await ReadAsync(path, defer: true, row => row.Line == 2);

        Assert.Equal([2L, 3, 6, 7, 8, 9, 10, 11, 12], atOnce.Select(r => r.Line));
        AssertSameRows(atOnce, later);
        AssertSameRows(atOnce, askedEarly);
        Assert.Equal<IEnumerable<string?>>(["1", "Smith, \"Jo\"", "plain"], later[0].Values);
        Assert.Equal<IEnumerable<string?>>(["8", "Zoë", "ü, ß"], later[7].Values);
        Assert.Equal<IEnumerable<string?>>(["9", "last", "no line break"], later[8].Values);
        Assert.Equal([null, null, "field-count", "field-count", "encoding", null, null, null, null], atOnce.Select(r => r.Problem?.Rule));
        Assert.Equal<IEnumerable<string?>>(["7", "ends\r", "z"], later[6].Values);
    }

    [Fact]
    public async Task From_a_record_whose_end_the_scanner_cannot_be_sure_of_the_parser_reads_on_to_the_same_rows()
    {
        using var ws = new Workspace();
        // A byte order mark, a line of an empty quoted value (read as a blank line), a field of 3 MB
        // (past the scanner's first buffer), a quote inside an unquoted value (which the scanner
        // leaves to the parser), then records after it and a carriage return alone ending a line.
        var path = ws.Write("unsure.csv", "\uFEFFid,name,note\n" +
            "1,plain,a\n" +
            "\"\"\n" +
            "2,\"" + new string('y', 3_000_000) + "\",b\n" +
            "3,5\" floppy,c\n" +
            "4,\"after, it\",d\r" +
            "5,cr,e\n" +
            "6,last,f\n");

        var atOnce = await ReadAsync(path, defer: false);
        var later = await ReadAsync(path, defer: true);

        AssertSameRows(atOnce, later);
        Assert.Equal<IEnumerable<string?>>(["1", "plain", "a"], later[0].Values);
        Assert.Equal(3_000_000, later[1].Values[1]!.Length);
        Assert.Equal<IEnumerable<string?>>(["6", "last", "f"], later[^1].Values);
    }

    [Fact]
    public async Task A_file_changed_after_its_records_were_hashed_stops_their_values_being_made_rather_than_giving_others()
    {
        using var ws = new Workspace();
        var path = ws.Write("people.csv", "id,name\n1,Ada\n2,Bo\n3,Cy\n");
        var rows = await ReadAsync(path, defer: true);

        // Made from the file's bytes only when asked for: a program that rewrote the file since has
        // its line found, not its values loaded as if they had been compared.
        ws.Write("people.csv", "id,name\n1,Ada\n2,Bx\n3,Cy\n");
        var ex = Assert.Throws<SourceException>(() => rows[0].Values);

        Assert.Equal(3, ex.Line);
        Assert.Equal("file-changed", ex.Rule);
        Assert.Contains("people.csv:3", ex.Message);
    }

    [Fact]
    public async Task Many_blocks_of_records_made_later_come_out_in_order()
    {
        using var ws = new Workspace();
        var text = new StringBuilder("id,name,note\n");
        for (var i = 1; i <= 20_000; i++)
            text.Append(i).Append(",\"name ").Append(i).Append(", the ").Append(new string('x', i % 50)).Append("\",").Append(i % 7).Append('\n');
        var path = ws.Write("many.csv", text.ToString());

        var atOnce = await ReadAsync(path, defer: false);
        var later = await ReadAsync(path, defer: true, row => row.Line % 3_001 == 0);

        Assert.Equal(20_000, later.Count);
        for (var i = 0; i < atOnce.Count; i++)
        {
            Assert.Equal(atOnce[i].Line, later[i].Line);
            Assert.Equal(atOnce[i].Values, later[i].Values);
        }
    }

    [Fact]
    public async Task A_records_text_hash_changes_with_its_text_but_not_with_the_line_break_that_ends_it()
    {
        using var ws = new Workspace();
        var crlf = await ReadAsync(ws.Write("crlf.csv", "id,name\r\n1,Ada\r\n2,Bo\r\n"), defer: true);
        var lf = await ReadAsync(ws.Write("lf.csv", "id,name\n1,Ada\n2,Bo"), defer: true);
        var changed = await ReadAsync(ws.Write("changed.csv", "id,name\n1,Ada\n2,Bob\n"), defer: true);
        var quoted = await ReadAsync(ws.Write("quoted.csv", "id,name\n1,\"Ada\"\n2,Bo\n"), defer: true);

        Assert.Equal(crlf.Select(r => r.TextHash), lf.Select(r => r.TextHash));
        Assert.Equal(crlf[0].TextHash, changed[0].TextHash);
        Assert.NotEqual(crlf[1].TextHash, changed[1].TextHash);
        // The same values written another way hash otherwise: such a batch is only validated and mapped again.
        Assert.NotEqual(crlf[0].TextHash, quoted[0].TextHash);
        Assert.Equal(crlf[0].Values, quoted[0].Values);
    }

    [Fact]
    public void How_a_file_is_parsed_is_part_of_the_seed_and_where_it_lies_is_not()
    {
        var entity = ManifestLoader.Parse("""
            source: { type: csv, path: a.csv }
            target: { type: postgres, connection: "Host=x" }
            entities:
              - name: person
                key: [id]
                mode: upsert
                columns:
                  id: { from: id, type: int }
            """, UnitPlans.ManifestPath).Entities[0];
        string[] columns = ["id"];
        var seed = SourceHasher.SeedFor(entity, null, columns, Csv("a.csv"));

        Assert.NotNull(seed);
        Assert.Equal(seed, SourceHasher.SeedFor(entity, null, columns, Csv("elsewhere/b.csv")));
        Assert.NotEqual(seed, SourceHasher.SeedFor(entity, null, columns, Csv("a.csv", quote: '\'')));
        Assert.NotEqual(seed, SourceHasher.SeedFor(entity, null, columns, Csv("a.csv") with { Delimiter = ';' }));
        Assert.NotEqual(seed, SourceHasher.SeedFor(entity, null, columns, Csv("a.csv") with { Encoding = "windows-1252" }));
    }
}
