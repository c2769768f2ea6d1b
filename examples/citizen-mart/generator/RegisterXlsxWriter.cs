using System.Globalization;
using System.IO.Compression;
using System.Security;
using System.Text;
using DocumentFormat.OpenXml;
using DocumentFormat.OpenXml.Spreadsheet;

namespace Ferry.Examples.CitizenMart;

/// <summary>
/// Writes an extract as one XLSX sheet: the sheet with OpenXmlWriter, element by element, straight
/// into its ZIP entry, so that nothing but the current row is in memory and a 50 MB workbook
/// streams. (The SDK's package API keeps every part in memory until it saves; the few small parts
/// around the sheet are fixed text here.) Cells are inline strings, with no shared-string table,
/// as streaming exporters write them.
/// </summary>
public static class RegisterXlsxWriter
{
    public static readonly string[] Header =
        ["citizen_id", "title", "name", "date_of_birth", "street", "postcode", "city", "phone", "email", "uprn", "registered_on"];

    public static long Write(string path, string sheetName, IEnumerable<RegisterRow> rows)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        long count = 0;
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        using var zip = new ZipArchive(file, ZipArchiveMode.Create);
        Text(zip, "[Content_Types].xml", ContentTypes);
        Text(zip, "_rels/.rels", PackageRelationships);
        Text(zip, "xl/workbook.xml", Workbook.Replace("{sheet}", SecurityElement.Escape(sheetName), StringComparison.Ordinal));
        Text(zip, "xl/_rels/workbook.xml.rels", WorkbookRelationships);
        using (var entry = Entry(zip, "xl/worksheets/sheet1.xml").Open())
        using (var writer = OpenXmlWriter.Create(entry))
        {
            writer.WriteStartDocument();
            writer.WriteStartElement(new Worksheet());
            writer.WriteStartElement(new SheetData());
            WriteRow(writer, 1, Header);
            var values = new string[Header.Length];
            foreach (var row in rows)
            {
                values[0] = row.CitizenId;
                values[1] = row.Title;
                values[2] = row.Name;
                values[3] = row.DateOfBirth;
                values[4] = row.Street;
                values[5] = row.Postcode;
                values[6] = row.City;
                values[7] = row.Phone;
                values[8] = row.Email;
                values[9] = row.Uprn;
                values[10] = row.RegisteredOn;
                WriteRow(writer, ++count + 1, values);
            }
            writer.WriteEndElement();
            writer.WriteEndElement();
        }
        return count;
    }

    private static void Text(ZipArchive zip, string name, string content)
    {
        using var writer = new StreamWriter(Entry(zip, name).Open(), new UTF8Encoding(false));
        writer.Write(content);
    }

    // A fixed time stamp: the same register gives the same bytes (and SHA-256) on every run.
    private static ZipArchiveEntry Entry(ZipArchive zip, string name)
    {
        var entry = zip.CreateEntry(name, CompressionLevel.Optimal);
        entry.LastWriteTime = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        return entry;
    }

    private const string ContentTypes = """
        <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
        <Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>
        """;

    private const string PackageRelationships = """
        <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
        <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>
        """;

    private const string Workbook = """
        <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
        <workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="{sheet}" sheetId="1" r:id="rId1"/></sheets></workbook>
        """;

    private const string WorkbookRelationships = """
        <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
        <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>
        """;

    private static readonly Row RowElement = new();
    private static readonly Cell CellElement = new();
    private static readonly InlineString InlineElement = new();
    private static readonly Text TextElement = new();
    private static readonly OpenXmlAttribute InlineStringType = new("t", "", "inlineStr");
    private static readonly OpenXmlAttribute[] PreserveSpace = [new("xml", "space", "http://www.w3.org/XML/1998/namespace", "preserve")];

    // Cells carry their references ("A2"), as Excel writes them.
    private static void WriteRow(OpenXmlWriter writer, long number, string[] values)
    {
        var row = number.ToString(CultureInfo.InvariantCulture);
        writer.WriteStartElement(RowElement, [new OpenXmlAttribute("r", "", row)]);
        for (var i = 0; i < values.Length; i++)
        {
            var value = values[i];
            writer.WriteStartElement(CellElement, [new OpenXmlAttribute("r", "", (char)('A' + i) + row), InlineStringType]);
            writer.WriteStartElement(InlineElement);
            // Leading and trailing spaces are data here: the cleansing must see them.
            writer.WriteStartElement(TextElement, value.Length > 0 && (value[0] == ' ' || value[^1] == ' ') ? PreserveSpace : []);
            writer.WriteString(value);
            writer.WriteEndElement();
            writer.WriteEndElement();
            writer.WriteEndElement();
        }
        writer.WriteEndElement();
    }
}
