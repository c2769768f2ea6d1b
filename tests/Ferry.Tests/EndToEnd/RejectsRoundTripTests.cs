using System.Text.Json;
using Ferry.Tests.Support;

namespace Ferry.Tests.EndToEnd;

/// <summary>The operator's loop: export the rejected rows, correct them, feed them back with --source.</summary>
public class RejectsRoundTripTests
{
    private static readonly string[] ExportHeader =
        ["reference", "requester_name", "received", "due", "status", "pages", "fee", "summary", "_ferry_entity", "_ferry_stage_id", "_ferry_line", "_ferry_errors"];

    private static async Task<List<JsonElement>> ListRejects(Workspace ws, long run)
    {
        var result = await ws.Ferry("rejects", "list", "ferry.yaml", "--run", run.ToString(System.Globalization.CultureInfo.InvariantCulture), "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        return JsonDocument.Parse(result.Output).RootElement.EnumerateArray().Select(e => e.Clone()).ToList();
    }

    [Fact]
    public async Task Exported_rejects_corrected_and_rerun_are_imported_and_resolve_the_original_staging_rows()
    {
        using var ws = new Workspace();
        var rows = Foi.Rows(1, 30).ToList();
        rows.Insert(5, "FOI-2024-00031,Ada Lovelace,2024-02-01,2024-02-21,pendng,12,3.00,\"Line one\nline two\""); // line 7-8: bad status
        rows.Insert(12, "FOI-2024-00032,\"Hopper, \"\"Amazing\"\" Grace\",2024-02-02,2024-02-22,open,4,\"12,50\",Fees"); // bad fee
        rows.Insert(20, "FOI-2024-0042,Alan Turing,2024-02-03,2024-02-23,closed,8,4.00,Short reference"); // bad reference
        rows.Insert(25, "FOI-2024-00033,Barbara Liskov,31/02/2024,2024-02-24,open,1,0.00,Impossible date"); // bad date
        ws.Write("data/requests.csv", Foi.Csv(rows));
        ws.Write("ferry.yaml", Foi.Manifest(batchSize: 10));

        var first = await ws.Ferry("run", "ferry.yaml");
        Assert.True(first.ExitCode == 3, first.ToString());
        Assert.Equal(new Counts(34, 30, 0, 0, 4), Foi.LedgerCounts(ws, 1));

        var listed = await ListRejects(ws, 1);
        Assert.Equal([7L, 15L, 23L, 28L], listed.Select(r => r.GetProperty("line").GetInt64()));
        Assert.All(listed, r => Assert.Equal(1, r.GetProperty("run_id").GetInt64()));
        Assert.Equal("pendng", listed[0].GetProperty("raw").GetProperty("status").GetString());
        Assert.Equal("allowed", listed[0].GetProperty("errors")[0].GetProperty("rule").GetString());
        var text = await ws.Ferry("rejects", "list", "ferry.yaml", "--run", "1");
        Assert.Contains("foi_request line 28: column received: type (error)", text.Output);
        Assert.Contains("4 rejected row(s) in ferry.yaml", text.Output);

        var export = await ws.Ferry("rejects", "export", "ferry.yaml", "--run", "1", "--out", "fix.csv");
        Assert.True(export.ExitCode == 0, export.ToString());
        Assert.Contains("wrote 4 rejected row(s) to fix.csv", export.Output);
        var records = Foi.ParseCsv(File.ReadAllText(ws.PathOf("fix.csv")));
        Assert.Equal(ExportHeader, records[0]);
        Assert.Equal(5, records.Count);
        var header = records[0];
        int Col(string name) => header.IndexOf(name);
        Assert.Equal(listed.Select(r => r.GetProperty("stage_id").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture)),
            records.Skip(1).Select(r => r[Col("_ferry_stage_id")]));
        Assert.Equal(["7", "15", "23", "28"], records.Skip(1).Select(r => r[Col("_ferry_line")]));
        Assert.Equal("Line one\nline two", records[1][Col("summary")]);
        Assert.Equal("Hopper, \"Amazing\" Grace", records[2][Col("requester_name")]);
        Assert.Contains("'12,50' is not a valid decimal", records[2][Col("_ferry_errors")]);

        // The operator corrects three rows; the fourth is "corrected" to another impossible date.
        records[1][Col("status")] = "open";
        records[2][Col("fee")] = "12.50";
        records[3][Col("reference")] = "FOI-2024-00042";
        records[4][Col("received")] = "2024-02-31";
        ws.Write("fix.csv", Foi.WriteCsv(records));

        var fix = await ws.Ferry("run", "ferry.yaml", "--source", "fix.csv");

        Assert.True(fix.ExitCode == 3, fix.ToString());
        Assert.Equal(new Counts(4, 3, 0, 0, 1), Foi.LedgerCounts(ws, 2));
        Assert.Equal(33, Foi.Count(ws, "SELECT count(*) FROM foi_request"));
        Assert.Equal("open", Foi.Request(ws, "FOI-2024-00031")["status"]);
        Assert.Equal("Line one\nline two", Foi.Request(ws, "FOI-2024-00031")["summary"]);
        Assert.Equal("12.50", Foi.Request(ws, "FOI-2024-00032")["fee"]);
        Assert.Equal("Hopper, \"Amazing\" Grace", Foi.Request(ws, "FOI-2024-00032")["requester"]);
        Assert.Equal("2024-02-03", Foi.Request(ws, "FOI-2024-00042")["received_on"]);
        Assert.Equal(0, Foi.Count(ws, "SELECT count(*) FROM foi_request WHERE reference IN ('FOI-2024-0042', 'FOI-2024-00033')"));

        // Run 1's staging rows for the corrected three are now imported, resolved by run 2.
        var stage1 = Foi.StageRows(ws, 1).ToDictionary(s => s.Line);
        foreach (var line in new long[] { 7, 15, 23 })
        {
            Assert.Equal("imported", stage1[line].Status);
            Assert.Equal(2L, stage1[line].ResolvedByRun);
        }
        Assert.Equal("error", stage1[28].Status);
        Assert.Null(stage1[28].ResolvedByRun);
        Assert.Equal(30, Foi.StageRows(ws, 1).Count(s => s.Status == "imported" && s.ResolvedByRun is null));

        var still = Assert.Single(await ListRejects(ws, 1));
        Assert.Equal(28, still.GetProperty("line").GetInt64());
        var run2 = Assert.Single(await ListRejects(ws, 2));
        Assert.Equal(6, run2.GetProperty("line").GetInt64()); // physical line in fix.csv: the first record spans two
        Assert.Equal("2024-02-31", run2.GetProperty("raw").GetProperty("received").GetString());
        // Ferry's own columns are not data: they are not kept as raw values.
        Assert.All(Foi.StageRows(ws, 2), s => Assert.DoesNotContain("_ferry_", s.Raw ?? "", StringComparison.Ordinal));
        Assert.NotNull(Foi.StageRows(ws, 2).Single(s => s.Status == "error").Raw);

        // Feeding the same file again changes nothing and keeps who resolved what.
        var again = await ws.Ferry("run", "ferry.yaml", "--source", "fix.csv");
        Assert.True(again.ExitCode == 3, again.ToString());
        Assert.Equal(new Counts(4, 0, 0, 3, 1), Foi.LedgerCounts(ws, 3));
        Assert.Equal(2L, Foi.StageRows(ws, 1).Single(s => s.Line == 7).ResolvedByRun);

        // The last row, fixed properly, closes run 1's rejects.
        var export2 = await ws.Ferry("rejects", "export", "ferry.yaml", "--run", "1", "--out", "fix2.csv");
        Assert.True(export2.ExitCode == 0, export2.ToString());
        var last = Foi.ParseCsv(File.ReadAllText(ws.PathOf("fix2.csv")));
        Assert.Equal(2, last.Count);
        last[1][Col("received")] = "2024-02-04";
        ws.Write("fix2.csv", Foi.WriteCsv(last));
        var done = await ws.Ferry("run", "ferry.yaml", "--source", "fix2.csv");
        Assert.True(done.ExitCode == 0, done.ToString());
        Assert.Empty(await ListRejects(ws, 1));
        Assert.Equal(4L, Foi.StageRows(ws, 1).Single(s => s.Line == 28).ResolvedByRun);
        Assert.Equal("2024-02-04", Foi.Request(ws, "FOI-2024-00033")["received_on"]);
        Assert.Equal(34, Foi.Count(ws, "SELECT count(*) FROM foi_request"));
    }

    [Fact]
    public async Task Without_staging_rejected_rows_are_still_kept_and_can_be_corrected()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 6).Append(Foi.Row(7, status: "unknown")).Concat(Foi.Rows(8, 9))));
        ws.Write("ferry.yaml", Foi.Manifest(batchSize: 4).Replace("    batch_size: 4", "    batch_size: 4\n    staging: false", StringComparison.Ordinal));

        var first = await ws.Ferry("run", "ferry.yaml");

        Assert.True(first.ExitCode == 3, first.ToString());
        Assert.Equal(8, Foi.Count(ws, "SELECT count(*) FROM foi_request"));
        var kept = Assert.Single(Foi.StageRows(ws, 1));
        Assert.Equal(("error", 8L), (kept.Status, kept.Line));

        Assert.Equal(0, (await ws.Ferry("rejects", "export", "ferry.yaml", "--out", "fix.csv")).ExitCode);
        var records = Foi.ParseCsv(File.ReadAllText(ws.PathOf("fix.csv")));
        records[1][records[0].IndexOf("status")] = "open";
        ws.Write("fix.csv", Foi.WriteCsv(records));
        var fix = await ws.Ferry("run", "ferry.yaml", "--source", "fix.csv");

        Assert.True(fix.ExitCode == 0, fix.ToString());
        Assert.Equal("open", Foi.Request(ws, Foi.Reference(7))["status"]);
        var resolved = Assert.Single(Foi.StageRows(ws, 1));
        Assert.Equal(("imported", 2L), (resolved.Status, resolved.ResolvedByRun));
        Assert.Empty(Foi.StageRows(ws, 2));
    }

    [Fact]
    public async Task Rejects_commands_refuse_unknown_runs_and_entities_with_exit_2()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(Foi.Row(1), Foi.Row(2, status: "x")));
        ws.Write("ferry.yaml", Foi.Manifest());
        var run = await ws.Ferry("run", "ferry.yaml");
        Assert.True(run.ExitCode == 3, run.ToString());

        var noRun = await ws.Ferry("rejects", "list", "ferry.yaml", "--run", "7");
        Assert.True(noRun.ExitCode == 2, noRun.ToString());
        Assert.Contains("there is no run 7", noRun.Error);

        var noEntity = await ws.Ferry("rejects", "export", "ferry.yaml", "--entity", "requester", "--out", "x.csv");
        Assert.True(noEntity.ExitCode == 2, noEntity.ToString());
        Assert.Contains("no entity named 'requester'", noEntity.Error);
        Assert.False(File.Exists(ws.PathOf("x.csv")));

        var missingOut = await ws.Ferry("rejects", "export", "ferry.yaml");
        Assert.True(missingOut.ExitCode == 2, missingOut.ToString());
    }
}
