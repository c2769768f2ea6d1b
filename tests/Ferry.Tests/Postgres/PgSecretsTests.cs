using Ferry.Tests.EndToEnd;
using Ferry.Tests.Support;

namespace Ferry.Tests.Postgres;

/// <summary>The target's password never shows: not on the console, not in the log, not in the ledger.</summary>
public class PgSecretsTests
{
    /// <summary>Rows of every ferry.* table (and the test's own schema) whose text holds <paramref name="secret"/>.</summary>
    private static List<string> LedgerRowsHolding(string secret, string schema)
    {
        var tables = Pg.Query("SELECT format('%I.%I', table_schema, table_name) AS t FROM information_schema.tables WHERE table_schema IN ('ferry', @s)", ("s", schema))
            .Select(r => (string)r["t"]!).ToList();
        Assert.Contains("ferry.runs", tables);
        return tables.SelectMany(t => Pg.Query($"SELECT t::text AS row FROM {t} t WHERE strpos(t::text, @p) > 0", ("p", secret))
            .Select(r => $"{t}: {r["row"]}")).ToList();
    }

    private static void AssertHidden(string secret, params CliResult[] results)
    {
        foreach (var result in results)
        {
            Assert.DoesNotContain(secret, result.Output, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, result.Error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_password_from_the_environment_never_appears_in_output_the_json_log_or_the_ledger()
    {
        var password = Pg.Builder().Password;
        Assert.False(string.IsNullOrEmpty(password), "FERRY_TEST_PG has no password to look for");
        using var pg = new PgScope("sec");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 6).Append(Foi.Row(7, status: "bad"))));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 3, check: false));

        var run = await FerryProcess.RunAsync(ws, null, "run", "ferry.yaml", "--log-json", "run.jsonl");
        Assert.True(run.ExitCode == 3, run.ToString());
        var check = await FerryProcess.RunAsync(ws, null, "check", "ferry.yaml");
        var runs = await ws.Ferry("runs", "ferry.yaml", "--json");
        var status = await ws.Ferry("status", "ferry.yaml");
        var rejects = await ws.Ferry("rejects", "list", "ferry.yaml", "--json");
        // A run that fails records its error in the ledger: the table lacks a column now.
        Pg.Execute($"ALTER TABLE \"{pg.Schema}\".foi_request DROP COLUMN summary");
        var failed = await ws.Ferry("run", "ferry.yaml", "--restart");
        Assert.True(failed.ExitCode == 1, failed.ToString());
        Assert.Contains("has no column summary", failed.Error);

        AssertHidden(password, run, check, runs, status, rejects, failed);
        Assert.DoesNotContain(password, File.ReadAllText(ws.PathOf("run.jsonl")), StringComparison.Ordinal);
        Assert.Empty(LedgerRowsHolding(password, pg.Schema));
        Assert.Equal(2, Pg.Runs(pg.Manifest()).Count);
    }

    [Fact]
    public async Task A_password_typed_into_the_manifest_is_not_shown_or_stored_either()
    {
        var builder = Pg.Builder();
        using var pg = new PgScope("sec");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 4)));
        var typed = $"Host={builder.Host};Port={builder.Port};Username={builder.Username};Password={builder.Password};Database={builder.Database}";
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, connection: typed, check: false));

        var run = await FerryProcess.RunAsync(ws, null, "run", "ferry.yaml");
        Assert.True(run.ExitCode == 0, run.ToString());
        var status = await FerryProcess.RunAsync(ws, null, "status", "ferry.yaml", "--json");
        Assert.True(status.ExitCode == 0, status.ToString());

        AssertHidden(builder.Password!, run, status);
        Assert.Empty(LedgerRowsHolding(builder.Password!, pg.Schema));
        Assert.Equal(4, pg.Count());
    }

    [Fact]
    public async Task A_wrong_password_fails_with_exit_1_naming_host_port_and_database_but_not_the_password()
    {
        var builder = Pg.Builder();
        const string wrong = "Wr0ng-Passw0rd-7731";
        var place = $"{builder.Host}:{builder.Port}/{builder.Database}";
        using var pg = new PgScope("sec");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 4)));
        ws.Write("typed.yaml", PgFoi.Manifest(pg.Schema,
            connection: $"Host={builder.Host};Port={builder.Port};Username={builder.Username};Password={wrong};Database={builder.Database}", check: false));
        ws.Write("env.yaml", PgFoi.Manifest(pg.Schema, connection: "${FERRY_TEST_PG_WRONG}", check: false));
        var environment = new Dictionary<string, string?>
        {
            ["FERRY_TEST_PG_WRONG"] = $"Host={builder.Host};Port={builder.Port};Username={builder.Username};Password={wrong};Database={builder.Database}",
        };

        var results = new List<CliResult>();
        foreach (var manifest in new[] { "typed.yaml", "env.yaml" })
            foreach (var args in new[] { new[] { "run", manifest }, ["check", manifest], ["runs", manifest], ["rollback", "1", manifest] })
            {
                var result = await FerryProcess.RunAsync(ws, environment, args);
                Assert.True(result.ExitCode == 1, $"ferry {string.Join(' ', args)}: {result}");
                Assert.Contains(place, result.Error);
                Assert.Contains("password authentication failed", result.Error);
                results.Add(result);
            }

        AssertHidden(wrong, [.. results]);
        Assert.False(Pg.TableExists($"\"{pg.Schema}\".foi_request"));
    }
}
