using Ferry.Tests.Support;
using static Ferry.Tests.Pipeline.PipelineKit;

namespace Ferry.Tests.Pipeline;

/// <summary>The whole chain on SQLite: monthly files into a type-2 history as of each file's date, a mart of current rows, and a version rolled back.</summary>
public class Scd2PipelineTests
{
    [Fact]
    public async Task Monthly_files_build_history_as_of_their_dates_and_roll_back_newest_first()
    {
        using var ws = new Workspace();
        Setup(ws);
        ws.Write("citizen.yaml", PipelineKit.Manifest().Replace("mode: upsert", "mode: scd2\n    scd2: { tracked: [street] }", StringComparison.Ordinal));
        ws.Write("mart/01_dim_citizen.sql", "DROP TABLE IF EXISTS dim_citizen;\nCREATE TABLE dim_citizen AS SELECT citizen_id, name, street FROM citizen WHERE is_current;\n");
        Land(ws, "register_2026-02.csv", Register("1,Ada,Second Street,1990-01-01"));
        Land(ws, "register_2026-01.csv", Register("1,Ada,First Street,1990-01-01"));

        var run = await ws.Ferry("pipeline", "run", "citizen.yaml");

        Assert.True(run.ExitCode == 0, run.ToString());
        var history = ws.Query(Db, "SELECT street, substr(valid_from, 1, 10) AS since, is_current FROM citizen ORDER BY valid_from")
            .Select(r => $"{r["street"]} {r["since"]} {r["is_current"]}").ToList();
        Assert.Equal(["First Street 2026-01-01 0", "Second Street 2026-02-01 1"], history);
        Assert.Equal(["1|Ada|Second Street"], Citizens(ws, "dim_citizen"));

        Assert.Equal(1, (await ws.Ferry("rollback", "--version", "1", "citizen.yaml")).ExitCode);
        var back = await ws.Ferry("rollback", "--version", "2", "citizen.yaml");

        Assert.True(back.ExitCode == 0, back.ToString());
        Assert.Equal(["First Street 1"], ws.Query(Db, "SELECT street, is_current FROM citizen").Select(r => $"{r["street"]} {r["is_current"]}"));
        Assert.Equal(["1|Ada|First Street"], Citizens(ws, "dim_citizen"));
        Assert.Equal(["1 register_2026-01.csv loaded", "2 register_2026-02.csv rolled_back"], await RegistryAsync(ws));
    }
}
