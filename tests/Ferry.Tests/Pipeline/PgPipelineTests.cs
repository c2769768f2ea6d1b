using Ferry.Tests.Postgres;
using Ferry.Tests.Support;
using static Ferry.Tests.Pipeline.PipelineKit;

namespace Ferry.Tests.Pipeline;

/// <summary>The file-fed pipeline on the real PostgreSQL of <c>FERRY_TEST_PG</c>: registry, publish and version rollback.</summary>
public class PgPipelineTests
{
    private static string NewSchema()
    {
        var schema = "pl_" + Guid.NewGuid().ToString("N")[..10];
        Pg.Execute($"CREATE SCHEMA {schema}");
        return schema;
    }

    private static List<string> Citizens(string schema, string table = "citizen") =>
        Pg.Query($"SELECT citizen_id, name, street FROM {schema}.{table} ORDER BY citizen_id").Select(r => $"{r["citizen_id"]}|{r["name"]}|{r["street"]}").ToList();

    [Fact]
    public async Task Files_load_in_date_order_into_history_and_the_mart_with_every_step_audited()
    {
        var schema = NewSchema();
        using var ws = new Workspace();
        Setup(ws, schema);
        Land(ws, "register_2026-02.csv", Register("1,Ada,Second Street,1990-01-01", "2,Brian,Elm Row,1985-05-05"));
        Land(ws, "register_2026-01.csv", Register("1,Ada,First Street,1990-01-01"));

        var run = await ws.Ferry("pipeline", "run", "citizen.yaml");

        Assert.True(run.ExitCode == 0, run.ToString());
        var files = await FilesAsync(ws);
        Assert.Equal(["register_2026-01.csv loaded", "register_2026-02.csv loaded"], files.Select(f => $"{f.GetProperty("name").GetString()} {f.GetProperty("status").GetString()}"));
        var january = files[0].GetProperty("version").GetInt64();
        Assert.True(files[1].GetProperty("version").GetInt64() > january);
        Assert.Equal(["1|Ada|Second Street", "2|Brian|Elm Row"], Citizens(schema, "dim_citizen"));
        Assert.Equal(2L, Pg.Count("SELECT count(*) FROM ferry.files WHERE manifest = @m AND status = 'loaded'", ("m", ws.PathOf("citizen.yaml"))));
        var steps = (await AuditAsync(ws)).Select(e => e.GetProperty("step").GetString()).ToList();
        Assert.Equal(["ingest", "ingest", "ingest", "validate", "history", "validate", "history", "publish"], steps);
        // A copy is skipped by its hash on PostgreSQL too.
        Land(ws, "register_2026-01 (copy).csv", Register("1,Ada,First Street,1990-01-01"));
        var again = await ws.Ferry("pipeline", "run", "citizen.yaml");
        Assert.Contains($"register_2026-01 (copy).csv is the same as register_2026-01.csv (version {january}): skipped", again.Output);
    }

    [Fact]
    public async Task A_failing_publish_names_the_file_and_line_and_keeps_the_old_mart()
    {
        var schema = NewSchema();
        using var ws = new Workspace();
        Setup(ws, schema);
        ws.Write("citizen.yaml", PipelineKit.Manifest(schema, publish: "[mart/01_dim_citizen.sql, mart/02_broken.sql]"));
        ws.Write("mart/02_broken.sql", $"CREATE TABLE IF NOT EXISTS {schema}.fact (n int);\n");
        Land(ws, "register_2026-01.csv", Register("1,Ada,First Street,1990-01-01"));
        Assert.Equal(0, (await ws.Ferry("pipeline", "run", "citizen.yaml")).ExitCode);

        ws.Write("mart/02_broken.sql", $"DELETE FROM {schema}.fact;\n\nINSERT INTO {schema}.fact\nSELECT count(*) FROM {schema}.no_such_table;\n");
        Land(ws, "register_2026-02.csv", Register("1,Ada,Second Street,1990-01-01"));
        var run = await ws.Ferry("pipeline", "run", "citizen.yaml");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("mart/02_broken.sql line 4:", run.Error);
        Assert.Contains("no_such_table", run.Error);
        Assert.Equal(["1|Ada|Second Street"], Citizens(schema));
        Assert.Equal(["1|Ada|First Street"], Citizens(schema, "dim_citizen"));
    }

    [Fact]
    public async Task Versions_roll_back_newest_first_and_the_mart_is_republished()
    {
        var schema = NewSchema();
        using var ws = new Workspace();
        Setup(ws, schema);
        Land(ws, "register_2026-01.csv", Register("1,Ada,First Street,1990-01-01"));
        Land(ws, "register_2026-02.csv", Register("1,Ada,Second Street,1990-01-01", "2,Brian,Elm Row,1985-05-05"));
        Assert.Equal(0, (await ws.Ferry("pipeline", "run", "citizen.yaml")).ExitCode);

        // Versions are ids of the registry, shared by every manifest of the database.
        var versions = (await FilesAsync(ws)).Select(f => f.GetProperty("version").GetInt64()).ToList();
        var (v1, v2) = (versions[0].ToString(System.Globalization.CultureInfo.InvariantCulture), versions[1].ToString(System.Globalization.CultureInfo.InvariantCulture));
        List<string> Statuses(List<System.Text.Json.JsonElement> files) => files.Select(f => $"{f.GetProperty("name").GetString()} {f.GetProperty("status").GetString()}").ToList();

        var refused = await ws.Ferry("rollback", "--version", v1, "citizen.yaml");

        Assert.True(refused.ExitCode == 1, refused.ToString());
        Assert.Contains($"version {v1} (register_2026-01.csv) cannot be rolled back while later version(s) {v2} (register_2026-02.csv) are loaded: roll back newest first", refused.Error);
        Assert.Equal(["1|Ada|Second Street", "2|Brian|Elm Row"], Citizens(schema));

        var second = await ws.Ferry("rollback", "--version", v2, "citizen.yaml");

        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Equal(["1|Ada|First Street"], Citizens(schema));
        Assert.Equal(["1|Ada|First Street"], Citizens(schema, "dim_citizen"));
        Assert.Equal(["register_2026-01.csv loaded", "register_2026-02.csv rolled_back"], Statuses(await FilesAsync(ws)));

        var first = await ws.Ferry("rollback", "--version", v1, "citizen.yaml");
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Empty(Citizens(schema));
        Assert.Empty(Citizens(schema, "dim_citizen"));
        var rollbacks = (await AuditAsync(ws)).Where(e => e.GetProperty("step").GetString() == "rollback").Select(e => e.GetProperty("outcome").GetString());
        Assert.Equal(["refused", "succeeded", "succeeded"], rollbacks);

        // A rolled-back file's content is no longer "seen": the next run registers and loads it as new versions.
        var reload = await ws.Ferry("pipeline", "run", "citizen.yaml");
        Assert.True(reload.ExitCode == 0, reload.ToString());
        Assert.Equal(["register_2026-01.csv rolled_back", "register_2026-02.csv rolled_back", "register_2026-01.csv loaded", "register_2026-02.csv loaded"], Statuses(await FilesAsync(ws)));
        Assert.Equal(["1|Ada|Second Street", "2|Brian|Elm Row"], Citizens(schema, "dim_citizen"));
    }
}
