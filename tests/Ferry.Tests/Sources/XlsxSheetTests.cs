using System.IO.Compression;
using System.Text;
using Ferry.Sources;

namespace Ferry.Tests.Sources;

/// <summary>
/// The XLSX reader on workbooks written as XML by hand, so that each test holds exactly the markup
/// spreadsheet programs write: rich text, phonetic hints, escapes, formula results, error cells,
/// custom date formats, the 1904 date system, cells and rows without references.
/// </summary>
public class XlsxSheetTests
{
    private const string Main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";

    private static byte[] Workbook(string sheetData, string sharedStrings = "", string numFmts = "", string cellXfs = "<xf numFmtId=\"0\"/>", bool date1904 = false, string dimension = "A1")
    {
        using var stream = new MemoryStream();
        using (var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
        {
            void Add(string name, string xml)
            {
                using var writer = new StreamWriter(zip.CreateEntry(name).Open(), new UTF8Encoding(false));
                writer.Write(xml);
            }
            Add("[Content_Types].xml", """
                <?xml version="1.0" encoding="UTF-8"?>
                <Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
                  <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
                  <Default Extension="xml" ContentType="application/xml"/>
                  <Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
                  <Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
                  <Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>
                  <Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>
                </Types>
                """);
            Add("_rels/.rels", """
                <?xml version="1.0" encoding="UTF-8"?>
                <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
                  <Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>
                </Relationships>
                """);
            Add("xl/workbook.xml", $"""
                <?xml version="1.0" encoding="UTF-8"?>
                <workbook xmlns="{Main}" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
                  <workbookPr{(date1904 ? " date1904=\"1\"" : "")}/>
                  <sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets>
                </workbook>
                """);
            Add("xl/_rels/workbook.xml.rels", """
                <?xml version="1.0" encoding="UTF-8"?>
                <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
                  <Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>
                  <Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>
                  <Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>
                </Relationships>
                """);
            Add("xl/worksheets/sheet1.xml", $"""<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{Main}"><dimension ref="{dimension}"/><sheetData>{sheetData}</sheetData><pageMargins left="0.7"/></worksheet>""");
            Add("xl/sharedStrings.xml", $"""<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{Main}">{sharedStrings}</sst>""");
            Add("xl/styles.xml", $"""<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{Main}">{(numFmts.Length > 0 ? $"<numFmts>{numFmts}</numFmts>" : "")}<cellXfs>{cellXfs}</cellXfs></styleSheet>""");
        }
        return stream.ToArray();
    }

    private static List<(int Row, string?[] Cells)> Rows(byte[] workbook)
    {
        using var sheet = XlsxSheet.Open(new MemoryStream(workbook), "data")!;
        var rows = new List<(int, string?[])>();
        while (sheet.Read())
            rows.Add((sheet.RowNumber, sheet.Cells.ToArray()));
        return rows;
    }

    [Fact]
    public void Shared_and_inline_strings_keep_their_text_rich_runs_joined_without_phonetic_hints_and_escapes_decoded()
    {
        var rows = Rows(Workbook(
            """
            <row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c><c r="D1" t="s"><v>3</v></c></row>
            <row r="2"><c r="A2" t="inlineStr"><is><t xml:space="preserve"> padded </t></is></c><c r="B2" t="inlineStr"><is><r><t>Ri</t></r><r><rPr><b/></rPr><t>ch</t></r></is></c><c r="C2" t="s"><v>99</v></c></row>
            """,
            sharedStrings: """
            <si><t>plain</t></si>
            <si><r><t>bold</t></r><r><rPr><i/></rPr><t xml:space="preserve"> and italic</t></r></si>
            <si><t>東京</t><rPh sb="0" eb="2"><t>トウキョウ</t></rPh><phoneticPr fontId="1"/></si>
            <si><t>line_x000D__x000A_break and _x005F_x kept</t></si>
            """));

        Assert.Equal([(1, ["plain", "bold and italic", "東京", "line\r\nbreak and _x kept"]), (2, [" padded ", "Rich", null])],
            rows.Select(r => (r.Row, r.Cells)));
    }

    [Fact]
    public void Numbers_booleans_formula_results_and_error_cells_read_as_a_person_sees_them()
    {
        var rows = Rows(Workbook(
            """
            <row r="1">
              <c r="A1"><v>42</v></c><c r="B1"><v>0.1</v></c><c r="C1"><v>1.5E-3</v></c>
              <c r="D1" t="b"><v>1</v></c><c r="E1" t="b"><v>0</v></c>
              <c r="F1" t="str"><f>A1&amp;"x"</f><v>42x</v></c>
              <c r="G1" t="e"><f>1/0</f><v>#DIV/0!</v></c>
              <c r="H1"><f>A1*2</f><v>84</v></c>
              <c r="I1" t="d"><v>2024-02-29T00:00:00</v></c>
              <c r="J1"/>
              <extLst><ext uri="x"><y/></ext></extLst>
            </row>
            """));

        Assert.Equal(new string?[] { "42", "0.1", "0.0015", "true", "false", "42x", null, "84", "2024-02-29", null }, Assert.Single(rows).Cells);
    }

    [Theory]
    [InlineData("<numFmt numFmtId=\"164\" formatCode=\"dd/mm/yyyy\"/>", 164, "45351", "2024-02-29")]
    [InlineData("<numFmt numFmtId=\"164\" formatCode=\"yyyy-mm-dd hh:mm\"/>", 164, "45351.5", "2024-02-29 12:00:00")]
    [InlineData("", 14, "45351", "2024-02-29")]
    [InlineData("", 22, "45351.25", "2024-02-29 06:00:00")]
    [InlineData("<numFmt numFmtId=\"164\" formatCode=\"[h]:mm\"/>", 164, "1.5", "1.12:00:00")]
    [InlineData("<numFmt numFmtId=\"164\" formatCode=\"[Red]0.00;[Blue]-0.00\"/>", 164, "45351", "45351")]
    [InlineData("<numFmt numFmtId=\"164\" formatCode=\"&quot;Days: &quot;0\"/>", 164, "12", "12")]
    [InlineData("<numFmt numFmtId=\"164\" formatCode=\"General\"/>", 164, "12.25", "12.25")]
    [InlineData("", 4, "1234.5", "1234.5")]
    public void A_number_styled_with_a_date_format_is_a_date_and_with_any_other_format_a_number(string numFmts, int formatId, string value, string expected)
    {
        var rows = Rows(Workbook($"""<row r="1"><c r="A1" s="1"><v>{value}</v></c></row>""", numFmts: numFmts,
            cellXfs: $"""<xf numFmtId="0"/><xf numFmtId="{formatId}" applyNumberFormat="1"/>"""));

        Assert.Equal(expected, Assert.Single(Assert.Single(rows).Cells));
    }

    [Fact]
    public void The_1904_date_system_moves_serials_by_its_four_years()
    {
        var rows = Rows(Workbook("""<row r="1"><c r="A1" s="1"><v>43889</v></c></row>""", cellXfs: """<xf numFmtId="0"/><xf numFmtId="14"/>""", date1904: true));

        Assert.Equal("2024-02-29", Assert.Single(Assert.Single(rows).Cells));
    }

    [Fact]
    public void Cells_and_rows_without_references_follow_the_one_before_and_gaps_stay_empty()
    {
        var rows = Rows(Workbook(
            """
            <row r="2"><c t="inlineStr"><is><t>a</t></is></c><c r="C2" t="inlineStr"><is><t>c</t></is></c><c t="inlineStr"><is><t>d</t></is></c></row>
            <row><c r="B3"><v>7</v></c></row>
            <row r="9"/>
            """));

        Assert.Equal([(2, ["a", null, "c", "d"]), (3, [null, "7"]), (9, [])], rows.Select(r => (r.Row, r.Cells)));
    }

    [Fact]
    public void A_sheet_that_breaks_inside_its_data_fails_at_that_row_after_the_rows_before_it()
    {
        var good = string.Concat(Enumerable.Range(1, 3).Select(i => $"""<row r="{i}"><c r="A{i}"><v>{i}</v></c></row>"""));
        var workbook = Workbook(good + """<row r="4"><c r="A4"><v>4</v></c><c r="B4"><v>5""");
        using var stream = new MemoryStream();
        // Cut the sheet's XML where its row 4 breaks off: rebuild the entry from the broken text.
        using (var zip = new ZipArchive(new MemoryStream(workbook), ZipArchiveMode.Read))
        using (var output = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
            foreach (var entry in zip.Entries)
            {
                using var reader = new StreamReader(entry.Open());
                var text = reader.ReadToEnd();
                if (entry.FullName == "xl/worksheets/sheet1.xml")
                    text = text[..(text.IndexOf("<v>5", StringComparison.Ordinal) + 4)];
                using var writer = new StreamWriter(output.CreateEntry(entry.FullName).Open());
                writer.Write(text);
            }
        using var sheet = XlsxSheet.Open(new MemoryStream(stream.ToArray()), null)!;

        for (var i = 1; i <= 3; i++)
        {
            Assert.True(sheet.Read());
            Assert.Equal(i, sheet.RowNumber);
        }
        Assert.ThrowsAny<System.Xml.XmlException>(() => sheet.Read());
    }

    [Fact]
    public void A_sheet_name_is_matched_in_any_case_and_an_unknown_one_is_none()
    {
        var workbook = Workbook("""<row r="1"><c r="A1"><v>1</v></c></row>""");

        using (var sheet = XlsxSheet.Open(new MemoryStream(workbook), "DATA"))
            Assert.Equal("Data", sheet!.Name);
        Assert.Null(XlsxSheet.Open(new MemoryStream(workbook), "Other"));
    }

    [Fact]
    public void Progress_is_the_share_of_the_rows_the_sheet_declares_and_unknown_without_a_declaration()
    {
        var data = string.Concat(Enumerable.Range(1, 4).Select(i => $"""<row r="{i}"><c r="A{i}"><v>{i}</v></c></row>"""));
        using var declared = XlsxSheet.Open(new MemoryStream(Workbook(data, dimension: "A1:C4")), null)!;
        var seen = new List<double?>();
        while (declared.Read())
            seen.Add(declared.Progress);
        Assert.Equal([0.25, 0.5, 0.75, 1.0], seen);

        using var undeclared = XlsxSheet.Open(new MemoryStream(Workbook(data, dimension: "A1")), null)!;
        Assert.True(undeclared.Read());
        Assert.Null(undeclared.Progress);
    }
}
