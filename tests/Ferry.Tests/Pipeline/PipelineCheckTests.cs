using Ferry.Tests.Support;
using static Ferry.Tests.Pipeline.PipelineKit;

namespace Ferry.Tests.Pipeline;

/// <summary><c>ferry check</c> of a manifest whose files come through the landing folder.</summary>
public class PipelineCheckTests
{
    [Fact]
    public async Task Check_passes_with_an_empty_landing_folder_and_writes_nothing()
    {
        using var ws = new Workspace();
        Setup(ws);

        var check = await ws.Ferry("check", "citizen.yaml");

        Assert.True(check.ExitCode == 0, check.ToString());
        Assert.False(File.Exists(ws.PathOf(Db)), "check must not create the target");
    }

    [Fact]
    public async Task Check_binds_expressions_to_the_newest_landed_file_and_names_the_manifest_line_of_a_bad_one()
    {
        using var ws = new Workspace();
        Setup(ws);
        // An expression over a column only the landed file has ('born' is in no 'columns:' list).
        ws.Write("citizen.yaml", PipelineKit.Manifest().Replace("      street: street", "      street: street\n      note: { expr: \"born_place ?? street\" }", StringComparison.Ordinal));
        Land(ws, "register_2026-01.csv", "citizen_id,name,street,born,born_place\n1,Ada,First Street,1990-01-01,Leeds\n");

        var good = await ws.Ferry("check", "citizen.yaml");
        Assert.True(good.ExitCode == 0, good.ToString());

        ws.Write("citizen.yaml", PipelineKit.Manifest().Replace("      street: street", "      street: street\n      note: { expr: \"no_such_column.Trim()\" }", StringComparison.Ordinal));
        var bad = await ws.Ferry("check", "citizen.yaml");

        Assert.Equal(2, bad.ExitCode);
        var line = PipelineKit.Manifest().Split('\n').ToList().FindIndex(l => l.Contains("      street: street", StringComparison.Ordinal)) + 2;
        Assert.Contains($"citizen.yaml:{line}", bad.Error, StringComparison.Ordinal);
        Assert.Contains("no_such_column", bad.Error, StringComparison.Ordinal);
    }
}
