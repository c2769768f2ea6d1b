using System.Text.Json;
using Ferry.Tests.Support;

namespace Ferry.Tests.Pipeline;

/// <summary>
/// A citizen register delivered as monthly CSV files into a landing folder, loaded into a history
/// table <c>citizen</c> and published as a mart table <c>dim_citizen</c>, on SQLite or PostgreSQL.
/// </summary>
internal static class PipelineKit
{
    public const string Db = "mart.db";

    /// <param name="schema">A PostgreSQL schema for the tables; null for a SQLite target.</param>
    public static string Manifest(string? schema = null, string pattern = "register_*.csv", string order = "name_date", string publish = "[mart/01_dim_citizen.sql]") =>
        $$"""
        name: citizen-mart
        target: {{(schema is null ? "{ type: sqlite, connection: \"Data Source=mart.db\" }" : $"{{ type: postgres, connection: \"${{FERRY_TEST_PG}}\", schema: {schema} }}")}}
        landing:
          folder: landing
          files:
            - name: register
              pattern: "{{pattern}}"
              order: {{order}}
              source: { type: csv }
              entities: [citizen]
              columns: [citizen_id, name, street]
        stage: { folder: stage }
        publish: {{publish}}
        entities:
          - name: citizen
            key: [citizen_id]
            mode: upsert
            rules:
              - { column: citizen_id, required: true, severity: fatal }
              - { column: born, type: date, format: yyyy-MM-dd }
            columns:
              citizen_id: { from: citizen_id, type: int }
              name: name
              street: street
              born: { from: born, type: date, format: yyyy-MM-dd }
        """;

    /// <summary>The mart: a dimension rebuilt from the history table.</summary>
    public static string DimSql(string? schema = null) => schema is null
        ? "DROP TABLE IF EXISTS dim_citizen;\nCREATE TABLE dim_citizen AS SELECT citizen_id, name, street FROM citizen;\n"
        : $"DROP TABLE IF EXISTS {schema}.dim_citizen;\nCREATE TABLE {schema}.dim_citizen AS SELECT citizen_id, name, street FROM {schema}.citizen;\n";

    public static void Setup(Workspace ws, string? schema = null)
    {
        ws.Write("citizen.yaml", Manifest(schema));
        ws.Write("mart/01_dim_citizen.sql", DimSql(schema));
        Directory.CreateDirectory(ws.PathOf("landing"));
    }

    /// <summary>A month's register: citizen_id,name,street,born.</summary>
    public static string Register(params string[] rows) => "citizen_id,name,street,born\n" + string.Join("\n", rows) + "\n";

    public static void Land(Workspace ws, string name, string content) => ws.Write(Path.Combine("landing", name), content);

    public static List<JsonElement> Json(CliResult result) =>
        JsonDocument.Parse(result.Output).RootElement.EnumerateArray().ToList();

    public static async Task<List<JsonElement>> FilesAsync(Workspace ws)
    {
        var result = await ws.Ferry("files", "citizen.yaml", "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        return Json(result);
    }

    public static async Task<List<JsonElement>> AuditAsync(Workspace ws)
    {
        var result = await ws.Ferry("audit", "citizen.yaml", "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        return Json(result);
    }

    /// <summary>Each registered file as "version name status", in registry order.</summary>
    public static async Task<List<string>> RegistryAsync(Workspace ws) =>
        (await FilesAsync(ws)).Select(f => $"{f.GetProperty("version").GetInt64()} {f.GetProperty("name").GetString()} {f.GetProperty("status").GetString()}").ToList();

    /// <summary>Nothing of the file reached the target: no table, no run, no stage file.</summary>
    public static void AssertNothingLoaded(Workspace ws)
    {
        Assert.Equal(0L, ws.Scalar(Db, "SELECT count(*) FROM sqlite_master WHERE name = 'citizen'"));
        Assert.Equal(0L, ws.Scalar(Db, "SELECT count(*) FROM ferry_runs"));
        Assert.False(Directory.Exists(ws.PathOf("stage/register")) && Directory.EnumerateFiles(ws.PathOf("stage/register")).Any());
    }

    public static List<string> Citizens(Workspace ws, string table = "citizen") =>
        ws.Query(Db, $"SELECT citizen_id, name, street FROM {table} ORDER BY citizen_id").Select(r => $"{r["citizen_id"]}|{r["name"]}|{r["street"]}").ToList();
}
