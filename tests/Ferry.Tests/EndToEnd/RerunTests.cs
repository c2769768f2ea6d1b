using System.Text.Json;
using Ferry.Tests.Support;

namespace Ferry.Tests.EndToEnd;

/// <summary>Re-running an import: nothing is duplicated, unchanged rows are left alone, changed rows update in place.</summary>
public class RerunTests
{
    private const string ProductionRows = "SELECT * FROM foi_request ORDER BY reference";

    private static List<string> FortyWithThreeBad()
    {
        var rows = Foi.Rows(1, 40).ToList();
        rows.Insert(10, Foi.Row(900, status: "lost"));
        rows.Insert(20, "FOI-2024-XXXXX,Ada Lovelace,2024-02-01,2024-02-21,open,3,1.00,Bad reference");
        rows.Insert(30, Foi.Row(901, fee: "n/a"));
        // A row with a blank summary stores NULL, which must compare equal to NULL on the re-run.
        rows[5] = "FOI-2024-00006,Frances Allen,2024-01-07,2024-01-27,open,18,6.50,";
        return rows;
    }

    [Fact]
    public async Task Rerunning_the_same_file_inserts_nothing_updates_nothing_and_leaves_the_table_identical()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(FortyWithThreeBad()));
        ws.Write("ferry.yaml", Foi.Manifest(batchSize: 9));

        var first = await ws.Ferry("run", "ferry.yaml");
        Assert.True(first.ExitCode == 3, first.ToString());
        Assert.Equal(new Counts(43, 40, 0, 0, 3), Foi.LedgerCounts(ws, 1));
        Assert.Null(Foi.Request(ws, "FOI-2024-00006")["summary"]);
        var before = Foi.Dump(ws, ProductionRows);

        // The same file again, read in batches of another size.
        ws.Write("ferry.yaml", Foi.Manifest(batchSize: 16));
        var second = await ws.Ferry("run", "ferry.yaml");

        Assert.True(second.ExitCode == 3, second.ToString());
        Assert.Equal(["43", "0", "0", "40", "3"], StagedImportTests.SummaryCells(second.Output, "foi_request")[..5]);
        Assert.Equal(new Counts(43, 0, 0, 40, 3), Foi.LedgerCounts(ws, 2));
        Assert.Equal(before, Foi.Dump(ws, ProductionRows));
        Assert.Equal(40, Foi.Count(ws, "SELECT count(*) FROM foi_request"));

        var stage = Foi.StageRows(ws, 2);
        Assert.Equal(40, stage.Count(s => s.Status == "imported"));
        Assert.Equal(3, stage.Count(s => s.Status == "error"));
        // Run 1's staging rows are history: untouched by run 2.
        Assert.Equal(3, Foi.StageRows(ws, 1).Count(s => s.Status == "error"));

        var status = await Foi.StatusJson(ws);
        Assert.Equal(2, status.GetProperty("run_id").GetInt64());
        Assert.Equal("partial", status.GetProperty("status").GetString());
        Assert.Equal(new Counts(43, 0, 0, 40, 3), Foi.EntityCounts(status));

        var runs = await ws.Ferry("runs", "ferry.yaml", "--json");
        Assert.True(runs.ExitCode == 0, runs.ToString());
        var list = JsonDocument.Parse(runs.Output).RootElement.EnumerateArray().ToList();
        Assert.Equal([2L, 1L], list.Select(r => r.GetProperty("run_id").GetInt64()));
        Assert.Equal(new Counts(43, 40, 0, 0, 3), Foi.EntityCounts(list[1]));
        Assert.Equal(new Counts(43, 0, 0, 40, 3), Foi.EntityCounts(list[0]));
    }

    [Fact]
    public async Task Deterministic_uuids_are_the_same_across_runs_and_across_fresh_targets()
    {
        using var ws = new Workspace();
        using var other = new Workspace();
        foreach (var w in new[] { ws, other })
        {
            w.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 12)));
            w.Write("ferry.yaml", Foi.Manifest());
            var result = await w.Ferry("run", "ferry.yaml");
            Assert.True(result.ExitCode == 0, result.ToString());
        }
        const string ids = "SELECT reference, id FROM foi_request ORDER BY reference";
        var first = Foi.Dump(ws, ids);
        Assert.Equal(first, Foi.Dump(other, ids));
        Assert.Equal(12, Foi.Count(ws, "SELECT count(DISTINCT id) FROM foi_request"));

        // Re-run with the rows in another order: the ids do not depend on position.
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 12).Reverse()));
        var rerun = await ws.Ferry("run", "ferry.yaml");
        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        Assert.Equal(first, Foi.Dump(ws, ids));
        Assert.Equal(new Counts(12, 0, 0, 12, 0), Foi.LedgerCounts(ws, 2));
    }

    [Fact]
    public async Task A_changed_source_row_is_updated_in_place_never_duplicated_and_other_rows_are_unchanged()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 25)));
        ws.Write("ferry.yaml", Foi.Manifest(batchSize: 6));
        var first = await ws.Ferry("run", "ferry.yaml");
        Assert.True(first.ExitCode == 0, first.ToString());
        var idOf7 = Foi.Request(ws, Foi.Reference(7))["id"];
        const string others = "SELECT * FROM foi_request WHERE reference NOT IN ('FOI-2024-00007', 'FOI-2024-00012', 'FOI-2024-00026') ORDER BY reference";
        var othersBefore = Foi.Dump(ws, others);

        var rows = Foi.Rows(1, 25).ToList();
        rows[6] = Foi.Row(7, status: "withdrawn", fee: "100.00");
        rows[11] = Foi.Row(12, summary: "\"Spending on consultants, revised\"");
        rows.RemoveAt(2); // request 3 is no longer in the export
        rows.Add(Foi.Row(26));
        ws.Write("data/requests.csv", Foi.Csv(rows));
        var second = await ws.Ferry("run", "ferry.yaml");

        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Equal(new Counts(25, 1, 2, 22, 0), Foi.LedgerCounts(ws, 2));
        Assert.Equal(1, Foi.Count(ws, "SELECT count(*) FROM foi_request WHERE reference = 'FOI-2024-00007'"));
        Assert.Equal(1, Foi.Count(ws, "SELECT count(*) FROM foi_request WHERE reference = 'FOI-2024-00012'"));
        var seven = Foi.Request(ws, Foi.Reference(7));
        Assert.Equal("withdrawn", seven["status"]);
        Assert.Equal("100.00", seven["fee"]);
        Assert.Equal(idOf7, seven["id"]);
        Assert.Equal("Spending on consultants, revised", Foi.Request(ws, Foi.Reference(12))["summary"]);
        // Upsert never deletes: request 3 stays; 26 is new.
        Assert.Equal(26, Foi.Count(ws, "SELECT count(*) FROM foi_request"));
        Assert.Equal(othersBefore, Foi.Dump(ws, others));
        Assert.Equal("FOI-2024-00026", Foi.Request(ws, Foi.Reference(26))["reference"]);

        var stage = Foi.StageRows(ws, 2);
        Assert.All(stage, s => Assert.Equal("imported", s.Status));
        Assert.Equal(25, stage.Count);

        // And once more: now everything is unchanged.
        var third = await ws.Ferry("run", "ferry.yaml");
        Assert.True(third.ExitCode == 0, third.ToString());
        Assert.Equal(new Counts(25, 0, 0, 25, 0), Foi.LedgerCounts(ws, 3));
    }

    [Fact]
    public async Task A_composite_business_key_finds_existing_rows_on_a_rerun()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 15)));
        ws.Write("ferry.yaml", Foi.Manifest(batchSize: 4, key: "[reference, received_on]"));
        var first = await ws.Ferry("run", "ferry.yaml");
        Assert.True(first.ExitCode == 0, first.ToString());
        var before = Foi.Dump(ws, ProductionRows);

        var same = await ws.Ferry("run", "ferry.yaml");
        Assert.True(same.ExitCode == 0, same.ToString());
        Assert.Equal(new Counts(15, 0, 0, 15, 0), Foi.LedgerCounts(ws, 2));
        Assert.Equal(before, Foi.Dump(ws, ProductionRows));

        var rows = Foi.Rows(1, 15).ToList();
        rows[3] = Foi.Row(4, status: "closed", fee: "7.25");
        ws.Write("data/requests.csv", Foi.Csv(rows));
        var changed = await ws.Ferry("run", "ferry.yaml");
        Assert.True(changed.ExitCode == 0, changed.ToString());
        Assert.Equal(new Counts(15, 0, 1, 14, 0), Foi.LedgerCounts(ws, 3));
        Assert.Equal(15, Foi.Count(ws, "SELECT count(*) FROM foi_request"));
        Assert.Equal("7.25", Foi.Request(ws, Foi.Reference(4))["fee"]);
    }
}
