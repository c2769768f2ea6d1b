using System.Globalization;
using System.Text;
using System.Xml;
using DocumentFormat.OpenXml.Packaging;
using DocumentFormat.OpenXml.Spreadsheet;

namespace Ferry.Sources;

/// <summary>
/// One worksheet of an XLSX workbook, read forward in a single pass. The Open XML SDK finds the
/// workbook's parts (sheets, shared strings, styles); the sheet's own XML, the one large part, is
/// read with an <see cref="XmlReader"/> row by row, so memory holds one row and the shared strings.
/// Cells become the text a person sees: shared and inline strings as written, numbers in invariant
/// form, cells styled as dates as ISO dates, booleans as true/false, error cells as nothing.
/// </summary>
internal sealed class XlsxSheet : IDisposable
{
    private readonly SpreadsheetDocument document;
    private readonly Stream part;
    private readonly XmlReader xml;
    private readonly List<string> sharedStrings;
    private readonly CellStyle[] styles;
    private readonly bool date1904;
    private readonly List<string?> cells = [];
    private int lastRowDeclared;
    private bool inSheetData, done;

    internal enum CellStyle : byte { General, DateTime, Duration }

    private XlsxSheet(SpreadsheetDocument document, string name, Stream part, List<string> sharedStrings, CellStyle[] styles, bool date1904)
    {
        this.document = document;
        Name = name;
        this.part = part;
        this.sharedStrings = sharedStrings;
        this.styles = styles;
        this.date1904 = date1904;
        xml = XmlReader.Create(part, new XmlReaderSettings { IgnoreComments = true, IgnoreProcessingInstructions = true, IgnoreWhitespace = false, DtdProcessing = DtdProcessing.Prohibit });
    }

    public string Name { get; }

    /// <summary>The row just read: its 1-based number in the sheet and its cells by column (null = empty).</summary>
    public int RowNumber { get; private set; }
    public IReadOnlyList<string?> Cells => cells;

    /// <summary>The share of the sheet's rows read, when its &lt;dimension&gt; names its last row; null otherwise.</summary>
    public double? Progress => lastRowDeclared > 1 ? Math.Min(1.0, (double)RowNumber / lastRowDeclared) : null;

    /// <summary>Opens <paramref name="sheetName"/> (any case), or the first sheet when it is null; null when the workbook has no such sheet.</summary>
    public static XlsxSheet? Open(Stream stream, string? sheetName)
    {
        var document = SpreadsheetDocument.Open(stream, false);
        try
        {
            var workbookPart = document.WorkbookPart ?? throw new InvalidDataException("the package has no workbook part");
            var workbook = workbookPart.Workbook;
            var sheets = workbook.Sheets?.Elements<Sheet>().ToList() ?? [];
            var sheet = sheetName is null
                ? sheets.FirstOrDefault()
                : sheets.FirstOrDefault(s => string.Equals(s.Name?.Value, sheetName, StringComparison.OrdinalIgnoreCase));
            if (sheet?.Id?.Value is not { } id)
            {
                if (sheetName is null)
                    throw new InvalidDataException("the workbook has no sheet");
                document.Dispose();
                return null;
            }
            if (workbookPart.GetPartById(id) is not WorksheetPart worksheet)
                throw new InvalidDataException($"sheet '{sheet.Name}' is not a worksheet");
            var date1904 = workbook.WorkbookProperties?.Date1904?.Value ?? false;
            var strings = workbookPart.SharedStringTablePart is { } sst ? ReadSharedStrings(sst) : [];
            var styles = ReadStyles(workbookPart.WorkbookStylesPart);
            return new XlsxSheet(document, sheet.Name?.Value ?? "", worksheet.GetStream(FileMode.Open, FileAccess.Read), strings, styles, date1904);
        }
        catch
        {
            document.Dispose();
            throw;
        }
    }

    /// <summary>Moves to the next &lt;row&gt; of the sheet's data; false at its end. Between calls the reader rests on the node after the last row read.</summary>
    public bool Read()
    {
        if (done)
            return false;
        if (!inSheetData)
        {
            while (xml.Read() && !(xml.NodeType == XmlNodeType.Element && xml.LocalName == "sheetData"))
            {
                // <dimension ref="A1:L550001"/>: the sheet's last row, when the writer said so.
                if (xml.NodeType == XmlNodeType.Element && xml.LocalName == "dimension" && xml.GetAttribute("ref") is { } range)
                    lastRowDeclared = ParseNumber(new string(range[(range.LastIndexOf(':') + 1)..].SkipWhile(char.IsAsciiLetter).ToArray())) ?? 0;
            }
            if (xml.EOF || xml.IsEmptyElement)
            {
                done = true;
                return false;
            }
            inSheetData = true;
            xml.Read();
        }
        while (!(xml.NodeType == XmlNodeType.EndElement && xml.LocalName == "sheetData"))
        {
            if (xml.EOF)
                throw new XmlException("unexpected end of the sheet's XML, inside its data");
            if (xml.NodeType != XmlNodeType.Element)
            {
                xml.Read();
                continue;
            }
            if (xml.LocalName != "row")
            {
                xml.Skip();
                continue;
            }
            RowNumber = ParseNumber(xml.GetAttribute("r")) is { } r and > 0 ? r : RowNumber + 1;
            cells.Clear();
            if (!xml.IsEmptyElement)
                ReadCells(); // ends on </row>
            xml.Read();
            return true;
        }
        done = true;
        return false;
    }

    /// <summary>
    /// Calls <paramref name="child"/> for each child element of the element the reader is on, which must
    /// not be empty. <paramref name="child"/> must consume the element it is given (read its content or
    /// skip it), leaving the reader on whatever follows; the reader ends on the parent's end tag.
    /// </summary>
    private static void Children(XmlReader xml, Action<XmlReader> child)
    {
        var depth = xml.Depth;
        xml.Read();
        while (!(xml.NodeType == XmlNodeType.EndElement && xml.Depth == depth))
        {
            if (xml.EOF)
                throw new XmlException("unexpected end of the sheet's XML");
            if (xml.NodeType == XmlNodeType.Element)
                child(xml);
            else
                xml.Read();
        }
    }

    private void ReadCells()
    {
        var next = 0;
        Children(xml, c =>
        {
            if (c.LocalName != "c")
            {
                c.Skip();
                return;
            }
            var column = ColumnOf(c.GetAttribute("r")) ?? next;
            next = column + 1;
            var type = c.GetAttribute("t");
            var style = ParseNumber(c.GetAttribute("s")) ?? 0;
            string? raw = null, inline = null;
            if (c.IsEmptyElement)
            {
                c.Read();
            }
            else
            {
                Children(c, part =>
                {
                    if (part.LocalName == "v")
                        raw = part.ReadElementContentAsString();
                    else if (part.LocalName == "is")
                        inline = ReadStringItem(part);
                    else
                        part.Skip();
                });
                c.Read(); // past </c>
            }
            var value = Value(type, raw, inline, style);
            while (cells.Count <= column)
                cells.Add(null);
            cells[column] = value;
        });
    }

    private string? Value(string? type, string? raw, string? inline, int style)
    {
        switch (type)
        {
            case "s":
                return ParseNumber(raw) is { } index && index >= 0 && index < sharedStrings.Count ? sharedStrings[index] : null;
            case "inlineStr":
                return inline ?? Unescape(raw);
            case "str":
                return Unescape(raw);
            case "b":
                return raw is null ? null : raw.Trim() == "1" ? "true" : "false";
            case "e":
                return null; // #N/A, #DIV/0! and the like hold no value
            case "d":
                return raw is not null && DateTime.TryParse(raw, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var iso) ? Show(iso) : raw;
        }
        if (string.IsNullOrEmpty(raw))
            return null;
        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
            return raw;
        var kind = style >= 0 && style < styles.Length ? styles[style] : CellStyle.General;
        if (kind == CellStyle.DateTime && ToDate(number) is { } date)
            return Show(date);
        if (kind == CellStyle.Duration)
            return TimeSpan.FromDays(number).ToString(null, CultureInfo.InvariantCulture);
        return number.ToString("R", CultureInfo.InvariantCulture);
    }

    private DateTime? ToDate(double serial)
    {
        if (date1904)
            serial += 1462;
        // Serial 60 is 29 February 1900, a day that never was; OLE dates count from 30 December 1899 and agree from 61 on.
        if (serial < 61)
            serial += 1;
        return serial is >= -657435.0 and < 2958466.0 ? DateTime.FromOADate(serial) : null;
    }

    internal static string Show(DateTime d) => d.TimeOfDay == TimeSpan.Zero
        ? d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)
        : d.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    /// <summary>"AB12" → 27 (0-based column), or null when the reference is missing or not a cell reference.</summary>
    private static int? ColumnOf(string? reference)
    {
        if (string.IsNullOrEmpty(reference))
            return null;
        var column = 0;
        var i = 0;
        for (; i < reference.Length && char.IsAsciiLetter(reference[i]); i++)
            column = column * 26 + (char.ToUpperInvariant(reference[i]) - 'A' + 1);
        return i == 0 || column > 16_384 ? null : column - 1;
    }

    private static int? ParseNumber(string? text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;

    private static List<string> ReadSharedStrings(SharedStringTablePart part)
    {
        var strings = new List<string>();
        using var stream = part.GetStream(FileMode.Open, FileAccess.Read);
        using var xml = XmlReader.Create(stream, new XmlReaderSettings { IgnoreComments = true, DtdProcessing = DtdProcessing.Prohibit });
        xml.Read();
        while (!xml.EOF)
        {
            if (xml.NodeType == XmlNodeType.Element && xml.LocalName == "si")
                strings.Add(ReadStringItem(xml)); // leaves the reader on what follows the item
            else
                xml.Read();
        }
        return strings;
    }

    /// <summary>
    /// The text of an &lt;si&gt; or &lt;is&gt; element: its &lt;t&gt;, or its rich-text runs' &lt;t&gt;s, without
    /// phonetic hints. Leaves the reader past the element.
    /// </summary>
    private static string ReadStringItem(XmlReader xml)
    {
        if (xml.IsEmptyElement)
        {
            xml.Read();
            return "";
        }
        string? single = null;
        StringBuilder? joined = null;
        void Text(XmlReader t)
        {
            var text = t.ReadElementContentAsString();
            if (single is null && joined is null)
                single = text;
            else
                (joined ??= new StringBuilder(single)).Append(text);
        }
        Children(xml, item =>
        {
            if (item.LocalName == "t")
                Text(item);
            else if (item.LocalName == "r" && !item.IsEmptyElement)
            {
                Children(item, run =>
                {
                    if (run.LocalName == "t")
                        Text(run);
                    else
                        run.Skip();
                });
                item.Read(); // past </r>
            }
            else
                item.Skip(); // rPh, phoneticPr, an empty run
        });
        xml.Read(); // past the end tag
        return Unescape(joined?.ToString() ?? single ?? "")!;
    }

    /// <summary>Excel writes characters XML cannot hold as _xHHHH_ (and a literal "_x" as _x005F_x).</summary>
    private static string? Unescape(string? text)
    {
        if (text is null || !text.Contains("_x", StringComparison.Ordinal))
            return text;
        var builder = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '_' && i + 6 < text.Length && text[i + 1] == 'x' && text[i + 6] == '_'
                && int.TryParse(text.AsSpan(i + 2, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code))
            {
                builder.Append((char)code);
                i += 6;
            }
            else
            {
                builder.Append(text[i]);
            }
        }
        return builder.ToString();
    }

    /// <summary>For each cell style (cellXfs index): whether its number format shows a date or a duration.</summary>
    private static CellStyle[] ReadStyles(WorkbookStylesPart? part)
    {
        var stylesheet = part?.Stylesheet;
        if (stylesheet?.CellFormats is null)
            return [];
        var custom = stylesheet.NumberingFormats?.Elements<NumberingFormat>()
            .Where(f => f.NumberFormatId?.Value is not null)
            .ToDictionary(f => f.NumberFormatId!.Value, f => f.FormatCode?.Value ?? "") ?? [];
        return stylesheet.CellFormats.Elements<CellFormat>()
            .Select(f => f.NumberFormatId?.Value is { } id ? Classify(id, custom.GetValueOrDefault(id)) : CellStyle.General)
            .ToArray();
    }

    /// <summary>Built-in formats 14–22 and 45–47 show dates and times (46 a duration); a custom one does when its code has date or time letters outside quotes and brackets.</summary>
    internal static CellStyle Classify(uint id, string? code)
    {
        if (code is null)
            return id is >= 14 and <= 22 or 45 or 47 or >= 27 and <= 36 or >= 50 and <= 58 ? CellStyle.DateTime
                : id == 46 ? CellStyle.Duration : CellStyle.General;
        var quoted = false;
        var bracket = new StringBuilder();
        var inBracket = false;
        for (var i = 0; i < code.Length; i++)
        {
            var c = code[i];
            if (quoted)
            {
                quoted = c != '"';
                continue;
            }
            if (inBracket)
            {
                if (c == ']')
                {
                    inBracket = false;
                    var inside = bracket.ToString().ToLowerInvariant();
                    if (inside.Length > 0 && inside.All(ch => ch is 'h' or 'm' or 's'))
                        return CellStyle.Duration; // [h]:mm elapsed time
                    bracket.Clear();
                }
                else
                {
                    bracket.Append(c);
                }
                continue;
            }
            switch (c)
            {
                case '"':
                    quoted = true;
                    break;
                case '[':
                    inBracket = true;
                    break;
                case '\\' or '_' or '*':
                    i++; // the next character is literal, or padding
                    break;
                case ';':
                    return CellStyle.General; // only the first section decides; no date letters seen in it
                default:
                    if (c is 'y' or 'Y' or 'd' or 'D' or 'h' or 'H' or 's' or 'S' or 'm' or 'M')
                        return CellStyle.DateTime;
                    break;
            }
        }
        return CellStyle.General;
    }

    public void Dispose()
    {
        xml.Dispose();
        part.Dispose();
        document.Dispose();
    }
}
