using DocumentFormat.OpenXml;
using DocumentFormat.OpenXml.Packaging;
using DocumentFormat.OpenXml.Spreadsheet;
using System.Text.Json;
using Ferry.Tests.Support;

namespace Ferry.Tests.BadInput;

/// <summary>A row the run rejected, as its staging table holds it.</summary>
internal sealed record StagedReject(long Line, string Rule, string? Column, string Message, string Raw);

/// <summary>
/// What the bad-input tests share: a small person manifest over CSV or XLSX, loaded into
/// <c>target.db</c>, and readers for the ledger and staging tables it writes.
/// </summary>
internal static class BadInputKit
{
    public const string Db = "target.db";

    /// <summary>Three people, one a line; the header is line 1, so person N is on line N + 1.</summary>
    public const string GoodCsv = "id,name,city\n1,Ada,London\n2,Brian,Leeds\n3,Chloe,York\n";

    /// <summary>A manifest over <paramref name="source"/> (the whole 'source:' block, indented by two).</summary>
    public static string ManifestYaml(string source, string database = Db, int batchSize = 1000, string rules = "      - { column: id, required: true }\n") =>
        $$"""
        name: bad-input
        source:
        {{source}}
        target:
          type: sqlite
          connection: "Data Source={{database}}"
        entities:
          - name: person
            key: [id]
            mode: upsert
            batch_size: {{batchSize}}
            rules:
        {{rules.TrimEnd('\n')}}
            columns:
              id: { from: id, type: int }
              name: name
              city: city

        """;

    public static string CsvSource(string path = "data.csv", string extra = "") =>
        $"  type: csv\n  path: {path}" + (extra.Length > 0 ? "\n" + extra.TrimEnd('\n') : "");

    public static string XlsxSource(string path = "data.xlsx", string? sheet = "People") =>
        $"  type: xlsx\n  path: {path}" + (sheet is null ? "" : $"\n  sheet: {sheet}");

    /// <summary>Writes the CSV manifest and good data, runs it, and checks the target holds the three people.</summary>
    public static async Task GoodCsvRunAsync(Workspace ws, string manifest = "ferry.yaml", string? manifestText = null)
    {
        ws.Write(manifest, manifestText ?? ManifestYaml(CsvSource()));
        ws.Write("data.csv", GoodCsv);
        var result = await ws.Ferry("run", manifest);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(3L, ws.Scalar(Db, "SELECT count(*) FROM person"));
    }

    public static long Runs(Workspace ws, string database = Db) => (long)ws.Scalar(database, "SELECT count(*) FROM ferry_runs")!;

    /// <summary>(line, status) of every staging row a run wrote, in line order.</summary>
    public static List<(long Line, string Status)> Staged(Workspace ws, long runId, string entity = "person") =>
        ws.Query(Db, $"SELECT line, status FROM ferry_stage_{entity} WHERE run_id = {runId} ORDER BY line")
            .Select(r => ((long)r["line"]!, (string)r["status"]!)).ToList();

    /// <summary>Every rejecting message of a run's rejected rows, in line order.</summary>
    public static List<StagedReject> Rejects(Workspace ws, long runId, string entity = "person")
    {
        var rows = ws.Query(Db, $"SELECT line, errors, raw FROM ferry_stage_{entity} WHERE run_id = {runId} AND status = 'error' ORDER BY line");
        var result = new List<StagedReject>();
        foreach (var row in rows)
        {
            using var errors = JsonDocument.Parse((string)row["errors"]!);
            foreach (var e in errors.RootElement.EnumerateArray())
                result.Add(new StagedReject(
                    (long)row["line"]!,
                    e.GetProperty("rule").GetString()!,
                    e.GetProperty("column").ValueKind == JsonValueKind.Null ? null : e.GetProperty("column").GetString(),
                    e.GetProperty("message").GetString()!,
                    (string)row["raw"]!));
        }
        return result;
    }

    /// <summary>The people in the target, by id: "id|name|city".</summary>
    public static List<string> People(Workspace ws, string database = Db) =>
        ws.Query(database, "SELECT id, name, city FROM person ORDER BY id")
            .Select(r => $"{r["id"]}|{r["name"]}|{r["city"]}").ToList();

    /// <summary>
    /// Runs the built <c>ferry</c> in a process of its own. In-process runs share one process, where
    /// whatever an earlier test initialised (encodings, say) is already there; a fresh one is not.
    /// </summary>
    public static Task<CliResult> FerryProcessAsync(Workspace ws, params string[] args) =>
        FerryProcessAsync(ws, new Dictionary<string, string>(), args);

    /// <summary>As <see cref="FerryProcessAsync(Workspace, string[])"/>, with these environment variables set for the process.</summary>
    public static async Task<CliResult> FerryProcessAsync(Workspace ws, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = ws.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (name, value) in environment)
            start.Environment[name] = value;
        start.ArgumentList.Add("exec");
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ferry.dll"));
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return new CliResult(process.ExitCode, await output, await error);
    }

    /// <summary>The (1-based) line of the first line of <paramref name="text"/> containing <paramref name="marker"/>.</summary>
    public static int LineOf(string text, string marker)
    {
        var lines = text.Split('\n');
        var index = Array.FindIndex(lines, l => l.Contains(marker, StringComparison.Ordinal));
        Assert.True(index >= 0, $"'{marker}' is not in the text");
        return index + 1;
    }
}

/// <summary>Small, valid XLSX workbooks built with the Open XML SDK.</summary>
internal static class Workbooks
{
    /// <summary>A workbook with one sheet: the header id, name, city, then <paramref name="rows"/> (null = empty cell).</summary>
    public static byte[] People(string sheetName, IEnumerable<string?[]> rows) =>
        Build(sheetName, new[] { new string?[] { "id", "name", "city" } }.Concat(rows));

    public static byte[] Build(string sheetName, IEnumerable<string?[]> rows)
    {
        using var stream = new MemoryStream();
        using (var document = SpreadsheetDocument.Create(stream, SpreadsheetDocumentType.Workbook))
        {
            var workbook = document.AddWorkbookPart();
            workbook.Workbook = new Workbook();
            var worksheet = workbook.AddNewPart<WorksheetPart>();
            var data = new SheetData();
            uint number = 0;
            foreach (var values in rows)
            {
                number++;
                var row = new Row { RowIndex = number };
                for (var c = 0; c < values.Length; c++)
                    if (values[c] is { } value)
                        row.Append(new Cell
                        {
                            CellReference = $"{(char)('A' + c)}{number}",
                            DataType = CellValues.InlineString,
                            InlineString = new InlineString(new Text(value)),
                        });
                data.Append(row);
            }
            worksheet.Worksheet = new Worksheet(data);
            var sheets = workbook.Workbook.AppendChild(new Sheets());
            sheets.Append(new Sheet { Id = workbook.GetIdOfPart(worksheet), SheetId = 1, Name = sheetName });
        }
        return stream.ToArray();
    }
}
