using System.Globalization;
using System.Text.Json;
using Ferry.Tests.EndToEnd;

namespace Ferry.Tests.Postgres;

/// <summary>Staging statuses and the rejects loop on PostgreSQL, as on SQLite.</summary>
public class PgStagingAndRejectsTests
{
    [Fact]
    public async Task Every_source_row_lands_in_staging_and_ends_imported_or_error_with_every_message()
    {
        using var pg = new PgScope("stg");
        var ws = pg.Workspace;
        var rows = new List<string>
        {
            Foi.Row(1),                                                        // line 2
            Foi.Row(2, status: "lost", fee: "\"12,50\""),                        // line 3: two errors
            "FOI-2024-00003,Alan Turing,2024-01-04,2024-01-24,open,200000,1.00,Huge", // line 4: a warning, loads
            Foi.Row(1, summary: "again"),                                      // line 5: duplicate key (unique)
            ",Nobody,2024-01-05,2024-01-25,open,1,1.00,No reference",          // line 6: required + no key
            "FOI-2024-00006,Grace Hopper,2024-03-01,2024-02-01,closed,1,1.00,Backwards", // line 7: check
            Foi.Row(7),                                                        // line 8
        };
        ws.Write("data/requests.csv", Foi.Csv(rows));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 3));

        var result = await ws.Ferry("run", "ferry.yaml");

        Assert.True(result.ExitCode == 3, result.ToString());
        var run = Assert.Single(Pg.Runs(pg.Manifest()));
        Assert.Equal("partial", run.Status);
        Assert.Equal(new LedgerCounts(7, 3, 0, 0, 4, 1), Pg.Counts(run.RunId));
        Assert.Equal([Foi.Reference(1), Foi.Reference(3), Foi.Reference(7)],
            Pg.Query($"SELECT reference FROM \"{pg.Schema}\".foi_request ORDER BY reference").Select(r => (string)r["reference"]!));

        var stage = Pg.Stage(run.RunId);
        Assert.Equal([2L, 3, 4, 5, 6, 7, 8], stage.Select(s => s.Line));
        Assert.Equal(["imported", "error", "imported", "error", "error", "error", "imported"], stage.Select(s => s.Status));
        Assert.DoesNotContain(stage, s => s.Status == "pending");
        Assert.Equal([1, 1, 1, 2, 2, 2, 3], Pg.Query("""SELECT batch_no FROM ferry."stage_foi_request" WHERE run_id = @r ORDER BY line""", ("r", run.RunId)).Select(r => (int)r["batch_no"]!));

        Assert.Equal([("fee", "type"), ("status", "allowed")],
            Pg.Issues(stage[1].Errors).Select(i => (i.Column, i.Rule)).Order());
        Assert.Contains("12,50", Pg.Issues(stage[1].Errors).Single(i => i.Rule == "type").Message, StringComparison.Ordinal);
        Assert.Equal(("reference", "unique"), Pg.Issues(stage[3].Errors).Select(i => (i.Column, i.Rule)).Single());
        Assert.Contains(("reference", "required"), Pg.Issues(stage[4].Errors).Select(i => (i.Column, i.Rule)));
        Assert.Equal("due date before received date", Pg.Issues(stage[5].Errors).Single().Message);
        Assert.Null(stage[2].Errors);
        var warning = (string)Pg.Scalar("""SELECT warnings::text FROM ferry."stage_foi_request" WHERE run_id = @r AND line = 4""", ("r", run.RunId))!;
        Assert.Equal(("pages", "range"), Pg.Issues(warning).Select(i => (i.Column, i.Rule)).Single());

        // Raw values are kept for the rows a person must look at (rejected or warned), not for the rest.
        Assert.Equal([false, true, true, true, true, true, false], stage.Select(s => s.Raw is not null));
        // The raw values keep the source's column order and text, the line it came from.
        using (var raw = JsonDocument.Parse(stage[1].Raw!))
        {
            Assert.Equal(Foi.Header.Split(','), raw.RootElement.EnumerateObject().Select(p => p.Name));
            Assert.Equal("12,50", raw.RootElement.GetProperty("fee").GetString());
        }
        Assert.Equal([Foi.Reference(1), null, Foi.Reference(3)], stage.Take(3).Select(s => s.BusinessKey)); // a row the contract rejects is never mapped

        var status = await ws.Ferry("status", "ferry.yaml", "--json");
        Assert.True(status.ExitCode == 0, status.ToString());
        var json = JsonDocument.Parse(status.Output).RootElement;
        Assert.Equal(run.RunId, json.GetProperty("run_id").GetInt64());
        Assert.Equal("partial", json.GetProperty("status").GetString());
        var e = json.GetProperty("entities")[0];
        Assert.Equal((7L, 3L, 4L), (e.GetProperty("rows_read").GetInt64(), e.GetProperty("inserted").GetInt64(), e.GetProperty("rejected").GetInt64()));
    }

    [Fact]
    public async Task Exported_rejects_corrected_and_rerun_with_source_move_the_original_staging_rows_to_imported()
    {
        using var pg = new PgScope("rej");
        var ws = pg.Workspace;
        var rows = Foi.Rows(1, 20).ToList();
        rows.Insert(3, "FOI-2024-00031,Ada Lovelace,2024-02-01,2024-02-21,pendng,12,3.00,\"Line one\nline two\""); // lines 5-6: bad status
        rows.Insert(9, "FOI-2024-00032,\"Hopper, \"\"Amazing\"\" Grace\",2024-02-02,2024-02-22,open,4,\"12,50\",Fees"); // line 12: bad fee
        rows.Insert(15, "FOI-2024-00033,Barbara Liskov,31/02/2024,2024-02-24,open,1,0.00,Impossible date"); // line 18: bad date
        ws.Write("data/requests.csv", Foi.Csv(rows));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 5));

        var first = await ws.Ferry("run", "ferry.yaml");
        Assert.True(first.ExitCode == 3, first.ToString());
        var run1 = Assert.Single(Pg.Runs(pg.Manifest())).RunId;
        Assert.Equal(new LedgerCounts(23, 20, 0, 0, 3, 0), Pg.Counts(run1));

        var export = await ws.Ferry("rejects", "export", "ferry.yaml", "--out", "fix.csv");
        Assert.True(export.ExitCode == 0, export.ToString());
        var records = Foi.ParseCsv(File.ReadAllText(ws.PathOf("fix.csv")));
        Assert.Equal([.. Foi.Header.Split(','), "_ferry_entity", "_ferry_stage_id", "_ferry_line", "_ferry_errors"], records[0]);
        Assert.Equal(4, records.Count);
        int Col(string name) => records[0].IndexOf(name);
        var errorRows = Pg.Stage(run1).Where(s => s.Status == "error").ToList();
        Assert.Equal(errorRows.Select(s => s.StageId.ToString(CultureInfo.InvariantCulture)), records.Skip(1).Select(r => r[Col("_ferry_stage_id")]));
        Assert.Equal(["5", "12", "18"], records.Skip(1).Select(r => r[Col("_ferry_line")]));
        Assert.Equal("Hopper, \"Amazing\" Grace", records[2][Col("requester_name")]);

        // Correct two of the three.
        records[1][Col("status")] = "open";
        records[2][Col("fee")] = "12.50";
        ws.Write("fix.csv", Foi.WriteCsv(records));
        var fix = await ws.Ferry("run", "ferry.yaml", "--source", "fix.csv");

        Assert.True(fix.ExitCode == 3, fix.ToString());
        var run2 = Pg.Runs(pg.Manifest())[^1].RunId;
        Assert.Equal(new LedgerCounts(3, 2, 0, 0, 1, 0), Pg.Counts(run2));
        var stage1 = Pg.Stage(run1).ToDictionary(s => s.Line);
        Assert.Equal(("imported", (long?)run2), (stage1[5].Status, stage1[5].ResolvedByRun));
        Assert.Equal(("imported", (long?)run2), (stage1[12].Status, stage1[12].ResolvedByRun));
        Assert.Equal(("error", (long?)null), (stage1[18].Status, stage1[18].ResolvedByRun));
        Assert.Equal(20, stage1.Values.Count(s => s.Status == "imported" && s.ResolvedByRun is null));
        Assert.Equal(22, pg.Count());
        var fixedRows = Pg.Query($"SELECT reference, status, fee::text AS fee, requester, summary FROM \"{pg.Schema}\".foi_request WHERE reference IN ('FOI-2024-00031', 'FOI-2024-00032') ORDER BY reference");
        Assert.Equal(("open", "Line one\nline two"), ((string)fixedRows[0]["status"]!, (string)fixedRows[0]["summary"]!));
        Assert.Equal(("12.50", "Hopper, \"Amazing\" Grace"), ((string)fixedRows[1]["fee"]!, (string)fixedRows[1]["requester"]!));
        Assert.All(Pg.Stage(run2), s => Assert.DoesNotContain("_ferry_", s.Raw, StringComparison.Ordinal));

        var still = await ws.Ferry("rejects", "list", "ferry.yaml", "--run", run1.ToString(CultureInfo.InvariantCulture), "--json");
        Assert.True(still.ExitCode == 0, still.ToString());
        var left = Assert.Single(JsonDocument.Parse(still.Output).RootElement.EnumerateArray());
        Assert.Equal(18, left.GetProperty("line").GetInt64());
    }

    [Fact]
    public async Task Without_staging_only_the_rejected_rows_are_kept_there()
    {
        using var pg = new PgScope("nostg");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 6).Append(Foi.Row(7, status: "unknown")).Concat(Foi.Rows(8, 9))));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 4, staging: false));

        var result = await ws.Ferry("run", "ferry.yaml");

        Assert.True(result.ExitCode == 3, result.ToString());
        var run = Assert.Single(Pg.Runs(pg.Manifest())).RunId;
        Assert.Equal(8, pg.Count());
        var kept = Assert.Single(Pg.Stage(run));
        Assert.Equal(("error", 8L, "allowed"), (kept.Status, kept.Line, Pg.Issues(kept.Errors).Single().Rule));
    }
}
