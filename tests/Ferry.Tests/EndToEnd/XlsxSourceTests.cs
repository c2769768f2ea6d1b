using System.Globalization;
using DocumentFormat.OpenXml;
using DocumentFormat.OpenXml.Packaging;
using DocumentFormat.OpenXml.Spreadsheet;
using Ferry.Tests.Support;

namespace Ferry.Tests.EndToEnd;

/// <summary>A real .xlsx workbook, built here with the Open XML SDK, as the source of the staged import.</summary>
public class XlsxSourceTests
{
    private const string Manifest = """
        name: foi-xlsx
        source:
          type: xlsx
          path: data/requests.xlsx
          sheet: Requests
        target:
          type: sqlite
          connection: "Data Source=foi.db"
        entities:
          - name: foi_request
            key: [reference]
            batch_size: 4
            rules:
              - { column: reference, required: true }
              - { column: reference, regex: '^FOI-\d{4}-\d{5}$' }
              - { column: received, type: date, format: yyyy-MM-dd }
              - { column: due, type: date, format: yyyy-MM-dd }
              - { column: status, allowed: [open, closed, withdrawn] }
              - { column: pages, type: int, range: { min: 0 } }
              - { column: fee, type: decimal }
            columns:
              reference: reference
              requester: requester_name
              received_on: { from: received, type: date }
              due_on: { from: due, type: date }
              status: status
              pages: { from: pages, type: int }
              fee: { from: fee, type: decimal }
              summary: summary
              id: { uuid: key }
        """;

    /// <summary>A sheet row: its 1-based spreadsheet row number and its cells (null leaves the cell out).</summary>
    private sealed record SheetRow(uint Number, params object?[] Cells);

    private static readonly string[] HeaderCells = ["reference", "requester_name", "received", "due", "status", "pages", "fee", "summary"];

    /// <summary>
    /// Writes a workbook: strings go to the shared-string table, numbers are numeric cells, and a
    /// DateTime is an OLE Automation date number styled with the built-in date format 14.
    /// </summary>
    private static byte[] Workbook(params (string Name, SheetRow[] Rows)[] sheets)
    {
        using var stream = new MemoryStream();
        using (var document = SpreadsheetDocument.Create(stream, SpreadsheetDocumentType.Workbook))
        {
            var workbook = document.AddWorkbookPart();
            workbook.Workbook = new Workbook();
            var styles = workbook.AddNewPart<WorkbookStylesPart>();
            styles.Stylesheet = new Stylesheet(
                new Fonts(new Font()) { Count = 1 },
                new Fills(new Fill(new PatternFill { PatternType = PatternValues.None }), new Fill(new PatternFill { PatternType = PatternValues.Gray125 })) { Count = 2 },
                new Borders(new Border()) { Count = 1 },
                new CellStyleFormats(new CellFormat()) { Count = 1 },
                new CellFormats(new CellFormat(), new CellFormat { NumberFormatId = 14, ApplyNumberFormat = true, FormatId = 0 }) { Count = 2 });
            var strings = workbook.AddNewPart<SharedStringTablePart>();
            strings.SharedStringTable = new SharedStringTable();
            var index = new Dictionary<string, int>(StringComparer.Ordinal);
            int Shared(string s)
            {
                if (!index.TryGetValue(s, out var i))
                {
                    i = index.Count;
                    index[s] = i;
                    strings.SharedStringTable.AppendChild(new SharedStringItem(new Text(s) { Space = SpaceProcessingModeValues.Preserve }));
                }
                return i;
            }

            var sheetList = workbook.Workbook.AppendChild(new Sheets());
            uint id = 1;
            foreach (var (name, rows) in sheets)
            {
                var part = workbook.AddNewPart<WorksheetPart>();
                var data = new SheetData();
                foreach (var row in rows)
                {
                    var r = new Row { RowIndex = row.Number };
                    for (var c = 0; c < row.Cells.Length; c++)
                    {
                        var reference = $"{(char)('A' + c)}{row.Number}";
                        switch (row.Cells[c])
                        {
                            case null:
                                break;
                            case string s:
                                r.AppendChild(new Cell { CellReference = reference, DataType = CellValues.SharedString, CellValue = new CellValue(Shared(s)) });
                                break;
                            case DateTime d:
                                r.AppendChild(new Cell { CellReference = reference, StyleIndex = 1, CellValue = new CellValue(d.ToOADate().ToString(CultureInfo.InvariantCulture)) });
                                break;
                            case double n:
                                r.AppendChild(new Cell { CellReference = reference, CellValue = new CellValue(n.ToString("R", CultureInfo.InvariantCulture)) });
                                break;
                            default:
                                throw new ArgumentException($"unsupported cell {row.Cells[c]}");
                        }
                    }
                    data.AppendChild(r);
                }
                part.Worksheet = new Worksheet(data);
                sheetList.AppendChild(new Sheet { Id = workbook.GetIdOfPart(part), SheetId = id++, Name = name });
            }
            workbook.Workbook.Save();
        }
        return stream.ToArray();
    }

    private static (string, SheetRow[]) NotesSheet() => ("Notes",
    [
        new SheetRow(1, "Exported from the case system", null, "do not edit"),
        new SheetRow(2, "reference", 42.0),
    ]);

    [Fact]
    public async Task A_named_sheet_loads_with_typed_cells_and_rejects_carry_spreadsheet_row_numbers()
    {
        using var ws = new Workspace();
        ws.WriteBytes("data/requests.xlsx", Workbook(NotesSheet(), ("Requests",
        [
            new SheetRow(1, HeaderCells),
            new SheetRow(2, "FOI-2024-00001", "Ada Lovelace", new DateTime(2024, 1, 13), "2024-02-02", "open", 36.0, 12.5, "Spending on consultants"),
            new SheetRow(3, "FOI-2024-00002", "Grace Hopper", new DateTime(2024, 2, 29), "2024-03-20", "closed", 0.0, "12.50", null),
            new SheetRow(4, "FOI-2024-00003", "Alan Turing", "2024-03-01", "2024-03-21", "withdrawn", 7.0, 0.1, "ISO text date"),
            new SheetRow(5, "FOI-2024-00004", "Edsger Dijkstra", new DateTime(2024, 3, 2), "2024-03-22", "pending", 3.0, 1.0, "Bad status"),
            // Row 6 is absent from the sheet: an empty row between records.
            new SheetRow(7, "FOI-2024-00005", "Barbara Liskov", "2024-02-30", "2024-03-23", "open", -1.0, 2.0, "Bad date, negative pages"),
            new SheetRow(8, "FOI-2024-00006", "Donald Knuth", new DateTime(2024, 3, 4), "2024-03-24", "open", 1234.0, 99999.99, "Big fee"),
            new SheetRow(9, "FOI-2024-00007", "Frances Allen", new DateTime(2024, 3, 5), "2024-03-25", "closed", 2.0, "two pounds", "Bad fee"),
            new SheetRow(10, "FOI-2024-00008", "Ken Thompson", new DateTime(2024, 3, 6), "2024-03-26", "open", 5.0, 5.0, "Last"),
        ])));
        ws.Write("ferry.yaml", Manifest);

        var result = await ws.Ferry("run", "ferry.yaml");

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Equal(new Counts(8, 5, 0, 0, 3), Foi.LedgerCounts(ws, 1));
        Assert.Contains("requests.xlsx:5: column status: allowed (error)", result.Output);

        var one = Foi.Request(ws, "FOI-2024-00001");
        Assert.Equal("Ada Lovelace", one["requester"]);
        Assert.Equal("2024-01-13", one["received_on"]); // a styled date serial becomes an ISO date
        Assert.Equal("2024-02-02", one["due_on"]);      // an ISO text date stays that date
        Assert.Equal(36L, one["pages"]);
        Assert.Equal("12.5", one["fee"]);               // a numeric cell has no trailing zero to keep
        Assert.Equal("Spending on consultants", one["summary"]);
        var two = Foi.Request(ws, "FOI-2024-00002");
        Assert.Equal("2024-02-29", two["received_on"]);
        Assert.Equal(0L, two["pages"]);
        Assert.Equal("12.50", two["fee"]);              // a text cell keeps its scale
        Assert.Null(two["summary"]);                    // a missing cell is NULL
        Assert.Equal("2024-03-01", Foi.Request(ws, "FOI-2024-00003")["received_on"]);
        Assert.Equal("0.1", Foi.Request(ws, "FOI-2024-00003")["fee"]);
        Assert.Equal("99999.99", Foi.Request(ws, "FOI-2024-00006")["fee"]);
        Assert.Equal(1234L, Foi.Request(ws, "FOI-2024-00006")["pages"]);
        Assert.Equal("integer", ws.Scalar(Foi.Db, "SELECT typeof(pages) FROM foi_request WHERE reference = 'FOI-2024-00006'"));

        var errors = Foi.StageRows(ws, 1).Where(s => s.Status == "error").ToList();
        Assert.Equal([5L, 7L, 9L], errors.Select(e => e.Line));
        Assert.Equal(["range:pages", "type:received"], Foi.Issues(errors[1].Errors).Select(i => i.Rule + ":" + i.Column).Order(StringComparer.Ordinal));
        Assert.Equal(["type"], Foi.Rules(errors[2].Errors));
        Assert.Equal([2L, 3L, 4L, 8L, 10L], Foi.StageRows(ws, 1).Where(s => s.Status == "imported").Select(s => s.Line));

        // The rejects go round through a CSV, whatever the manifest's source type.
        var export = await ws.Ferry("rejects", "export", "ferry.yaml", "--out", "fix.csv");
        Assert.True(export.ExitCode == 0, export.ToString());
        var records = Foi.ParseCsv(File.ReadAllText(ws.PathOf("fix.csv")));
        var header = records[0];
        Assert.Equal("2024-03-02", records[1][header.IndexOf("received")]); // the date cell exported as the ISO text it was read as
        records[1][header.IndexOf("status")] = "open";
        records[2][header.IndexOf("received")] = "2024-03-03";
        records[2][header.IndexOf("pages")] = "1";
        records[3][header.IndexOf("fee")] = "2";
        ws.Write("fix.csv", Foi.WriteCsv(records));
        var fix = await ws.Ferry("run", "ferry.yaml", "--source", "fix.csv");
        Assert.True(fix.ExitCode == 0, fix.ToString());
        Assert.Equal(8, Foi.Count(ws, "SELECT count(*) FROM foi_request"));
        Assert.Equal("2024-03-02", Foi.Request(ws, "FOI-2024-00004")["received_on"]);
        Assert.All(Foi.StageRows(ws, 1), s => Assert.Equal("imported", s.Status));
    }

    [Fact]
    public async Task Rerunning_a_workbook_leaves_every_row_unchanged()
    {
        using var ws = new Workspace();
        var rows = new List<SheetRow> { new(1, HeaderCells) };
        for (var i = 1; i <= 30; i++)
            rows.Add(new SheetRow((uint)i + 1, Foi.Reference(i), $"Requester {i}", new DateTime(2024, 1, 1).AddDays(i), "2024-12-31",
                i % 2 == 0 ? "open" : "closed", (double)i, i + 0.25, $"Summary {i}"));
        ws.WriteBytes("data/requests.xlsx", Workbook(("Requests", rows.ToArray()), NotesSheet()));
        ws.Write("ferry.yaml", Manifest);

        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var before = Foi.Dump(ws, "SELECT * FROM foi_request ORDER BY reference");
        Assert.Equal("30.25", Foi.Request(ws, Foi.Reference(30))["fee"]);
        Assert.Equal("2024-01-31", Foi.Request(ws, Foi.Reference(30))["received_on"]);

        var again = await ws.Ferry("run", "ferry.yaml");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(new Counts(30, 0, 0, 30, 0), Foi.LedgerCounts(ws, 2));
        Assert.Equal(before, Foi.Dump(ws, "SELECT * FROM foi_request ORDER BY reference"));
    }

    [Fact]
    public async Task A_sheet_the_workbook_does_not_have_fails_clearly_without_creating_the_target()
    {
        using var ws = new Workspace();
        ws.WriteBytes("data/requests.xlsx", Workbook(NotesSheet()));
        ws.Write("ferry.yaml", Manifest);

        var result = await ws.Ferry("run", "ferry.yaml");

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("the workbook has no sheet named 'Requests'", result.Error);
        Assert.False(File.Exists(ws.PathOf(Foi.Db)));
    }
}
