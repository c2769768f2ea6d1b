using System.Text.Json;
using Ferry.Tests.Support;

namespace Ferry.Tests.EndToEnd;

/// <summary>--entity, the run lock, and the commands that read the ledger: status, runs, check.</summary>
public class LedgerCommandsTests
{
    /// <summary>Two tables from one source: the requests, and the people who made them.</summary>
    private const string TwoEntities = """
        name: foi-two-tables
        source:
          type: csv
          path: data/requests.csv
        target:
          type: sqlite
          connection: "Data Source=foi.db"
        entities:
          - name: foi_request
            key: [reference]
            rules:
              - { column: reference, regex: '^FOI-\d{4}-\d{5}$' }
              - { column: status, allowed: [open, closed, withdrawn] }
            columns:
              reference: reference
              requester: requester_name
              status: status
          - name: requester
            table: requester
            key: [name]
            batch_size: 5
            rules:
              - { column: requester_name, required: true }
            columns:
              name: { from: requester_name, trim: true }
              id: { uuid: key }
        """;

    private static bool TableExists(Workspace ws, string table) =>
        Foi.Count(ws, $"SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'view') AND name = '{table}'") == 1;

    [Fact]
    public async Task Entity_option_runs_only_that_entity_of_a_two_entity_manifest_and_an_unknown_one_exits_2()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 20)));
        ws.Write("ferry.yaml", TwoEntities);

        var only = await ws.Ferry("run", "ferry.yaml", "--entity", "requester");

        Assert.True(only.ExitCode == 0, only.ToString());
        Assert.True(TableExists(ws, "requester"));
        Assert.False(TableExists(ws, "foi_request"));
        Assert.False(TableExists(ws, "ferry_stage_foi_request"));
        Assert.Equal(8, Foi.Count(ws, "SELECT count(*) FROM requester"));
        Assert.Equal(new Counts(20, 8, 0, 12, 0), Foi.LedgerCounts(ws, 1, "requester"));
        Assert.Equal(["requester"], ws.Query(Foi.Db, "SELECT entity FROM ferry_run_entities WHERE run_id = 1").Select(r => (string)r["entity"]!));
        var status = await Foi.StatusJson(ws);
        Assert.Equal(["requester"], status.GetProperty("entities").EnumerateArray().Select(e => e.GetProperty("entity").GetString()));

        var both = await ws.Ferry("run", "ferry.yaml");
        Assert.True(both.ExitCode == 0, both.ToString());
        Assert.Equal(20, Foi.Count(ws, "SELECT count(*) FROM foi_request"));
        Assert.Equal(new Counts(20, 20, 0, 0, 0), Foi.LedgerCounts(ws, 2, "foi_request"));
        Assert.Equal(new Counts(20, 0, 0, 20, 0), Foi.LedgerCounts(ws, 2, "requester"));

        var before = ws.Fingerprint(Foi.Db);
        var unknown = await ws.Ferry("run", "ferry.yaml", "--entity", "requestor");
        Assert.True(unknown.ExitCode == 2, unknown.ToString());
        Assert.Contains("no entity named 'requestor'", unknown.Error);
        Assert.Contains("foi_request, requester", unknown.Error);
        Assert.Equal(before, ws.Fingerprint(Foi.Db));
    }

    [Fact]
    public async Task Status_and_runs_report_every_run_as_json_newest_first()
    {
        using var ws = new Workspace();
        ws.Write("ferry.yaml", Foi.Manifest());

        var none = await ws.Ferry("status", "ferry.yaml", "--json");
        Assert.True(none.ExitCode == 1, none.ToString());
        Assert.Contains("does not exist yet", none.Error);
        Assert.False(File.Exists(ws.PathOf(Foi.Db)));

        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 5)));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 7).Append(Foi.Row(8, status: "?"))));
        Assert.Equal(3, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        ws.Write("data/requests.csv", Foi.Csv("FOI-2024-00001,\"unterminated,2024-01-02,2024-01-22,open,1,1.00,x\n"));
        var broken = await ws.Ferry("run", "ferry.yaml");
        Assert.True(broken.ExitCode is 1 or 3, broken.ToString());

        var runs = await ws.Ferry("runs", "ferry.yaml", "--json");
        Assert.True(runs.ExitCode == 0, runs.ToString());
        var list = JsonDocument.Parse(runs.Output).RootElement.EnumerateArray().ToList();
        Assert.Equal([3L, 2L, 1L], list.Select(r => r.GetProperty("run_id").GetInt64()));
        Assert.Equal(["succeeded", "partial"], list.Skip(1).Select(r => r.GetProperty("status").GetString()).Reverse());
        Assert.All(list, r =>
        {
            Assert.Equal("foi-import", r.GetProperty("name").GetString());
            Assert.Matches(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$", r.GetProperty("started_at").GetString());
            Assert.Matches(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$", r.GetProperty("finished_at").GetString());
            Assert.EndsWith("requests.csv", r.GetProperty("source").GetString());
        });
        Assert.Equal(new Counts(5, 5, 0, 0, 0), Foi.EntityCounts(list[2]));
        Assert.Equal(new Counts(8, 2, 0, 5, 1), Foi.EntityCounts(list[1]));
        Assert.Equal("upsert", list[1].GetProperty("entities")[0].GetProperty("mode").GetString());
        Assert.Equal("foi_request", list[1].GetProperty("entities")[0].GetProperty("target").GetString());

        var limited = await ws.Ferry("runs", "ferry.yaml", "--json", "--limit", "1");
        Assert.Equal([3L], JsonDocument.Parse(limited.Output).RootElement.EnumerateArray().Select(r => r.GetProperty("run_id").GetInt64()));

        var second = await Foi.StatusJson(ws, 2);
        Assert.Equal("partial", second.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, second.GetProperty("error").ValueKind);
        Assert.Equal(new Counts(8, 2, 0, 5, 1), Foi.EntityCounts(second));

        var table = await ws.Ferry("status", "ferry.yaml", "--run", "2");
        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Contains("partial", table.Output);

        var missing = await ws.Ferry("status", "ferry.yaml", "--run", "42");
        Assert.True(missing.ExitCode == 2, missing.ToString());
        Assert.Contains("there is no run 42", missing.Error);
    }

    [Fact]
    public async Task While_another_run_holds_the_lock_a_run_exits_1_saying_so_and_leaves_the_target_alone()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 10)));
        ws.Write("ferry.yaml", Foi.Manifest());
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var bytes = File.ReadAllBytes(ws.PathOf(Foi.Db));
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 15)));
        var lockPath = ws.PathOf("foi.db.ferry-lock");

        using (new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            var blocked = await ws.Ferry("run", "ferry.yaml");

            Assert.True(blocked.ExitCode == 1, blocked.ToString());
            Assert.Contains("another ferry run is loading foi.db", blocked.Error);
            Assert.Equal(bytes, File.ReadAllBytes(ws.PathOf(Foi.Db)));
        }

        // A lock file left behind by a process that died does not block the next run.
        Assert.True(File.Exists(lockPath));
        var next = await ws.Ferry("run", "ferry.yaml");
        Assert.True(next.ExitCode == 0, next.ToString());
        Assert.Equal(new Counts(15, 5, 0, 10, 0), Foi.LedgerCounts(ws, 2));
        Assert.Equal([1L, 2L], ws.Query(Foi.Db, "SELECT run_id FROM ferry_runs ORDER BY run_id").Select(r => (long)r["run_id"]!));
    }

    [Fact]
    public async Task A_run_left_running_by_a_process_that_died_is_resumed_by_the_next_run()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 4)));
        ws.Write("ferry.yaml", Foi.Manifest());
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        MarkRunning(ws, 1);
        var running = await Foi.StatusJson(ws);
        Assert.Equal("running", running.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, running.GetProperty("finished_at").ValueKind);

        var resumed = await ws.Ferry("run", "ferry.yaml");

        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Contains("run 1 resumed", resumed.Output);
        var run = await Foi.StatusJson(ws, 1);
        Assert.Equal("succeeded", run.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.String, run.GetProperty("finished_at").ValueKind);
        // Nothing was loaded twice and no second run was recorded.
        Assert.Equal(4L, ws.Scalar(Foi.Db, "SELECT inserted FROM ferry_run_entities WHERE run_id = 1"));
        Assert.Equal(1L, ws.Scalar(Foi.Db, "SELECT count(*) FROM ferry_runs"));
        Assert.Equal(4L, ws.Scalar(Foi.Db, "SELECT count(*) FROM foi_request"));
    }

    [Fact]
    public async Task Restart_marks_a_dead_run_failed_and_starts_a_new_one()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 4)));
        ws.Write("ferry.yaml", Foi.Manifest());
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        MarkRunning(ws, 1);

        var restarted = await ws.Ferry("run", "ferry.yaml", "--restart");

        Assert.True(restarted.ExitCode == 0, restarted.ToString());
        var dead = await Foi.StatusJson(ws, 1);
        Assert.Equal("failed", dead.GetProperty("status").GetString());
        Assert.Equal("the process ended before the run finished", dead.GetProperty("error").GetString());
        var fresh = await Foi.StatusJson(ws);
        Assert.Equal(2, fresh.GetProperty("run_id").GetInt64());
        Assert.Equal(4, fresh.GetProperty("entities")[0].GetProperty("unchanged").GetInt64());
    }

    private static void MarkRunning(Workspace ws, long runId)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={ws.PathOf(Foi.Db)};Pooling=False");
        connection.Open();
        using var crash = connection.CreateCommand();
        crash.CommandText = $"UPDATE ferry_runs SET status = 'running', finished_at = NULL WHERE run_id = {runId}";
        crash.ExecuteNonQuery();
    }

    [Fact]
    public async Task Check_moves_no_data_and_reports_each_entity()
    {
        using var ws = new Workspace();
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 10)));
        ws.Write("ferry.yaml", TwoEntities);

        var fresh = await ws.Ferry("check", "ferry.yaml");
        Assert.True(fresh.ExitCode == 0, fresh.ToString());
        Assert.Contains("entity foi_request: 2 rules, 3 columns -> table foi_request (upsert)", fresh.Output);
        Assert.Contains("entity requester: 1 rules, 2 columns -> table requester (upsert)", fresh.Output);
        Assert.Contains("ok: ferry.yaml is ready to run", fresh.Output);
        Assert.False(File.Exists(ws.PathOf(Foi.Db)));

        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var bytes = File.ReadAllBytes(ws.PathOf(Foi.Db));
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 30)));
        Assert.Equal(0, (await ws.Ferry("check", "ferry.yaml")).ExitCode);
        Assert.Equal(bytes, File.ReadAllBytes(ws.PathOf(Foi.Db)));

        ws.Write("bad.yaml", TwoEntities.Replace("requester: requester_name", "requester: { expr: \"requester_name.Trimm()\" }", StringComparison.Ordinal));
        var bad = await ws.Ferry("check", "bad.yaml");
        Assert.True(bad.ExitCode == 2, bad.ToString());
        Assert.Contains("bad.yaml:16:", bad.Error);
        Assert.Contains("does not compile", bad.Error);
    }
}
