using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using Ferry.Examples.CitizenMart;
using Ferry.Tests.Postgres;
using Ferry.Tests.Support;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Ferry.Tests.Examples;

/// <summary>
/// examples/citizen-mart end to end, as its README walks it: generated monthly extracts through
/// <c>ferry pipeline run</c> into a history and a star-schema mart, a renamed duplicate dropped, and
/// the last version rolled back; on PostgreSQL (a database of its own on FERRY_TEST_PG) and SQLite.
/// The expected history and fact are computed here from the generator's residents of each month.
/// </summary>
public sealed class CitizenMartTests
{
    private const int Months = 4;
    private static readonly CitizenRegister Register = new(new RegisterOptions(People: 400, Months: Months, Seed: 7));

    [Fact]
    public Task Postgres_pipeline_history_mart_duplicate_and_rollback() => RunScenarioAsync(postgres: true);

    [Fact]
    public Task Sqlite_pipeline_history_mart_duplicate_and_rollback() => RunScenarioAsync(postgres: false);

    private static async Task RunScenarioAsync(bool postgres)
    {
        using var workspace = new Workspace();
        CopyExample(workspace.Root);
        var manifest = postgres ? "ferry.yaml" : "ferry.sqlite.yaml";
        string? database = null;
        try
        {
            if (postgres)
            {
                database = "ferry_citizen_" + Guid.NewGuid().ToString("N")[..10];
                Pg.Execute($"CREATE DATABASE {database}");
                // The manifest as shipped: its connection comes from ${MART_DB}.
                Environment.SetEnvironmentVariable("MART_DB", new NpgsqlConnectionStringBuilder(Pg.ConnectionString) { Database = database }.ConnectionString);
            }
            DbConnection Open() => postgres
                ? new NpgsqlConnection(new NpgsqlConnectionStringBuilder(Pg.ConnectionString) { Database = database, Pooling = false }.ConnectionString)
                : new SqliteConnection($"Data Source={workspace.PathOf("citizen-mart.db")};Pooling=False");

            for (var month = 1; month <= Months; month++)
                RegisterXlsxWriter.Write(workspace.PathOf(Path.Combine("landing", Register.FileName(month))), "Register", Register.Extract(month));

            var run = await workspace.Ferry("pipeline", "run", manifest);
            Assert.True(run.ExitCode == 0, run.ToString());
            Assert.Equal(Enumerable.Repeat("loaded", Months), await StatusesAsync(workspace, manifest));
            await AssertHistoryAndMartAsync(Open, Months);

            // A month dropped again under another name: registered by content, so skipped, and nothing loads.
            File.Copy(workspace.PathOf(Path.Combine("landing", Register.FileName(2))), workspace.PathOf(Path.Combine("landing", "register_2026-02 (copy).xlsx")));
            var again = await workspace.Ferry("pipeline", "run", manifest);
            Assert.True(again.ExitCode == 0, again.ToString());
            Assert.Contains("register_2026-02 (copy).xlsx is the same as register_2026-02.xlsx (version 2): skipped", again.Output, StringComparison.Ordinal);
            Assert.Equal(Enumerable.Repeat("loaded", Months), await StatusesAsync(workspace, manifest));
            await AssertHistoryAndMartAsync(Open, Months);

            // The last version rolled back: history and mart as they were after the month before.
            var rollback = await workspace.Ferry("rollback", "--version", Months.ToString(CultureInfo.InvariantCulture), manifest);
            Assert.True(rollback.ExitCode == 0, rollback.ToString());
            Assert.Equal([.. Enumerable.Repeat("loaded", Months - 1), "rolled_back"], await StatusesAsync(workspace, manifest));
            await AssertHistoryAndMartAsync(Open, Months - 1);

            var audit = await workspace.Ferry("audit", manifest, "--json");
            var steps = JsonDocument.Parse(audit.Output).RootElement.EnumerateArray().Select(e => e.GetProperty("step").GetString()).ToHashSet();
            Assert.Superset(new HashSet<string?> { "ingest", "validate", "history", "publish", "rollback" }, steps);
        }
        finally
        {
            if (database is not null)
            {
                NpgsqlConnection.ClearAllPools();
                Pg.Execute($"DROP DATABASE IF EXISTS {database} WITH (FORCE)");
            }
        }
    }

    /// <summary>The history holds each month's residents as its versions imply, and the mart agrees with it.</summary>
    private static async Task AssertHistoryAndMartAsync(Func<DbConnection> open, int lastMonth)
    {
        await using var connection = open();
        await connection.OpenAsync();

        // Exactly one current version per resident of the last month, with that month's clean values; none for anyone else.
        var current = await RowsAsync(connection, "SELECT citizen_id, name, street, postcode, city, phone FROM citizen_history WHERE is_current ORDER BY citizen_id");
        var residents = Register.Residents(lastMonth).OrderBy(r => r.CitizenId, StringComparer.Ordinal).ToList();
        Assert.Equal(residents.Select(r => r.CitizenId), current.Select(r => r[0]));
        Assert.Equal(residents.Select(r => $"{r.Name}|{r.Street}|{r.Postcode}|{r.City}|{r.Phone}"), current.Select(r => string.Join('|', r.Skip(1))));

        // One version per run of unchanged tracked values, per citizen: format changes opened none.
        var expectedVersions = new Dictionary<string, int>();
        var previous = new Dictionary<string, string>();
        for (var month = 1; month <= lastMonth; month++)
        {
            var present = new Dictionary<string, string>();
            foreach (var r in Register.Residents(month))
            {
                var state = $"{r.Name}|{r.Street}|{r.Postcode}|{r.City}|{r.Phone}";
                present[r.CitizenId] = state;
                if (!previous.TryGetValue(r.CitizenId, out var before) || before != state)
                    expectedVersions[r.CitizenId] = expectedVersions.GetValueOrDefault(r.CitizenId) + 1;
            }
            previous = present;
        }
        var versions = (await RowsAsync(connection, "SELECT citizen_id, count(*) FROM citizen_history GROUP BY citizen_id"))
            .ToDictionary(r => r[0]!, r => int.Parse(r[1]!, CultureInfo.InvariantCulture));
        Assert.Equal(expectedVersions.OrderBy(p => p.Key, StringComparer.Ordinal), versions.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Empty(await RowsAsync(connection, "SELECT citizen_id FROM citizen_history WHERE is_current GROUP BY citizen_id HAVING count(*) > 1"));

        // The fact: residents per postcode district at the start of each month, as the extracts say.
        var expectedFact = new List<string>();
        for (var month = 1; month <= lastMonth; month++)
            expectedFact.AddRange(Register.Residents(month)
                .GroupBy(r => r.Postcode[..^4])
                .Select(g => $"{Register.AsOf(month):yyyyMMdd}|{g.Key}|{g.Count()}"));
        var fact = await RowsAsync(connection, "SELECT date_key, postcode_district, residents FROM fact_residents_month");
        Assert.Equal(expectedFact.Order(StringComparer.Ordinal), fact.Select(r => string.Join('|', r)).Order(StringComparer.Ordinal));

        // The citizen dimension: everyone ever registered, residents flagged, each with an address of the address dimension.
        var dimension = await RowsAsync(connection, "SELECT count(*), count(a.address_key) FROM dim_citizen c LEFT JOIN dim_address a ON a.address_key = c.address_key");
        Assert.Equal(expectedVersions.Count.ToString(CultureInfo.InvariantCulture), dimension[0][0]);
        Assert.Equal(dimension[0][0], dimension[0][1]);
        var residentCount = await RowsAsync(connection, "SELECT count(*) FROM dim_citizen WHERE is_resident");
        Assert.Equal(residents.Count.ToString(CultureInfo.InvariantCulture), residentCount[0][0]);
    }

    private static async Task<List<string?[]>> RowsAsync(DbConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string?[]>();
        while (await reader.ReadAsync())
        {
            var row = new string?[reader.FieldCount];
            for (var i = 0; i < row.Length; i++)
                row[i] = reader.IsDBNull(i) ? null : Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture);
            rows.Add(row);
        }
        return rows;
    }

    private static async Task<List<string>> StatusesAsync(Workspace workspace, string manifest)
    {
        var files = await workspace.Ferry("files", manifest, "--json");
        Assert.True(files.ExitCode == 0, files.ToString());
        return JsonDocument.Parse(files.Output).RootElement.EnumerateArray()
            .OrderBy(f => f.GetProperty("version").GetInt64())
            .Select(f => f.GetProperty("status").GetString()!).ToList();
    }

    /// <summary>The example's manifests and mart SQL, as a user would have them (not the generator).</summary>
    private static void CopyExample(string destination)
    {
        var example = Path.Combine(RepoPaths.Root, "examples", "citizen-mart");
        foreach (var file in Directory.GetFiles(example, "*.*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(example, file);
            if (!(relative.EndsWith(".yaml", StringComparison.Ordinal) || relative.StartsWith("mart", StringComparison.Ordinal)))
                continue;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(destination, relative))!);
            File.Copy(file, Path.Combine(destination, relative));
        }
    }
}
