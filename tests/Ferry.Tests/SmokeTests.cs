using Ferry.Tests.Support;

namespace Ferry.Tests;

public class SmokeTests
{
    [Fact]
    public async Task Example_manifest_first_run_is_partial_and_lands_the_valid_rows()
    {
        using var ws = new Workspace();
        var example = Path.Combine(RepoPaths.Root, "examples", "foi-import");
        File.Copy(Path.Combine(example, "ferry.yaml"), ws.PathOf("ferry.yaml"));
        Directory.CreateDirectory(ws.PathOf("data"));
        File.Copy(Path.Combine(example, "data", "foi_requests.csv"), ws.PathOf("data/foi_requests.csv"));

        var result = await ws.Ferry("run", "ferry.yaml");

        Assert.True(result.ExitCode == 3, result.ToString());
        var loaded = (long)ws.Scalar("foi.db", "SELECT count(*) FROM foi_request")!;
        var rejected = (long)ws.Scalar("foi.db", "SELECT count(*) FROM ferry_stage_foi_request WHERE status = 'error'")!;
        Assert.Equal(3000, loaded + rejected);
        Assert.InRange(rejected, 30, 90);
    }
}
