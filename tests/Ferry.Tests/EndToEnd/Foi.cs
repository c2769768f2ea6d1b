using System.Globalization;
using System.Text;
using System.Text.Json;
using Ferry.Tests.Support;

namespace Ferry.Tests.EndToEnd;

/// <summary>
/// The staged FOI-request import the end-to-end tests share: a realistic CSV, the manifest that
/// loads it, and small helpers to read what landed in the SQLite target.
/// </summary>
internal static class Foi
{
    public const string Header = "reference,requester_name,received,due,status,pages,fee,summary";
    public const string Db = "foi.db";
    public const string Table = "foi_request";
    public const string Stage = "ferry_stage_foi_request";

    private static readonly string[] Names =
        ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth", "Frances Allen", "Ken Thompson"];
    private static readonly string[] Statuses = ["open", "closed", "withdrawn"];

    public static string Reference(int i) => $"FOI-2024-{i:D5}";

    /// <summary>A valid source line for request <paramref name="i"/>.</summary>
    public static string Row(int i, string? status = null, string? fee = null, string? summary = null)
    {
        var received = new DateOnly(2024, 1, 1).AddDays(i % 300);
        var due = received.AddDays(20);
        return string.Join(',',
            Reference(i),
            Names[i % Names.Length],
            received.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            due.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            status ?? Statuses[i % Statuses.Length],
            (i * 3).ToString(CultureInfo.InvariantCulture),
            fee ?? $"{i % 50}.50",
            summary ?? $"Request {i} about council spending");
    }

    /// <summary>A CSV of the header and these lines, "\n"-terminated.</summary>
    public static string Csv(IEnumerable<string> lines) => Header + "\n" + string.Join("\n", lines) + "\n";

    public static string Csv(params string[] lines) => Csv((IEnumerable<string>)lines);

    /// <summary>Valid rows <paramref name="from"/>..<paramref name="to"/> inclusive.</summary>
    public static IEnumerable<string> Rows(int from, int to) => Enumerable.Range(from, to - from + 1).Select(i => Row(i));

    /// <summary>
    /// The FOI manifest. <paramref name="extraRules"/> and <paramref name="extraColumns"/> are YAML
    /// lines already indented for the rules and columns lists.
    /// </summary>
    public static string Manifest(
        string mode = "upsert",
        int batchSize = 1000,
        string source = "data/requests.csv",
        string connection = "Data Source=foi.db",
        string extraRules = "",
        string key = "[reference]") => $$"""
        name: foi-import
        source:
          type: csv
          path: {{source}}
        target:
          type: sqlite
          connection: "{{connection}}"
        entities:
          - name: foi_request
            table: foi_request
            key: {{key}}
            mode: {{mode}}
            batch_size: {{batchSize}}
            rules:
              - { column: reference, required: true }
              - { column: reference, regex: '^FOI-\d{4}-\d{5}$' }
              - { column: reference, unique: true }
              - { column: received, type: date, format: yyyy-MM-dd }
              - { column: due, type: date, format: yyyy-MM-dd }
              - { column: status, allowed: [open, closed, withdrawn] }
              - { column: pages, type: int }
              - { column: pages, type: int, range: { min: 0, max: 100000 } }
              - { column: fee, type: decimal }
              - check: "Blank(received) || Blank(due) || string.Compare(received, due) <= 0"
                message: due date before received date
        {{extraRules}}
            columns:
              reference: { from: reference, trim: true }
              requester: requester_name
              received_on: { from: received, type: date, format: yyyy-MM-dd }
              due_on: { from: due, type: date }
              status: status
              pages: { from: pages, type: int, default: 0 }
              fee: { from: fee, type: decimal }
              summary: summary
              id: { uuid: key }
              origin: { const: legacy-foi }
        """;

    /// <summary>Every row of a query as one line of text, for exact comparison of table contents.</summary>
    public static string Dump(Workspace ws, string sql, string db = Db) =>
        string.Join("\n", ws.Query(db, sql).Select(r => string.Join(" | ", r.Select(p => $"{p.Key}={Show(p.Value)}"))));

    private static string Show(object? value) => value switch
    {
        null => "NULL",
        string s => "'" + s + "'",
        long l => l.ToString(CultureInfo.InvariantCulture) + "L",
        double d => d.ToString("R", CultureInfo.InvariantCulture) + "D",
        _ => value.ToString() ?? "",
    };

    public static long Count(Workspace ws, string sql, string db = Db) => (long)ws.Scalar(db, sql)!;

    /// <summary>One row of the production table by business key.</summary>
    public static Dictionary<string, object?> Request(Workspace ws, string reference, string db = Db) =>
        Assert.Single(ws.Query(db, $"SELECT * FROM foi_request WHERE reference = '{reference}'"));

    /// <summary>
    /// The staging rows of an entity (through the staging view), in stage id order. Raw values are
    /// kept only for rows with a record of their own (rejected and warned rows): null for the rest.
    /// </summary>
    public static List<StageRow> StageRows(Workspace ws, long run, string stage = Stage, string db = Db) =>
        ws.Query(db, $"SELECT stage_id, run_id, line, business_key, status, raw, errors, warnings, resolved_by_run FROM {stage} WHERE run_id = {run} ORDER BY stage_id")
            .Select(r => new StageRow(
                (long)r["stage_id"]!, (long)r["run_id"]!, (long)r["line"]!, (string?)r["business_key"], (string)r["status"]!,
                (string?)r["raw"], (string?)r["errors"], (string?)r["warnings"], (long?)r["resolved_by_run"]))
            .ToList();

    /// <summary>Runs <c>ferry status --json</c> (for one run or the newest) and parses it.</summary>
    public static async Task<JsonElement> StatusJson(Workspace ws, long? run = null, string manifest = "ferry.yaml")
    {
        var args = run is null ? new[] { "status", manifest, "--json" } : ["status", manifest, "--run", run.Value.ToString(CultureInfo.InvariantCulture), "--json"];
        var result = await ws.Ferry(args);
        Assert.True(result.ExitCode == 0, result.ToString());
        return JsonDocument.Parse(result.Output).RootElement.Clone();
    }

    /// <summary>The counts of one entity in a <c>status --json</c> / <c>runs --json</c> run object.</summary>
    public static Counts EntityCounts(JsonElement run, string entity = "foi_request")
    {
        var e = run.GetProperty("entities").EnumerateArray().Single(x => x.GetProperty("entity").GetString() == entity);
        return new Counts(
            e.GetProperty("rows_read").GetInt64(), e.GetProperty("inserted").GetInt64(), e.GetProperty("updated").GetInt64(),
            e.GetProperty("unchanged").GetInt64(), e.GetProperty("rejected").GetInt64());
    }

    /// <summary>The counts the ledger table holds for one entity of a run.</summary>
    public static Counts LedgerCounts(Workspace ws, long run, string entity = "foi_request", string db = Db)
    {
        var r = Assert.Single(ws.Query(db, $"SELECT rows_read, inserted, updated, unchanged, rejected FROM ferry_run_entities WHERE run_id = {run} AND entity = '{entity}'"));
        return new Counts((long)r["rows_read"]!, (long)r["inserted"]!, (long)r["updated"]!, (long)r["unchanged"]!, (long)r["rejected"]!);
    }

    /// <summary>A minimal CSV reader (quotes, doubled quotes, embedded newlines) to check files Ferry writes.</summary>
    public static List<List<string>> ParseCsv(string text)
    {
        var records = new List<List<string>>();
        var record = new List<string>();
        var field = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else field.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { record.Add(field.ToString()); field.Clear(); }
            else if (c == '\r') { }
            else if (c == '\n') { record.Add(field.ToString()); field.Clear(); records.Add(record); record = []; }
            else field.Append(c);
        }
        if (field.Length > 0 || record.Count > 0)
        {
            record.Add(field.ToString());
            records.Add(record);
        }
        return records;
    }

    public static string WriteCsv(IEnumerable<IReadOnlyList<string>> records) =>
        string.Concat(records.Select(r => string.Join(',', r.Select(Quote)) + "\n"));

    private static string Quote(string value) =>
        value.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;

    /// <summary>The rule names in a staging row's errors (or warnings) JSON.</summary>
    public static List<string> Rules(string? json) =>
        json is null ? [] : JsonDocument.Parse(json).RootElement.EnumerateArray().Select(e => e.GetProperty("rule").GetString()!).ToList();

    /// <summary>(column, rule) pairs in a staging row's errors JSON.</summary>
    public static List<(string? Column, string Rule, string Message)> Issues(string? json) =>
        json is null ? [] : JsonDocument.Parse(json).RootElement.EnumerateArray()
            .Select(e => (e.GetProperty("column").GetString(), e.GetProperty("rule").GetString()!, e.GetProperty("message").GetString()!)).ToList();
}

internal sealed record StageRow(long StageId, long RunId, long Line, string? BusinessKey, string Status, string? Raw, string? Errors, string? Warnings, long? ResolvedByRun);

internal sealed record Counts(long RowsRead, long Inserted, long Updated, long Unchanged, long Rejected);
