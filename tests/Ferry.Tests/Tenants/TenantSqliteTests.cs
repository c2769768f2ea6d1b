namespace Ferry.Tests.Tenants;

/// <summary>Tenants into the SQLite target: parallel tenants take turns at its one writer; a dry run writes nothing.</summary>
public class TenantSqliteTests
{
    [Fact]
    public async Task Three_tenants_in_parallel_into_sqlite_match_one_at_a_time()
    {
        using var serial = new TenantKit(postgres: false, students: 40);
        using var parallel = new TenantKit(postgres: false, students: 40);
        serial.Write(serial.Manifest());
        parallel.Write(parallel.Manifest());
        var one = await serial.Ferry("run", "ferry.yaml");
        Assert.True(one.ExitCode == 0, one.ToString());
        var three = await parallel.Ferry("run", "ferry.yaml", "--parallel", "3");
        Assert.True(three.ExitCode == 0, three.ToString());
        Assert.Equal(120, parallel.Dump("student").Count);
        Assert.Equal(serial.Dump("student"), parallel.Dump("student"));
        Assert.Equal(serial.Dump("school"), parallel.Dump("school"));
        Assert.Equal(40, parallel.Count("SELECT rows_read FROM ferry_run_tenants WHERE entity = 'student' AND tenant = 'river'"));
        Assert.Equal(0, parallel.Count("SELECT count(*) FROM ferry_reconciliations WHERE NOT passed"));
        Assert.Equal(24, parallel.Count("SELECT count(*) FROM ferry_reconciliations"));
    }

    [Fact]
    public async Task A_dry_run_with_tenants_writes_nothing_and_says_its_counts_are_what_would_be_written()
    {
        using var kit = new TenantKit(postgres: false);
        kit.Write(kit.Manifest());
        var dry = await kit.Ferry("run", "ferry.yaml", "--dry-run", "--parallel", "3");
        Assert.True(dry.ExitCode == 0, dry.ToString());
        Assert.False(File.Exists(kit.Workspace.PathOf("target.db")));
        Assert.Contains("would be inserted", dry.Output, StringComparison.Ordinal);
        Assert.Contains("student (river)", dry.Output, StringComparison.Ordinal);
        Assert.Contains("the counts are what a run would insert, update and reject", dry.Output, StringComparison.Ordinal);
    }
}
