using Ferry.Tests.Support;
using static Ferry.Tests.BadInput.BadInputKit;

namespace Ferry.Tests.BadInput;

public class XlsxTests
{
    private static readonly string?[][] GoodRows = [["1", "Ada", "London"], ["2", "Brian", "Leeds"], ["3", "Chloe", "York"]];

    /// <summary>Writes the XLSX manifest and a good workbook, runs it, and returns the target's fingerprint.</summary>
    private static async Task<string> GoodXlsxRunAsync(Workspace ws)
    {
        ws.Write("ferry.yaml", ManifestYaml(XlsxSource()));
        ws.WriteBytes("data.xlsx", Workbooks.People("People", GoodRows));
        var good = await ws.Ferry("run", "ferry.yaml");
        Assert.True(good.ExitCode == 0, good.ToString());
        Assert.Equal(["1|Ada|London", "2|Brian|Leeds", "3|Chloe|York"], People(ws));
        return ws.Fingerprint(Db);
    }

    private static async Task AssertRefusedAsync(Workspace ws, string before, params string[] expected)
    {
        foreach (var command in new[] { "check", "run" })
        {
            var result = await ws.Ferry(command, "ferry.yaml");
            Assert.True(result.ExitCode == 1, $"{command}: {result}");
            foreach (var text in expected)
                Assert.Contains(text, result.Error, StringComparison.Ordinal);
        }
        Assert.Equal(before, ws.Fingerprint(Db));
        Assert.Equal(1, Runs(ws));
    }

    [Fact]
    public async Task A_workbook_loads_in_a_fresh_ferry_process()
    {
        // A user's first and only run: nothing another test registered or loaded in this test
        // process (code pages, the Open XML SDK) is there to help it.
        using var ws = new Workspace();
        ws.Write("ferry.yaml", ManifestYaml(XlsxSource()));
        ws.WriteBytes("data.xlsx", Workbooks.People("People", GoodRows));

        var run = await FerryProcessAsync(ws, "run", "ferry.yaml");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(["1|Ada|London", "2|Brian|Leeds", "3|Chloe|York"], People(ws));
    }

    [Fact]
    public async Task A_text_file_renamed_xlsx_is_refused_naming_the_file()
    {
        using var ws = new Workspace();
        var before = await GoodXlsxRunAsync(ws);
        ws.Write("data.xlsx", "id,name,city\n4,Dan,Bath\n");

        await AssertRefusedAsync(ws, before, "data.xlsx", "not a readable XLSX workbook");
    }

    [Fact]
    public async Task A_truncated_workbook_is_refused_naming_the_file()
    {
        using var ws = new Workspace();
        var before = await GoodXlsxRunAsync(ws);
        var whole = Workbooks.People("People", [.. GoodRows, ["4", "Dan", "Bath"]]);
        ws.WriteBytes("data.xlsx", whole[..(whole.Length / 2)]);

        await AssertRefusedAsync(ws, before, "data.xlsx", "not a readable XLSX workbook");
    }

    [Fact]
    public async Task An_empty_file_named_xlsx_is_refused_naming_the_file()
    {
        using var ws = new Workspace();
        var before = await GoodXlsxRunAsync(ws);
        ws.WriteBytes("data.xlsx", []);

        await AssertRefusedAsync(ws, before, "data.xlsx");
    }

    [Fact]
    public async Task A_workbook_whose_sheet_xml_is_broken_is_refused_naming_the_file()
    {
        using var ws = new Workspace();
        var before = await GoodXlsxRunAsync(ws);
        using (var zip = new System.IO.Compression.ZipArchive(File.Open(ws.PathOf("data.xlsx"), FileMode.Open), System.IO.Compression.ZipArchiveMode.Update))
        {
            var sheet = zip.Entries.Single(e => e.FullName.StartsWith("xl/worksheets/", StringComparison.Ordinal));
            var name = sheet.FullName;
            sheet.Delete();
            using var writer = new StreamWriter(zip.CreateEntry(name).Open());
            writer.Write("<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData><row r=\"1\"><c t=\"inlineStr\"><is><t>id</t></is></c>");
        }

        await AssertRefusedAsync(ws, before, "data.xlsx", "not a readable XLSX workbook");
    }

    [Fact]
    public async Task A_missing_sheet_is_refused_naming_the_sheet_and_the_file()
    {
        using var ws = new Workspace();
        var before = await GoodXlsxRunAsync(ws);
        ws.WriteBytes("data.xlsx", Workbooks.People("Staff", [["4", "Dan", "Bath"]]));

        await AssertRefusedAsync(ws, before, "data.xlsx", "no sheet named 'People'");
    }

    [Fact]
    public async Task A_value_beyond_the_named_columns_rejects_that_spreadsheet_row_only()
    {
        using var ws = new Workspace();
        await GoodXlsxRunAsync(ws);
        ws.WriteBytes("data.xlsx", Workbooks.People("People", [["11", "Ann", "Leeds"], ["12", "Bob", "York", "stray"], ["13", "Cy", "Hull"]]));

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 3, run.ToString());
        var reject = Assert.Single(Rejects(ws, 2));
        Assert.Equal((3L, "field-count"), (reject.Line, reject.Rule));
        Assert.Contains("a value in column 4, beyond the 3 named columns: \"stray\"", reject.Message, StringComparison.Ordinal);
        Assert.Contains("data.xlsx:3: field-count", run.Output, StringComparison.Ordinal);
        Assert.Equal(["1|Ada|London", "2|Brian|Leeds", "3|Chloe|York", "11|Ann|Leeds", "13|Cy|Hull"], People(ws));
    }
}
