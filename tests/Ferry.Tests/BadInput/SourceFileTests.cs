using Ferry.Tests.Support;
using static Ferry.Tests.BadInput.BadInputKit;

namespace Ferry.Tests.BadInput;

public class SourceFileTests
{
    [Fact]
    public async Task Missing_source_file_fails_naming_the_path_and_leaves_the_target_and_ledger_alone()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        var before = ws.Fingerprint(Db);
        File.Delete(ws.PathOf("data.csv"));

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains(ws.PathOf("data.csv"), run.Error, StringComparison.Ordinal);
        Assert.Contains("not found", run.Error, StringComparison.Ordinal);
        Assert.Equal(before, ws.Fingerprint(Db));
        Assert.Equal(1, Runs(ws));
        Assert.False(File.Exists(ws.PathOf("data.csv")), "the run must not create the missing source");
    }

    [Fact]
    public async Task Check_reports_a_missing_source_file_too()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        var before = ws.Fingerprint(Db);
        File.Delete(ws.PathOf("data.csv"));

        var check = await ws.Ferry("check", "ferry.yaml");

        Assert.True(check.ExitCode == 1, check.ToString());
        Assert.Contains(ws.PathOf("data.csv"), check.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("ready to run", check.Output, StringComparison.Ordinal);
        Assert.Equal(before, ws.Fingerprint(Db));
    }

    [Fact]
    public async Task Missing_source_override_fails_naming_that_path_and_records_no_run()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        var before = ws.Fingerprint(Db);

        var run = await ws.Ferry("run", "ferry.yaml", "--source", "fixes/corrected.csv");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains(ws.PathOf(Path.Combine("fixes", "corrected.csv")), run.Error, StringComparison.Ordinal);
        Assert.Equal(before, ws.Fingerprint(Db));
        Assert.Equal(1, Runs(ws));
    }

    [Fact]
    public async Task Missing_xlsx_source_fails_naming_the_path_and_records_no_run()
    {
        using var ws = new Workspace();
        ws.WriteBytes("data.xlsx", Workbooks.People("People", [["1", "Ada", "London"], ["2", "Brian", "Leeds"]]));
        ws.Write("ferry.yaml", ManifestYaml(XlsxSource()));
        var good = await ws.Ferry("run", "ferry.yaml");
        Assert.True(good.ExitCode == 0, good.ToString());
        var before = ws.Fingerprint(Db);
        File.Delete(ws.PathOf("data.xlsx"));

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains(ws.PathOf("data.xlsx"), run.Error, StringComparison.Ordinal);
        Assert.Equal(before, ws.Fingerprint(Db));
        Assert.Equal(1, Runs(ws));
    }
}
