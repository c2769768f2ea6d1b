using System.Globalization;
using System.Text.Json;
using Ferry.Mapping;
using Ferry.Tests.Support;

namespace Ferry.Tests.EndToEnd;

/// <summary>Scenario 1: a CSV export lands in staging, is validated row by row, and valid rows load.</summary>
public class StagedImportTests
{
    /// <summary>Builds a CSV record by record, remembering the physical line each record starts on.</summary>
    private sealed class CsvBuilder(string header, string newline = "\n")
    {
        private readonly List<string> records = [];
        private int nextLine = 2;

        public int Add(string record)
        {
            var line = nextLine;
            records.Add(record);
            nextLine += 1 + record.Count(c => c == '\n');
            return line;
        }

        public void AddRange(IEnumerable<string> lines)
        {
            foreach (var l in lines)
                Add(l);
        }

        public int Count => records.Count;

        public override string ToString() => header + newline + string.Concat(records.Select(r => r + newline));
    }

    [Fact]
    public async Task First_run_is_partial_valid_rows_land_typed_and_every_bad_row_is_explained_with_its_physical_line()
    {
        using var ws = new Workspace();
        var csv = new CsvBuilder(Foi.Header);
        csv.AddRange(Foi.Rows(1, 11));
        // A requester with a comma, quoted; and a row whose optional pages value is blank.
        csv.Add("FOI-2024-00012,\"Hopper, Grace\",2024-01-13,2024-02-02,closed,36,12.50,\"Spending on \"\"consultants\"\"\"");
        csv.Add("FOI-2024-00013,Alan Turing,2024-01-14,2024-02-03,open,,0.05,Parking permits");
        csv.AddRange(Foi.Rows(14, 30));
        // A summary spanning three physical lines: the rows after it must still get their real line numbers.
        csv.Add(Foi.Row(31, summary: "\"Minutes of:\nthe planning committee\nMarch to May\""));
        var multiFailure = csv.Add("FOI-24-1,Ada Lovelace,2024-13-01,2024-01-05,pending,-5,twelve,Broken in many ways");
        csv.Add(Foi.Row(32));
        var missingReference = csv.Add(",Grace Hopper,2024-02-01,2024-02-21,open,3,1.00,No reference at all");
        csv.Add(Foi.Row(33, summary: "\"Two\nlines\""));
        var duplicate = csv.Add("FOI-2024-00005,Someone Else,2024-01-06,2024-01-26,open,15,5.50,Duplicate of line 6");
        var tooFewFields = csv.Add("FOI-2024-00777,Too Few,2024-03-01");
        csv.AddRange(Foi.Rows(34, 50));
        var badStatus = csv.Add(Foi.Row(9999, status: "archived"));
        csv.AddRange(Foi.Rows(51, 60));
        ws.Write("data/requests.csv", csv.ToString());
        ws.Write("ferry.yaml", Foi.Manifest(batchSize: 25));

        var result = await ws.Ferry("run", "ferry.yaml");

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains("run 1: partial", result.Output);
        Assert.Contains($"requests.csv:{multiFailure}: column reference: regex (error)", result.Output);
        Assert.Contains($"requests.csv:{badStatus}: column status: allowed (error): 'archived' is not one of: open, closed, withdrawn", result.Output);

        // Production: exactly the 60 valid requests, each once, typed as the mapping says.
        Assert.Equal(60, Foi.Count(ws, "SELECT count(*) FROM foi_request"));
        Assert.Equal(60, Foi.Count(ws, "SELECT count(DISTINCT reference) FROM foi_request"));
        Assert.Equal(0, Foi.Count(ws, "SELECT count(*) FROM foi_request WHERE reference IN ('FOI-24-1', 'FOI-2024-00777', 'FOI-2024-09999')"));

        var twelve = Foi.Request(ws, "FOI-2024-00012");
        Assert.Equal("Hopper, Grace", twelve["requester"]);
        Assert.Equal("2024-01-13", twelve["received_on"]);
        Assert.Equal("2024-02-02", twelve["due_on"]);
        Assert.Equal("closed", twelve["status"]);
        Assert.Equal(36L, twelve["pages"]);
        Assert.Equal("12.50", twelve["fee"]); // decimals are text, scale kept
        Assert.Equal("Spending on \"consultants\"", twelve["summary"]);
        Assert.Equal("legacy-foi", twelve["origin"]);
        Assert.Equal(DeterministicUuid.ForKey("foi_request", "FOI-2024-00012").ToString("D"), twelve["id"]);
        var id = Guid.Parse((string)twelve["id"]!);
        Assert.Equal(5, id.Version);
        Assert.Equal("text", ws.Scalar(Foi.Db, "SELECT typeof(fee) FROM foi_request WHERE reference = 'FOI-2024-00012'"));
        Assert.Equal("integer", ws.Scalar(Foi.Db, "SELECT typeof(pages) FROM foi_request WHERE reference = 'FOI-2024-00012'"));
        Assert.Equal("text", ws.Scalar(Foi.Db, "SELECT typeof(received_on) FROM foi_request WHERE reference = 'FOI-2024-00012'"));

        Assert.Equal(0L, Foi.Request(ws, "FOI-2024-00013")["pages"]); // blank -> default 0
        Assert.Equal("0.05", Foi.Request(ws, "FOI-2024-00013")["fee"]);
        Assert.Equal("Minutes of:\nthe planning committee\nMarch to May", Foi.Request(ws, "FOI-2024-00031")["summary"]);
        // The first occurrence of a duplicated key wins; the later one is rejected.
        Assert.Equal(Foi.Row(5).Split(',')[1], Foi.Request(ws, "FOI-2024-00005")["requester"]);
        Assert.Equal(60, Foi.Count(ws, "SELECT count(DISTINCT id) FROM foi_request"));

        // Staging: every source row, imported or error, errors explaining each rejection in full.
        var stage = Foi.StageRows(ws, 1);
        Assert.Equal(csv.Count, stage.Count);
        Assert.Equal(60, stage.Count(s => s.Status == "imported"));
        Assert.Equal(5, stage.Count(s => s.Status == "error"));
        Assert.All(stage.Where(s => s.Status == "imported"), s => Assert.Null(s.Errors));
        Assert.Equal([multiFailure, missingReference, duplicate, tooFewFields, badStatus],
            stage.Where(s => s.Status == "error").Select(s => (int)s.Line));

        var many = stage.Single(s => s.Line == multiFailure);
        Assert.Equal(
            new[] { "-:check", "fee:type", "pages:range", "received:type", "reference:regex", "status:allowed" },
            Foi.Issues(many.Errors).Select(i => (i.Column ?? "-") + ":" + i.Rule).Order(StringComparer.Ordinal));
        Assert.Contains(Foi.Issues(many.Errors), i => i.Rule == "check" && i.Message == "due date before received date");
        Assert.Contains(Foi.Issues(many.Errors), i => i.Rule == "type" && i.Column == "received" && i.Message.Contains("2024-13-01", StringComparison.Ordinal));
        using (var raw = JsonDocument.Parse(many.Raw!))
        {
            Assert.Equal("FOI-24-1", raw.RootElement.GetProperty("reference").GetString());
            Assert.Equal("pending", raw.RootElement.GetProperty("status").GetString());
            Assert.Equal("twelve", raw.RootElement.GetProperty("fee").GetString());
        }

        Assert.Equal(["required"], Foi.Rules(stage.Single(s => s.Line == missingReference).Errors));
        var dup = Assert.Single(Foi.Issues(stage.Single(s => s.Line == duplicate).Errors));
        Assert.Equal(("reference", "unique"), (dup.Column, dup.Rule));
        Assert.Contains("line 6", dup.Message);
        var fields = Assert.Single(Foi.Issues(stage.Single(s => s.Line == tooFewFields).Errors));
        Assert.Equal("field-count", fields.Rule);
        Assert.Contains("expected 8 fields, found 3", fields.Message);
        Assert.Equal(["allowed"], Foi.Rules(stage.Single(s => s.Line == badStatus).Errors));

        // The run record and its counts, in the ledger and through 'status --json'.
        var run = Assert.Single(ws.Query(Foi.Db, "SELECT run_id, status, finished_at, error FROM ferry_runs"));
        Assert.Equal(1L, run["run_id"]);
        Assert.Equal("partial", run["status"]);
        Assert.NotNull(run["finished_at"]);
        Assert.Null(run["error"]);
        Assert.Equal(new Counts(65, 60, 0, 0, 5), Foi.LedgerCounts(ws, 1));
        Assert.Equal(3, Foi.Count(ws, "SELECT count(*) FROM ferry_batches WHERE run_id = 1"));
        Assert.Equal(65, Foi.Count(ws, "SELECT sum(rows_read) FROM ferry_batches WHERE run_id = 1"));
        Assert.Equal(5, Foi.Count(ws, "SELECT sum(rejected) FROM ferry_batches WHERE run_id = 1"));

        var status = await Foi.StatusJson(ws);
        Assert.Equal(1, status.GetProperty("run_id").GetInt64());
        Assert.Equal("partial", status.GetProperty("status").GetString());
        var started = DateTime.Parse(status.GetProperty("started_at").GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
        var finished = DateTime.Parse(status.GetProperty("finished_at").GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
        Assert.True(finished >= started);
        Assert.Equal(new Counts(65, 60, 0, 0, 5), Foi.EntityCounts(status));
        // The run lock is released (and its file removed) when the run ends.
        Assert.False(File.Exists(ws.PathOf("foi.db.ferry-lock")));
    }

    [Fact]
    public async Task Line_numbers_are_physical_lines_in_a_CRLF_file_whose_quoted_fields_span_lines()
    {
        using var ws = new Workspace();
        var csv = new CsvBuilder(Foi.Header, "\r\n");
        csv.AddRange(Foi.Rows(1, 3));
        csv.Add(Foi.Row(4, summary: "\"A long\r\nfree-text\r\nsummary, with a comma\""));
        var bad1 = csv.Add(Foi.Row(5, status: "lost"));
        // The bad row itself spans lines: its line is where it starts.
        var bad2 = csv.Add(Foi.Row(6, status: "gone", summary: "\"starts here\r\nends here\""));
        csv.Add(Foi.Row(7));
        var bad3 = csv.Add(Foi.Row(8, fee: "1.2.3"));
        ws.Write("data/requests.csv", csv.ToString());
        ws.Write("ferry.yaml", Foi.Manifest(batchSize: 3));

        var result = await ws.Ferry("run", "ferry.yaml");

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Equal((8, 9, 12), (bad1, bad2, bad3)); // the builder's arithmetic, stated plainly
        Assert.Equal([bad1, bad2, bad3], Foi.StageRows(ws, 1).Where(s => s.Status == "error").Select(s => (int)s.Line));
        Assert.Equal("A long\r\nfree-text\r\nsummary, with a comma", Foi.Request(ws, "FOI-2024-00004")["summary"]);
        Assert.Contains($"requests.csv:{bad3}: column fee: type (error)", result.Output);
    }

    [Fact]
    public async Task A_blank_line_inside_the_file_does_not_shift_the_line_numbers_of_the_rows_after_it()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(Foi.Row(1), Foi.Row(2), "", Foi.Row(3), Foi.Row(4, status: "unknown"), Foi.Row(5)));
        ws.Write("ferry.yaml", Foi.Manifest());

        var result = await ws.Ferry("run", "ferry.yaml");

        // Line 1 header, 2-3 rows, 4 blank, 5 row 3, 6 the bad row.
        Assert.True(result.ExitCode == 3, result.ToString());
        var bad = Foi.StageRows(ws, 1).Single(s => s.Raw?.Contains("unknown", StringComparison.Ordinal) == true);
        Assert.Equal(6, bad.Line);
        Assert.Equal(4, Foi.Count(ws, "SELECT count(*) FROM foi_request"));
        var stage = Foi.StageRows(ws, 1);
        Assert.Equal([2L, 3L, 5L, 6L, 7L], stage.Where(s => s.Raw?.StartsWith("{\"reference\":\"\"", StringComparison.Ordinal) != true).Select(s => s.Line));
        // The blank line is either skipped or rejected as the malformed record it is, at its own line.
        Assert.All(stage.Where(s => s.Line == 4), s => Assert.Equal(("error", "field-count"), (s.Status, Assert.Single(Foi.Rules(s.Errors)))));
    }

    [Fact]
    public async Task Warning_rules_annotate_rows_that_still_load_and_a_clean_run_succeeds()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(Foi.Row(1), "FOI-2024-00002,Grace Hopper,2024-01-03,2024-01-23,open,5000,2.50,Huge bundle", Foi.Row(3)));
        ws.Write("ferry.yaml", Foi.Manifest(extraRules: "      - { column: pages, type: int, range: { max: 1000 }, severity: warning, message: unusually many pages }"));

        var result = await ws.Ferry("run", "ferry.yaml");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("run 1: succeeded", result.Output);
        Assert.Equal(5000L, Foi.Request(ws, "FOI-2024-00002")["pages"]);
        var stage = Foi.StageRows(ws, 1);
        Assert.All(stage, s => Assert.Equal("imported", s.Status));
        var warned = stage.Single(s => s.Line == 3);
        Assert.Null(warned.Errors);
        var warning = Assert.Single(Foi.Issues(warned.Warnings));
        Assert.Equal(("pages", "range", "unusually many pages"), warning);
        Assert.Equal(1L, ws.Scalar(Foi.Db, "SELECT warnings FROM ferry_run_entities WHERE run_id = 1"));
        Assert.Equal("succeeded", (await Foi.StatusJson(ws)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_windows_1252_export_decodes_and_a_utf8_file_with_a_BOM_and_a_bad_byte_rejects_only_that_row()
    {
        using var ws = new Workspace();
        var legacy = Ferry.Sources.TextEncodings.Get("windows-1252");
        ws.WriteBytes("data/requests.csv", legacy.GetBytes(Foi.Csv(
            "FOI-2024-00001,Renée Côté,2024-01-02,2024-01-22,open,3,1.00,Café licences – 2023",
            Foi.Row(2))));
        ws.Write("ferry.yaml", Foi.Manifest().Replace("path: data/requests.csv", "path: data/requests.csv\n  encoding: windows-1252", StringComparison.Ordinal));

        var result = await ws.Ferry("run", "ferry.yaml");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("Renée Côté", Foi.Request(ws, "FOI-2024-00001")["requester"]);
        Assert.Equal("Café licences – 2023", Foi.Request(ws, "FOI-2024-00001")["summary"]);

        // An Excel-style UTF-8 export: BOM, CRLF, and one byte that is not UTF-8.
        using var utf8 = new Workspace();
        var text = System.Text.Encoding.UTF8.GetBytes(Foi.Csv(Foi.Row(1), "FOI-2024-00002,Jos\u00e9 X,2024-01-03,2024-01-23,open,1,1.00,ok", Foi.Row(3)).Replace("\n", "\r\n", StringComparison.Ordinal));
        var bad = Array.IndexOf(text, (byte)'X');
        text[bad] = 0xFF;
        utf8.WriteBytes("data/requests.csv", [0xEF, 0xBB, 0xBF, .. text]);
        utf8.Write("ferry.yaml", Foi.Manifest());

        var mixed = await utf8.Ferry("run", "ferry.yaml");

        Assert.True(mixed.ExitCode == 3, mixed.ToString());
        Assert.Equal(["FOI-2024-00001", "FOI-2024-00003"], utf8.Query(Foi.Db, "SELECT reference FROM foi_request ORDER BY reference").Select(r => (string)r["reference"]!));
        var rejected = Assert.Single(Foi.StageRows(utf8, 1), s => s.Status == "error");
        Assert.Equal(3, rejected.Line);
        Assert.Equal([("requester_name", "encoding")], Foi.Issues(rejected.Errors).Select(i => (i.Column, i.Rule)));
    }

    [Fact]
    public async Task A_bad_manifest_exits_2_naming_file_and_line_and_creates_no_target()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 5)));
        var manifest = Foi.Manifest().Replace("    batch_size: 1000", "    batch_size: 1000\n    batchsize: 10", StringComparison.Ordinal);
        ws.Write("ferry.yaml", manifest);
        var line = manifest.Split('\n').ToList().FindIndex(l => l.Contains("batchsize", StringComparison.Ordinal)) + 1;

        var result = await ws.Ferry("run", "ferry.yaml");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"ferry.yaml:{line}:", result.Error);
        Assert.Contains("unknown key 'batchsize'", result.Error);
        Assert.False(File.Exists(ws.PathOf(Foi.Db)));

        var check = await ws.Ferry("check", "ferry.yaml");
        Assert.True(check.ExitCode == 2, check.ToString());
        Assert.Contains("unknown key 'batchsize'", check.Error);
    }

    [Fact]
    public async Task A_rule_naming_a_column_the_source_lacks_is_a_manifest_error_before_any_data_moves()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 5)));
        ws.Write("ferry.yaml", Foi.Manifest(extraRules: "      - { column: requestor, required: true }"));

        var result = await ws.Ferry("run", "ferry.yaml");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("requestor", result.Error);
        Assert.False(File.Exists(ws.PathOf(Foi.Db)));
    }

    [Fact]
    public async Task A_fatal_rule_broken_in_batch_2_of_3_fails_the_run_keeping_batch_1_and_writing_nothing_of_batch_2()
    {
        using var ws = new Workspace();
        var rows = Foi.Rows(1, 30).ToList();
        rows[13] = "FOI-2024-00014,,2024-01-15,2024-02-04,open,42,14.50,No requester"; // record 14: line 15, batch 2
        ws.Write("data/requests.csv", Foi.Csv(rows));
        ws.Write("ferry.yaml", Foi.Manifest(batchSize: 10,
            extraRules: "      - { column: requester_name, required: true, severity: fatal, message: every request needs a requester }"));

        var result = await ws.Ferry("run", "ferry.yaml", "--log-json", "run.jsonl");

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("run 1: failed", result.Output);
        var finished = JsonDocument.Parse(File.ReadAllLines(ws.PathOf("run.jsonl"))[^1]).RootElement;
        Assert.Equal("run_finished", finished.GetProperty("event").GetString());
        Assert.Equal("failed", finished.GetProperty("status").GetString());
        Assert.Contains("requests.csv:15", finished.GetProperty("error").GetString());
        Assert.Contains("requests.csv:15", result.Error);
        Assert.Contains("required", result.Error);
        Assert.Contains("every request needs a requester", result.Error);

        // Batch 1 (records 1-10) committed; nothing of batch 2 (11-20) or after it.
        Assert.Equal(Enumerable.Range(1, 10).Select(Foi.Reference),
            ws.Query(Foi.Db, "SELECT reference FROM foi_request ORDER BY reference").Select(r => (string)r["reference"]!));
        Assert.Equal([1L], ws.Query(Foi.Db, "SELECT batch_no FROM ferry_batches WHERE run_id = 1").Select(r => (long)r["batch_no"]!));
        Assert.Equal(10, Foi.Count(ws, $"SELECT count(*) FROM {Foi.Stage}"));
        Assert.Equal(0, Foi.Count(ws, $"SELECT count(*) FROM {Foi.Stage} WHERE status <> 'imported'"));

        var run = Assert.Single(ws.Query(Foi.Db, "SELECT status, error FROM ferry_runs"));
        Assert.Equal("failed", run["status"]);
        Assert.Contains("requests.csv:15", (string)run["error"]!);
        Assert.Contains("required", (string)run["error"]!);

        // The ledger counts what was committed, not zero and not what was thrown away.
        Assert.Equal(new Counts(10, 10, 0, 0, 0), Foi.LedgerCounts(ws, 1));
        var status = await Foi.StatusJson(ws);
        Assert.Equal("failed", status.GetProperty("status").GetString());
        Assert.Contains("requests.csv:15", status.GetProperty("error").GetString());
        Assert.Equal(new Counts(10, 10, 0, 0, 0), Foi.EntityCounts(status));

        // Fixed and re-run: the rest loads, batch 1 is recognised as already there.
        rows[13] = Foi.Row(14);
        ws.Write("data/requests.csv", Foi.Csv(rows));
        var rerun = await ws.Ferry("run", "ferry.yaml");
        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        Assert.Equal(new Counts(30, 20, 0, 10, 0), Foi.LedgerCounts(ws, 2));
        Assert.Equal(30, Foi.Count(ws, "SELECT count(*) FROM foi_request"));
    }

    [Fact]
    public async Task Dry_run_on_a_new_target_reports_the_outcome_and_creates_nothing()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 20).Append(Foi.Row(21, status: "lost")).Append(Foi.Row(22, fee: "free"))));
        ws.Write("ferry.yaml", Foi.Manifest(batchSize: 8));
        var before = Directory.GetFiles(ws.Root, "*", SearchOption.AllDirectories).Order().ToList();

        var result = await ws.Ferry("run", "ferry.yaml", "--dry-run");

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains("dry run (nothing was written): partial", result.Output);
        Assert.Equal(["22", "20", "0", "0", "2"], SummaryCells(result.Output, "foi_request")[..5]);
        Assert.Contains("requests.csv:22: column status: allowed", result.Output);
        Assert.Equal(before, Directory.GetFiles(ws.Root, "*", SearchOption.AllDirectories).Order().ToList());

        var again = await ws.Ferry("run", "ferry.yaml", "--dry-run", "--entity", "foi_request");
        Assert.True(again.ExitCode == 3, again.ToString());
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 20)));
        var succeeded = await ws.Ferry("run", "ferry.yaml", "--dry-run");
        Assert.True(succeeded.ExitCode == 0, succeeded.ToString());
        Assert.Contains("dry run (nothing was written): succeeded", succeeded.Output);
        Assert.False(File.Exists(ws.PathOf(Foi.Db)));
    }

    [Fact]
    public async Task Dry_run_on_an_existing_target_predicts_the_counts_and_leaves_the_file_byte_for_byte_unchanged()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 30)));
        ws.Write("ferry.yaml", Foi.Manifest(batchSize: 7));
        var first = await ws.Ferry("run", "ferry.yaml");
        Assert.True(first.ExitCode == 0, first.ToString());
        var bytes = File.ReadAllBytes(ws.PathOf(Foi.Db));
        var files = Directory.GetFiles(ws.Root).Order().ToList();

        var rows = Foi.Rows(1, 30).ToList();
        rows[4] = Foi.Row(5, status: "closed", fee: "99.00");
        rows.Add(Foi.Row(31));
        rows.Add(Foi.Row(32, status: "misfiled"));
        ws.Write("data/requests.csv", Foi.Csv(rows));
        var dry = await ws.Ferry("run", "ferry.yaml", "--dry-run");

        Assert.True(dry.ExitCode == 3, dry.ToString());
        Assert.Equal(["32", "1", "1", "29", "1"], SummaryCells(dry.Output, "foi_request")[..5]);
        Assert.Equal(bytes, File.ReadAllBytes(ws.PathOf(Foi.Db)));
        Assert.Equal(files, Directory.GetFiles(ws.Root).Order().ToList());
        var runs = await ws.Ferry("runs", "ferry.yaml", "--json");
        Assert.Single(JsonDocument.Parse(runs.Output).RootElement.EnumerateArray());

        // A fatal rule broken in a dry run fails it (exit 1), still without touching the file.
        ws.Write("fatal.yaml", Foi.Manifest(batchSize: 7, extraRules: "      - { column: status, allowed: [open, closed, withdrawn], severity: fatal }"));
        var fatal = await ws.Ferry("run", "fatal.yaml", "--dry-run");
        Assert.True(fatal.ExitCode == 1, fatal.ToString());
        Assert.Equal(bytes, File.ReadAllBytes(ws.PathOf(Foi.Db)));

        // The real run then does what the dry run said.
        var real = await ws.Ferry("run", "ferry.yaml");
        Assert.True(real.ExitCode == 3, real.ToString());
        Assert.Equal(new Counts(32, 1, 1, 29, 1), Foi.LedgerCounts(ws, 2));
    }

    /// <summary>The cells of the summary table's row for <paramref name="entity"/>: read, inserted, updated, unchanged, rejected, warnings.</summary>
    internal static string[] SummaryCells(string output, string entity)
    {
        var row = output.Split('\n').First(l => l.Contains("│ " + entity + " ", StringComparison.Ordinal)); // the run's table comes before the reconciliation's
        var cells = row.Split('│', StringSplitOptions.TrimEntries).Where(c => c.Length > 0).ToArray();
        Assert.Equal(entity, cells[0]);
        return cells[1..].Select(c => c.Replace(",", "", StringComparison.Ordinal)).ToArray();
    }
}
