using Ferry.Tests.Support;
using Microsoft.Data.Sqlite;

namespace Ferry.Tests.EndToEnd;

/// <summary>insert, upsert and replace against the real SQLite target.</summary>
public class LoadModeTests
{
    private const string ProductionRows = "SELECT * FROM foi_request ORDER BY reference";

    [Fact]
    public async Task Insert_mode_rejects_a_key_already_in_the_table_naming_it_and_the_batch_goes_on()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 10)));
        ws.Write("ferry.yaml", Foi.Manifest(mode: "insert", batchSize: 4));
        var first = await ws.Ferry("run", "ferry.yaml");
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Equal(new Counts(10, 10, 0, 0, 0), Foi.LedgerCounts(ws, 1));
        var nineBefore = Foi.Dump(ws, "SELECT * FROM foi_request WHERE reference = 'FOI-2024-00009'");

        // Batch 1: 8 (exists), 11, 9 (exists, changed), 12; batch 2: 13, 10 (exists), 14, 15.
        ws.Write("data/requests.csv", Foi.Csv(Foi.Row(8), Foi.Row(11), Foi.Row(9, status: "withdrawn"), Foi.Row(12),
            Foi.Row(13), Foi.Row(10), Foi.Row(14), Foi.Row(15)));
        var second = await ws.Ferry("run", "ferry.yaml");

        Assert.True(second.ExitCode == 3, second.ToString());
        Assert.Equal(new Counts(8, 5, 0, 0, 3), Foi.LedgerCounts(ws, 2));
        Assert.Contains("a row with key 'FOI-2024-00009' is already in foi_request", second.Output);
        Assert.Equal(15, Foi.Count(ws, "SELECT count(*) FROM foi_request"));
        Assert.Equal(nineBefore, Foi.Dump(ws, "SELECT * FROM foi_request WHERE reference = 'FOI-2024-00009'"));

        var stage = Foi.StageRows(ws, 2);
        var errors = stage.Where(s => s.Status == "error").ToList();
        Assert.Equal([2L, 4L, 7L], errors.Select(s => s.Line));
        Assert.Equal(["FOI-2024-00008", "FOI-2024-00009", "FOI-2024-00010"], errors.Select(s => s.BusinessKey));
        foreach (var e in errors)
        {
            var issue = Assert.Single(Foi.Issues(e.Errors));
            Assert.Equal("key", issue.Rule);
            Assert.Equal($"a row with key '{e.BusinessKey}' is already in foi_request", issue.Message);
        }
        Assert.Equal(5, stage.Count(s => s.Status == "imported"));
        Assert.Equal([2L, 1L], ws.Query(Foi.Db, "SELECT rejected FROM ferry_batches WHERE run_id = 2 ORDER BY batch_no").Select(r => (long)r["rejected"]!));
    }

    [Fact]
    public async Task Replace_mode_truncates_and_reloads_so_rows_missing_from_the_new_file_are_gone()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 12)));
        ws.Write("ferry.yaml", Foi.Manifest(mode: "replace", batchSize: 3));
        var first = await ws.Ferry("run", "ferry.yaml");
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Equal(12, Foi.Count(ws, "SELECT count(*) FROM foi_request"));

        var next = Foi.Csv(Foi.Row(5), Foi.Row(6, status: "withdrawn", fee: "60.00"), Foi.Row(7), Foi.Row(8), Foi.Row(9),
            Foi.Row(20), Foi.Row(21, fee: "abc"), Foi.Row(22));
        ws.Write("data/requests.csv", next);

        // A dry run of the replacement leaves the table as it was.
        var bytes = File.ReadAllBytes(ws.PathOf(Foi.Db));
        var dry = await ws.Ferry("run", "ferry.yaml", "--dry-run");
        Assert.True(dry.ExitCode == 3, dry.ToString());
        Assert.Equal(bytes, File.ReadAllBytes(ws.PathOf(Foi.Db)));

        var second = await ws.Ferry("run", "ferry.yaml");

        Assert.True(second.ExitCode == 3, second.ToString());
        Assert.Equal(new Counts(8, 7, 0, 0, 1), Foi.LedgerCounts(ws, 2));
        Assert.Equal(["FOI-2024-00005", "FOI-2024-00006", "FOI-2024-00007", "FOI-2024-00008", "FOI-2024-00009", "FOI-2024-00020", "FOI-2024-00022"],
            ws.Query(Foi.Db, "SELECT reference FROM foi_request ORDER BY reference").Select(r => (string)r["reference"]!));
        Assert.Equal("60.00", Foi.Request(ws, Foi.Reference(6))["fee"]);

        // The table is exactly what a first load of the new file gives.
        using var fresh = new Workspace();
        fresh.Write("data/requests.csv", next);
        fresh.Write("ferry.yaml", Foi.Manifest(mode: "replace"));
        Assert.True((await fresh.Ferry("run", "ferry.yaml")).ExitCode == 3);
        Assert.Equal(Foi.Dump(fresh, ProductionRows), Foi.Dump(ws, ProductionRows));
    }

    [Fact]
    public async Task A_replace_that_fails_part_way_leaves_the_old_table_whole()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 9)));
        const string fatal = "      - { column: status, allowed: [open, closed, withdrawn], severity: fatal }";
        ws.Write("ferry.yaml", Foi.Manifest(mode: "replace", batchSize: 4, extraRules: fatal));
        Assert.True((await ws.Ferry("run", "ferry.yaml")).ExitCode == 0);
        var before = Foi.Dump(ws, ProductionRows);

        // Batches 1 and 2 would load; batch 3 breaks the fatal rule.
        var rows = Foi.Rows(100, 110).ToList();
        rows[9] = Foi.Row(109, status: "shredded");
        ws.Write("data/requests.csv", Foi.Csv(rows));
        var failed = await ws.Ferry("run", "ferry.yaml");

        Assert.True(failed.ExitCode == 1, failed.ToString());
        Assert.Contains("requests.csv:11", failed.Error);
        Assert.Equal(before, Foi.Dump(ws, ProductionRows));
        Assert.Equal("failed", ws.Scalar(Foi.Db, "SELECT status FROM ferry_runs WHERE run_id = 2"));
        Assert.Equal(0, Foi.Count(ws, "SELECT count(*) FROM ferry_batches WHERE run_id = 2"));
        Assert.Equal(0, Foi.Count(ws, $"SELECT count(*) FROM {Foi.Stage} WHERE run_id = 2"));
        Assert.Equal(new Counts(0, 0, 0, 0, 0), Foi.LedgerCounts(ws, 2));
        // What the person is told matches the ledger: nothing of the replace was written.
        Assert.Contains("nothing of entity foi_request was written", failed.Error);
        Assert.Matches(@"foi_request\s*│\s*0\s*│\s*0\s*│", failed.Output);
    }

    [Fact]
    public async Task Upsert_inserts_new_keys_updates_changed_rows_and_skips_unchanged_ones_in_one_run()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 8)));
        ws.Write("ferry.yaml", Foi.Manifest(mode: "upsert", batchSize: 3));
        Assert.True((await ws.Ferry("run", "ferry.yaml")).ExitCode == 0);

        ws.Write("data/requests.csv", Foi.Csv(Foi.Row(1), Foi.Row(2, fee: "2.75"), Foi.Row(3), Foi.Row(9), Foi.Row(4, status: "nope"),
            Foi.Row(5), Foi.Row(6, summary: "Changed summary"), Foi.Row(10)));
        var result = await ws.Ferry("run", "ferry.yaml");

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Equal(new Counts(8, 2, 2, 3, 1), Foi.LedgerCounts(ws, 2));
        Assert.Equal(10, Foi.Count(ws, "SELECT count(*) FROM foi_request"));
        Assert.Equal("2.75", Foi.Request(ws, Foi.Reference(2))["fee"]);
        Assert.Equal("Changed summary", Foi.Request(ws, Foi.Reference(6))["summary"]);
        Assert.Equal(Foi.Row(4).Split(',')[4], Foi.Request(ws, Foi.Reference(4))["status"]); // the rejected change did not land
    }

    [Fact]
    public async Task A_row_the_target_table_refuses_is_rejected_alone_and_the_rest_load()
    {
        using var ws = new Workspace();
        using (var connection = new SqliteConnection($"Data Source={ws.PathOf(Foi.Db)};Pooling=False"))
        {
            connection.Open();
            using var create = connection.CreateCommand();
            create.CommandText = """
                CREATE TABLE foi_request (
                    reference TEXT NOT NULL UNIQUE, requester TEXT, received_on TEXT, due_on TEXT, status TEXT,
                    pages INTEGER CHECK (pages <= 100), fee TEXT, summary TEXT, id TEXT, origin TEXT, note TEXT DEFAULT 'kept')
                """;
            create.ExecuteNonQuery();
        }
        // Row 40 has 120 pages: the contract allows it, the table's CHECK does not.
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(20, 22).Append(Foi.Row(40)).Concat(Foi.Rows(23, 25))));
        ws.Write("ferry.yaml", Foi.Manifest(batchSize: 100));

        var result = await ws.Ferry("run", "ferry.yaml");

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Equal(new Counts(7, 6, 0, 0, 1), Foi.LedgerCounts(ws, 1));
        Assert.Equal(0, Foi.Count(ws, "SELECT count(*) FROM foi_request WHERE reference = 'FOI-2024-00040'"));
        Assert.Equal(6, Foi.Count(ws, "SELECT count(*) FROM foi_request"));
        Assert.Equal("25.50", Foi.Request(ws, Foi.Reference(25))["fee"]);
        Assert.Equal("kept", Foi.Request(ws, Foi.Reference(25))["note"]);
        var refused = Foi.StageRows(ws, 1).Single(s => s.Status == "error");
        Assert.Equal(5, refused.Line);
        Assert.Equal("FOI-2024-00040", refused.BusinessKey);
        Assert.Equal("target", Assert.Single(Foi.Issues(refused.Errors)).Rule);
    }
}
