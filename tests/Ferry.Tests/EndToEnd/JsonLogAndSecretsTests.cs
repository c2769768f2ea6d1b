using System.Text;
using System.Text.Json;
using Ferry.Tests.Support;

namespace Ferry.Tests.EndToEnd;

/// <summary>Machine-readable JSON-lines logs, and secrets that never show anywhere.</summary>
public class JsonLogAndSecretsTests
{
    private static List<JsonElement> ReadLog(Workspace ws, string file) =>
        File.ReadAllLines(ws.PathOf(file)).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();

    [Fact]
    public async Task Log_json_writes_one_event_per_line_with_run_and_correlation_ids()
    {
        using var ws = new Workspace();
        var rows = Foi.Rows(1, 12).ToList();
        rows[3] = Foi.Row(4, status: "lost");                                   // line 5, batch 1
        rows[8] = "FOI-2024-00009,Alan Turing,2024-13-40,2025-01-30,open,-2,1.00,x"; // line 10, batch 2
        ws.Write("data/requests.csv", Foi.Csv(rows));
        ws.Write("ferry.yaml", Foi.Manifest(batchSize: 5));

        var result = await ws.Ferry("run", "ferry.yaml", "--log-json", "run.jsonl");

        Assert.True(result.ExitCode == 3, result.ToString());
        var log = ReadLog(ws, "run.jsonl");
        Assert.All(log, e =>
        {
            Assert.False(string.IsNullOrEmpty(e.GetProperty("event").GetString()));
            Assert.Equal(1, e.GetProperty("run_id").GetInt64());
            Assert.Matches("^[0-9a-f]{32}$", e.GetProperty("correlation_id").GetString());
        });
        var correlation = log[0].GetProperty("correlation_id").GetString();
        Assert.All(log, e => Assert.Equal(correlation, e.GetProperty("correlation_id").GetString()));
        Assert.Equal(correlation, ws.Scalar(Foi.Db, "SELECT correlation_id FROM ferry_runs WHERE run_id = 1"));

        var events = log.Select(e => e.GetProperty("event").GetString()).ToList();
        Assert.Equal("run_started", events[0]);
        Assert.Equal("entity_started", events[1]);
        Assert.Equal("entity_finished", events[^2]);
        Assert.Equal("run_finished", events[^1]);
        Assert.Equal("partial", log[^1].GetProperty("status").GetString());

        var batches = log.Where(e => e.GetProperty("event").GetString() == "batch_committed").ToList();
        Assert.Equal([1, 2, 3], batches.Select(b => b.GetProperty("batch").GetInt32()));
        Assert.All(batches, b => Assert.Equal("foi_request", b.GetProperty("entity").GetString()));
        Assert.Equal([5L, 5L, 2L], batches.Select(b => b.GetProperty("counts").GetProperty("rows_read").GetInt64()));
        Assert.Equal([4L, 4L, 2L], batches.Select(b => b.GetProperty("counts").GetProperty("inserted").GetInt64()));

        var rejected = log.Where(e => e.GetProperty("event").GetString() == "row_rejected").ToList();
        Assert.Equal([5L, 10L], rejected.Select(r => r.GetProperty("line").GetInt64()));
        Assert.Equal([1, 2], rejected.Select(r => r.GetProperty("batch").GetInt32()));
        Assert.All(rejected, r => Assert.Equal("foi_request", r.GetProperty("entity").GetString()));
        var second = rejected[1].GetProperty("errors").EnumerateArray().ToList();
        Assert.Equal(["pages:range", "received:type"],
            second.Select(e => e.GetProperty("column").GetString() + ":" + e.GetProperty("rule").GetString()).Order(StringComparer.Ordinal));
        Assert.All(second, e => Assert.Equal("error", e.GetProperty("severity").GetString()));
        Assert.Contains("2024-13-40", second.Single(e => e.GetProperty("rule").GetString() == "type").GetProperty("message").GetString());
        Assert.Equal(1, log.Count(e => e.GetProperty("event").GetString() == "entity_finished"));

        // A second run appends to the same file under its own ids.
        var again = await ws.Ferry("run", "ferry.yaml", "--log-json", "run.jsonl");
        Assert.True(again.ExitCode == 3, again.ToString());
        var all = ReadLog(ws, "run.jsonl");
        var run2 = all.Skip(log.Count).ToList();
        Assert.NotEmpty(run2);
        Assert.All(run2, e => Assert.Equal(2, e.GetProperty("run_id").GetInt64()));
        Assert.All(run2, e => Assert.NotEqual(correlation, e.GetProperty("correlation_id").GetString()));
    }

    [Fact]
    public async Task A_secret_target_path_never_appears_in_output_logs_or_the_ledger()
    {
        const string variable = "FERRY_TEST_DB_SECRET";
        using var ws = new Workspace();
        var secret = "vault-S3cr3tValue-7f3a/foi.db";
        Directory.CreateDirectory(ws.PathOf("vault-S3cr3tValue-7f3a"));
        Environment.SetEnvironmentVariable(variable, secret);
        try
        {
            var rows = Foi.Rows(1, 10).Append(Foi.Row(11, status: "lost")).ToList();
            ws.Write("data/requests.csv", Foi.Csv(rows));
            ws.Write("ferry.yaml", Foi.Manifest(connection: "Data Source=${" + variable + "}", batchSize: 4));
            var seen = new StringBuilder();

            async Task<CliResult> Ferry(params string[] args)
            {
                var r = await ws.Ferry(args);
                seen.Append(r.Output).Append(r.Error);
                return r;
            }

            Assert.Equal(0, (await Ferry("check", "ferry.yaml")).ExitCode);
            Assert.Equal(3, (await Ferry("run", "ferry.yaml", "--log-json", "run.jsonl")).ExitCode);
            Assert.Equal(3, (await Ferry("run", "ferry.yaml", "--dry-run", "--log-json", "run.jsonl")).ExitCode);
            Assert.Equal(0, (await Ferry("status", "ferry.yaml", "--json")).ExitCode);
            Assert.Equal(0, (await Ferry("status", "ferry.yaml")).ExitCode);
            Assert.Equal(0, (await Ferry("runs", "ferry.yaml", "--json")).ExitCode);
            Assert.Equal(0, (await Ferry("rejects", "list", "ferry.yaml", "--json")).ExitCode);
            Assert.Equal(0, (await Ferry("rejects", "export", "ferry.yaml", "--out", "fix.csv")).ExitCode);
            using (new FileStream(ws.PathOf(secret) + ".ferry-lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
                Assert.Equal(1, (await Ferry("run", "ferry.yaml")).ExitCode);
            // The secret really was used: the target is where it says.
            Assert.Equal(10, Foi.Count(ws, "SELECT count(*) FROM foi_request", secret));
            Assert.False(File.Exists(ws.PathOf(Foi.Db)));

            seen.Append(File.ReadAllText(ws.PathOf("run.jsonl"))).Append(File.ReadAllText(ws.PathOf("fix.csv")));
            seen.Append(LedgerText(ws, secret));
            AssertNoSecret(seen.ToString(), secret, "S3cr3tValue");

            // Errors about the target do not give it away either.
            Environment.SetEnvironmentVariable(variable, "gone-S3cr3tValue-7f3a/foi.db");
            var missing = await ws.Ferry("run", "ferry.yaml");
            Assert.True(missing.ExitCode == 1, missing.ToString());
            AssertNoSecret(missing.Output + missing.Error, "gone-S3cr3tValue-7f3a/foi.db", "S3cr3tValue");
            var check = await ws.Ferry("check", "ferry.yaml");
            Assert.True(check.ExitCode == 1, check.ToString());
            AssertNoSecret(check.Output + check.Error, "gone-S3cr3tValue-7f3a/foi.db", "S3cr3tValue");
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Fact]
    public async Task A_secret_source_folder_is_masked_in_the_ledger_and_in_status()
    {
        const string variable = "FERRY_TEST_SOURCE_SECRET";
        using var ws = new Workspace();
        Environment.SetEnvironmentVariable(variable, "inbox-S3cr3tValue-19");
        try
        {
            ws.Write("inbox-S3cr3tValue-19/requests.csv", Foi.Csv(Foi.Rows(1, 6).Append(Foi.Row(7, fee: "x"))));
            ws.Write("ferry.yaml", Foi.Manifest(source: "${" + variable + "}/requests.csv"));
            var seen = new StringBuilder();
            foreach (var args in new[]
            {
                new[] { "run", "ferry.yaml", "--log-json", "run.jsonl" },
                ["status", "ferry.yaml", "--json"],
                ["runs", "ferry.yaml", "--json"],
                ["runs", "ferry.yaml"],
                ["rejects", "list", "ferry.yaml"],
            })
            {
                var r = await ws.Ferry(args);
                Assert.True(r.ExitCode is 0 or 3, r.ToString());
                seen.Append(r.Output).Append(r.Error);
            }
            Assert.Equal(6, Foi.Count(ws, "SELECT count(*) FROM foi_request"));
            seen.Append(File.ReadAllText(ws.PathOf("run.jsonl"))).Append(LedgerText(ws, Foi.Db));
            AssertNoSecret(seen.ToString(), "inbox-S3cr3tValue-19", "S3cr3tValue");
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Fact]
    public async Task A_password_in_the_connection_string_never_appears_in_output()
    {
        const string variable = "FERRY_TEST_DB_PASSWORD";
        using var ws = new Workspace();
        Environment.SetEnvironmentVariable(variable, "pw-S3cr3tValue-hunter2");
        try
        {
            ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 3)));
            ws.Write("ferry.yaml", Foi.Manifest(connection: "Data Source=foi.db;Password=${" + variable + "}"));
            ws.Write("literal.yaml", Foi.Manifest(connection: "Data Source=foi.db;Password=Literal-S3cr3tValue"));
            var seen = new StringBuilder();
            foreach (var manifest in new[] { "ferry.yaml", "literal.yaml" })
            foreach (var args in new[] { new[] { "check", manifest }, ["run", manifest, "--log-json", "run.jsonl"], ["status", manifest, "--json"], ["run", manifest, "--dry-run"] })
            {
                var r = await ws.Ferry(args);
                // This SQLite build cannot encrypt, so opening the target fails; whatever the build,
                // the outcome is a clean exit code and a message that names the problem, not the password.
                Assert.True(r.ExitCode is 0 or 1, r.ToString());
                if (r.ExitCode == 1)
                    Assert.Contains("password", r.Error, StringComparison.OrdinalIgnoreCase);
                seen.Append(r.Output).Append(r.Error);
            }
            if (File.Exists(ws.PathOf("run.jsonl")))
                seen.Append(File.ReadAllText(ws.PathOf("run.jsonl")));
            AssertNoSecret(seen.ToString(), "pw-S3cr3tValue-hunter2", "S3cr3tValue");
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    private static void AssertNoSecret(string text, string secret, string token)
    {
        Assert.False(text.Contains(secret, StringComparison.OrdinalIgnoreCase), $"the secret '{secret}' appears in:\n{text}");
        Assert.False(text.Contains(token, StringComparison.OrdinalIgnoreCase), $"part of the secret ('{token}') appears in:\n{text}");
    }

    /// <summary>Every text value of every ferry_* table and view (the staging view among them), tab-separated.</summary>
    private static string LedgerText(Workspace ws, string db)
    {
        var text = new StringBuilder();
        var tables = ws.Query(db, "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name LIKE 'ferry%'").Select(r => (string)r["name"]!).ToList();
        Assert.Contains("ferry_runs", tables);
        Assert.Contains("ferry_stage_foi_request", tables);
        Assert.Contains("ferry_stage_foi_request_rows", tables);
        foreach (var table in tables)
            foreach (var row in ws.Query(db, $"SELECT * FROM \"{table}\""))
                foreach (var value in row.Values)
                    text.Append(value).Append('\t');
        Assert.Contains("foi-import", text.ToString());
        return text.ToString();
    }
}
