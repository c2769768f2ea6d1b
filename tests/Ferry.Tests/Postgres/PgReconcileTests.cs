using System.Text.Json;
using Ferry.Tests.EndToEnd;
using Ferry.Tests.Support;

namespace Ferry.Tests.Postgres;

/// <summary>Reconciliation against the real PostgreSQL target: values read back in PostgreSQL's own types.</summary>
public class PgReconcileTests
{
    /// <summary>More value types than the FOI manifest has: a timestamp, a boolean and a double.</summary>
    private const string ExtraColumns = """

              stamp: { from: received, type: datetime }
              is_open: { expr: "status == \"open\"", type: bool }
              ratio: { expr: "Int(pages) / 7.0", type: real }
        """;

    private static async Task<CliResult> Load(PgScope pg, bool ownTable)
    {
        var ws = pg.Workspace;
        var rows = Foi.Rows(1, 30).ToList();
        rows.Insert(10, Foi.Row(900, status: "lost"));
        ws.Write("data/requests.csv", Foi.Csv(rows));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 7, check: false) + ExtraColumns);
        if (ownTable)
        {
            // The user's own table, with other types than Ferry would choose: a numeric with a scale of 4,
            // a timestamp without time zone, an integer and a varchar.
            Pg.Execute($"""
                CREATE SCHEMA "{pg.Schema}";
                CREATE TABLE "{pg.Schema}".foi_request (
                    reference varchar(20) PRIMARY KEY, requester varchar(100), received_on date, due_on date, status text,
                    pages integer, fee numeric(12, 4), summary text, id uuid, origin text, stamp timestamp, is_open boolean, ratio double precision,
                    not_mapped text DEFAULT 'x')
                """);
        }
        return await ws.Ferry("run", "ferry.yaml");
    }

    private static async Task<(CliResult Result, JsonElement Json)> Reconcile(Workspace ws)
    {
        var result = await ws.Ferry("reconcile", "ferry.yaml", "--json", "r.json", "--html", "r.html", "--sample", "31");
        return (result, JsonDocument.Parse(File.ReadAllText(ws.PathOf("r.json"))).RootElement.Clone());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_good_run_reconciles_in_postgresqls_own_types(bool ownTable)
    {
        using var pg = new PgScope("rec");
        var run = await Load(pg, ownTable);
        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Contains("reconciliation of run", run.Output, StringComparison.Ordinal);
        Assert.Contains(": ok", run.Output, StringComparison.Ordinal);
        if (ownTable)
            Assert.Equal(1.5m, (decimal)Pg.Scalar($"SELECT fee FROM \"{pg.Schema}\".foi_request WHERE reference = 'FOI-2024-00001'")!);

        var (result, json) = await Reconcile(pg.Workspace);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.True(json.GetProperty("ok").GetBoolean());
        Assert.Equal("postgres", json.GetProperty("target").GetString());
        var e = Assert.Single(json.GetProperty("entities").EnumerateArray());
        Assert.Equal($"{pg.Schema}.foi_request", e.GetProperty("table").GetString());
        var checksum = e.GetProperty("checksum");
        Assert.Equal((30, 30), (checksum.GetProperty("source_rows").GetInt64(), checksum.GetProperty("target_rows").GetInt64()));
        Assert.Equal(checksum.GetProperty("source_checksum").GetString(), checksum.GetProperty("target_checksum").GetString());
        Assert.Equal(30, e.GetProperty("samples").EnumerateArray().Count(s => s.GetProperty("ok").GetBoolean()));
        // No secret reaches a report.
        var secret = Pg.Builder().Password;
        if (!string.IsNullOrEmpty(secret))
        {
            Assert.DoesNotContain(secret, File.ReadAllText(pg.Workspace.PathOf("r.json")), StringComparison.Ordinal);
            Assert.DoesNotContain(secret, File.ReadAllText(pg.Workspace.PathOf("r.html")), StringComparison.Ordinal);
            Assert.DoesNotContain(secret, result.Output + result.Error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Rows_deleted_or_altered_behind_ferrys_back_fail_naming_entity_key_and_column()
    {
        using var pg = new PgScope("recbad");
        Assert.Equal(3, (await Load(pg, ownTable: false)).ExitCode);
        Pg.Execute($"DELETE FROM \"{pg.Schema}\".foi_request WHERE reference = 'FOI-2024-00012'");
        Pg.Execute($"UPDATE \"{pg.Schema}\".foi_request SET fee = fee + 0.01, stamp = stamp + interval '1 second', is_open = NOT is_open WHERE reference = 'FOI-2024-00004'");

        var (result, json) = await Reconcile(pg.Workspace);
        Assert.True(result.ExitCode == 4, result.ToString());
        Assert.Contains("entity foi_request: key FOI-2024-00012 is missing in table " + pg.Schema + ".foi_request", result.Output, StringComparison.Ordinal);
        Assert.Contains("entity foi_request: key FOI-2024-00004, column fee: source 4.5, target 4.51", result.Output, StringComparison.Ordinal);
        var differences = Assert.Single(json.GetProperty("entities").EnumerateArray()).GetProperty("differences").EnumerateArray()
            .Select(d => $"{d.GetProperty("key").GetString()} {d.GetProperty("column").GetString()}: {d.GetProperty("source").GetString()} → {d.GetProperty("target").GetString()}")
            .ToList();
        Assert.Equal([
            "FOI-2024-00004 fee: 4.5 → 4.51",
            "FOI-2024-00004 stamp: 2024-01-05T00:00:00Z → 2024-01-05T00:00:01Z",
            "FOI-2024-00004 is_open: false → true", // request 4 is closed
        ], differences);
        Assert.Contains(json.GetProperty("mismatches").EnumerateArray(), m => m.GetProperty("kind").GetString() == "missing" && m.GetProperty("entity").GetString() == "foi_request");
    }

    [Fact]
    public async Task A_source_row_never_loaded_fails_the_counts()
    {
        using var pg = new PgScope("recsrc");
        Assert.Equal(3, (await Load(pg, ownTable: false)).ExitCode);
        File.AppendAllText(pg.Workspace.PathOf("data/requests.csv"), Foi.Row(31) + "\n");

        var (result, json) = await Reconcile(pg.Workspace);
        Assert.True(result.ExitCode == 4, result.ToString());
        Assert.Contains("entity foi_request: the source now has 32 rows; run", result.Output, StringComparison.Ordinal);
        Assert.Equal(["source-counts", "missing"], json.GetProperty("mismatches").EnumerateArray().Select(m => m.GetProperty("kind").GetString()));
    }
}
