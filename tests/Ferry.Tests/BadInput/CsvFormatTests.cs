using Ferry.Tests.Support;
using static Ferry.Tests.BadInput.BadInputKit;

namespace Ferry.Tests.BadInput;

public class CsvFormatTests
{
    // Sylvan.Data.Csv 1.4.4 (CsvStyle.Standard) does not read an unclosed quote to the end of the
    // file as one giant field: it throws CsvFormatException ("A quoted field at the end of the input
    // ends without a closing quote") when it reaches the end. Ferry turns that into a failed run
    // naming the file and the line the broken record starts on.

    [Fact]
    public async Task Unclosed_quote_near_the_end_fails_the_run_naming_file_and_line_and_loads_nothing_of_its_batch()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        var people = People(ws);
        var staged = ws.Scalar(Db, "SELECT count(*) FROM ferry_stage_person");
        ws.Write("data.csv", "id,name,city\n11,Ann,Leeds\n12,Bob,York\n13,Cy,Hull\n14,Dot,Bath\n15,\"Ed,Ely\n16,Fi,Wells\n");

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("data.csv:6:", run.Error, StringComparison.Ordinal);
        Assert.Contains("closing quote", run.Error, StringComparison.Ordinal);
        Assert.Contains("[csv-format]", run.Error, StringComparison.Ordinal);
        // The broken record sits in the first (only) batch, so nothing of this file is written.
        Assert.Equal(people, People(ws));
        Assert.Equal(staged, ws.Scalar(Db, "SELECT count(*) FROM ferry_stage_person"));
        var failed = ws.Query(Db, "SELECT status, error FROM ferry_runs WHERE run_id = 2").Single();
        Assert.Equal("failed", failed["status"]);
        Assert.Contains("data.csv:6:", (string)failed["error"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unclosed_quote_after_committed_batches_keeps_them_and_records_where_it_stopped()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws, manifestText: ManifestYaml(CsvSource(), batchSize: 2));
        ws.Write("data.csv", "id,name,city\n11,Ann,Leeds\n12,Bob,York\n13,Cy,Hull\n14,Dot,Bath\n15,Ed,Ely\n16,\"Fi,Wells\n17,Gus,Diss\n");

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("data.csv:7:", run.Error, StringComparison.Ordinal);
        // Batches 1 (lines 2-3) and 2 (lines 4-5) committed with their checkpoints; batch 3 (line 6
        // and the broken record on line 7) was not written at all: no row is half-loaded.
        Assert.Equal(["1|Ada|London", "2|Brian|Leeds", "3|Chloe|York", "11|Ann|Leeds", "12|Bob|York", "13|Cy|Hull", "14|Dot|Bath"], People(ws));
        Assert.Equal([(2L, "imported"), (3L, "imported"), (4L, "imported"), (5L, "imported")], Staged(ws, 2));
        Assert.Equal(5L, ws.Scalar(Db, "SELECT max(last_line) FROM ferry_batches WHERE run_id = 2"));
        Assert.Equal("failed", ws.Scalar(Db, "SELECT status FROM ferry_runs WHERE run_id = 2"));
    }

    [Fact]
    public async Task Quote_that_runs_over_whole_records_rejects_the_row_instead_of_swallowing_them()
    {
        // The quote opened on line 5 never closes where it should; the stray quote after 5'11 on
        // line 7 closes it. Sylvan reads lines 5-7 as ONE valid record of three fields, so without a
        // check the records on lines 6 and 7 would vanish into person 14's name.
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        ws.Write("data.csv", "id,name,city\n11,Ann,Leeds\n12,Bob,York\n13,Cy,Hull\n14,\"Dot,Bath\n15,Ed,Ely\n16,Fi 5'11\",Wells\n17,Gus,Diss\n");

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 3, run.ToString());
        var reject = Assert.Single(Rejects(ws, 2));
        Assert.Equal(5, reject.Line);
        Assert.Equal("unclosed-quote", reject.Rule);
        Assert.Equal("name", reject.Column);
        Assert.Contains("lines 5-7", reject.Message, StringComparison.Ordinal);
        Assert.Contains("15,Ed,Ely", reject.Raw, StringComparison.Ordinal); // the swallowed text is kept, not lost
        Assert.Contains("data.csv:5:", run.Output, StringComparison.Ordinal);
        Assert.Contains("unclosed-quote", run.Output, StringComparison.Ordinal);
        Assert.Equal([(2L, "imported"), (3L, "imported"), (4L, "imported"), (5L, "error"), (8L, "imported")], Staged(ws, 2));
        Assert.Equal(["1|Ada|London", "2|Brian|Leeds", "3|Chloe|York", "11|Ann|Leeds", "12|Bob|York", "13|Cy|Hull", "17|Gus|Diss"], People(ws));
    }

    [Fact]
    public async Task Genuine_multi_line_values_are_not_taken_for_a_runaway_quote()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        ws.Write("data.csv", "id,name,city\n11,\"Ann\nMarie, Jo\",Leeds\n12,Bob,\"Flat 2\n1 High St, York\"\n");

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("Ann\nMarie, Jo", ws.Scalar(Db, "SELECT name FROM person WHERE id = 11"));
        Assert.Equal("Flat 2\n1 High St, York", ws.Scalar(Db, "SELECT city FROM person WHERE id = 12"));
        Assert.Equal([(2L, "imported"), (4L, "imported")], Staged(ws, 2));
    }

    [Fact]
    public async Task Rows_with_too_many_and_too_few_fields_are_rejected_with_their_line_and_the_others_land()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        ws.Write("data.csv", "id,name,city\n11,Ann,Leeds\n12,Bob,York,extra\n13,Cy,Hull\n14,Dot\n15,Ed,Ely\n");

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 3, run.ToString());
        var rejects = Rejects(ws, 2);
        Assert.Equal(2, rejects.Count);
        Assert.Equal((3L, "field-count", (string?)null), (rejects[0].Line, rejects[0].Rule, rejects[0].Column));
        Assert.Contains("expected 3 fields, found 4", rejects[0].Message, StringComparison.Ordinal);
        Assert.Equal((5L, "field-count", (string?)null), (rejects[1].Line, rejects[1].Rule, rejects[1].Column));
        Assert.Contains("expected 3 fields, found 2", rejects[1].Message, StringComparison.Ordinal);
        // The raw record has the named columns only; what lay beyond them is kept in the message.
        Assert.Contains("expected 3 fields, found 4; beyond the last column: \"extra\"", rejects[0].Message, StringComparison.Ordinal);
        Assert.Contains("\"York\"", rejects[0].Raw, StringComparison.Ordinal);
        Assert.Equal(["1|Ada|London", "2|Brian|Leeds", "3|Chloe|York", "11|Ann|Leeds", "13|Cy|Hull", "15|Ed|Ely"], People(ws));
        Assert.Contains("data.csv:3: field-count", run.Output, StringComparison.Ordinal);
        Assert.Contains("data.csv:5: field-count", run.Output, StringComparison.Ordinal);
        Assert.Equal("partial", ws.Scalar(Db, "SELECT status FROM ferry_runs WHERE run_id = 2"));

        var list = await ws.Ferry("rejects", "list", "ferry.yaml");
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("person line 3: field-count (error): expected 3 fields, found 4", list.Output, StringComparison.Ordinal);
        Assert.Contains("person line 5: field-count (error): expected 3 fields, found 2", list.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Quoted_values_spanning_lines_keep_later_rows_on_their_physical_line()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        // Lines: 2-3 a value with LF, 4 good, 5 too many fields, 6-8 a value with CRLF twice, 9 too few.
        ws.Write("data.csv", "id,name,city\n11,\"Ann\nMarie\",Leeds\n12,Bob,York\n13,Cy,Hull,x\n14,\"Dot\r\nty\r\nDee\",Bath\n15,Ed\n16,Fi,Wells\n");

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Equal([(5L, "field-count"), (9L, "field-count")], Rejects(ws, 2).Select(r => (r.Line, r.Rule)));
        Assert.Equal([(2L, "imported"), (4L, "imported"), (5L, "error"), (6L, "imported"), (9L, "error"), (10L, "imported")], Staged(ws, 2));
        Assert.Contains("data.csv:9:", run.Output, StringComparison.Ordinal);
        Assert.Equal("Ann\nMarie", ws.Scalar(Db, "SELECT name FROM person WHERE id = 11"));
        Assert.Equal("Dot\r\nty\r\nDee", ws.Scalar(Db, "SELECT name FROM person WHERE id = 14"));
    }

    [Fact]
    public async Task A_quote_in_the_middle_of_a_quoted_value_fails_naming_file_and_line()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        var people = People(ws);
        ws.Write("data.csv", "id,name,city\n11,Ann,Leeds\n12,\"Bob \"the\" Builder\",York\n13,Cy,Hull\n");

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("data.csv:3:", run.Error, StringComparison.Ordinal);
        Assert.Contains("[csv-format]", run.Error, StringComparison.Ordinal);
        Assert.Equal(people, People(ws));
    }

    [Fact]
    public async Task An_unclosed_quote_in_a_file_too_big_to_buffer_fails_clearly_instead_of_reading_it_all()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        var people = People(ws);
        // 17 MB of records after an unclosed quote on line 3: more than the 16 MB a record may hold.
        var text = new System.Text.StringBuilder("id,name,city\n11,Ann,Leeds\n12,\"Bob,York\n");
        for (var i = 0; text.Length < 17 << 20; i++)
            text.Append(100 + i).Append(",Someone with a longish name,Somewhere\n");
        ws.Write("data.csv", text.ToString());

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("data.csv:3:", run.Error, StringComparison.Ordinal);
        Assert.Contains("quote", run.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("MaxBufferSize", run.Error, StringComparison.Ordinal);
        Assert.Equal(people, People(ws));
    }

    [Fact]
    public async Task Blank_lines_are_not_records_but_still_count_as_lines()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        ws.Write("data.csv", "id,name,city\n11,Ann,Leeds\n\n12,Bob,York\n13,Cy\n14,Dot,Bath\n\n\n");

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 3, run.ToString());
        var reject = Assert.Single(Rejects(ws, 2));
        Assert.Equal((5L, "field-count"), (reject.Line, reject.Rule));
        Assert.Equal([(2L, "imported"), (4L, "imported"), (5L, "error"), (6L, "imported")], Staged(ws, 2));
    }
}
