using Ferry.Tests.Postgres;

namespace Ferry.Tests.Tenants;

/// <summary>
/// Undoing one tenant or a tail of batches on PostgreSQL, and a tenant's entity killed mid-run then
/// resumed: each must leave exactly what the straightforward path leaves.
/// </summary>
public class TenantRollbackResumeTests
{
    private static long LatestRun(TenantKit kit) =>
        kit.Count($"SELECT max(run_id) FROM ferry.runs WHERE manifest = '{kit.Workspace.PathOf("ferry.yaml")}'");

    private static List<string> Of(List<string> rows, string tenant) =>
        rows.Where(r => r.Contains($"\"district\":\"{tenant}\"", StringComparison.Ordinal)).ToList();

    [Fact]
    public async Task Rolling_back_one_tenant_restores_its_rows_exactly_and_leaves_the_other_tenants_changes()
    {
        using var kit = new TenantKit();
        kit.Write(kit.Manifest());
        Assert.Equal(0, (await kit.Ferry("run", "ferry.yaml")).ExitCode);
        var before = kit.Dump("student");

        kit.Legacy("north", "UPDATE students SET name = 'north renamed' WHERE id = 3;\nINSERT INTO students VALUES (24, 1, 'north newcomer', '2015-01-01')");
        kit.Legacy("south", "UPDATE students SET name = 'south renamed' WHERE id = 5");
        var second = await kit.Ferry("run", "ferry.yaml");
        Assert.True(second.ExitCode == 0, second.ToString());
        var run = LatestRun(kit);
        var after = kit.Dump("student");
        Assert.NotEqual(Of(before, "north"), Of(after, "north"));

        var rollback = await kit.Ferry("rollback", run.ToString(System.Globalization.CultureInfo.InvariantCulture), "ferry.yaml", "--tenant", "north");
        Assert.True(rollback.ExitCode == 0, rollback.ToString());
        var now = kit.Dump("student");
        Assert.Equal(Of(before, "north"), Of(now, "north"));
        Assert.Equal(Of(after, "south"), Of(now, "south"));
        Assert.Equal(Of(after, "river"), Of(now, "river"));
        // The ledger forgot north's batches of that run; the run can be resumed to load them again.
        Assert.Equal(0, kit.Count($"SELECT count(*) FROM ferry.batches WHERE run_id = {run} AND tenant = 'north'"));
        Assert.Equal("failed", kit.Query($"SELECT status FROM ferry.runs WHERE run_id = {run}")[0]["status"]);
        var resumed = await kit.Ferry("run", "ferry.yaml", "--resume");
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Equal(after, kit.Dump("student"));

        // The whole run, the resumed tenant and all, rolls back to what the first run left.
        var whole = await kit.Ferry("rollback", run.ToString(System.Globalization.CultureInfo.InvariantCulture), "ferry.yaml");
        Assert.True(whole.ExitCode == 0, whole.ToString());
        Assert.Equal(before, kit.Dump("student"));
    }

    [Fact]
    public async Task A_tail_of_batches_rolls_back_and_a_resumed_run_loads_it_again()
    {
        using var kit = new TenantKit();
        kit.Write(kit.Manifest());
        Assert.Equal(0, (await kit.Ferry("run", "ferry.yaml")).ExitCode);
        var run = LatestRun(kit).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var loaded = kit.Dump("student");
        // One tenant at a time: students of north are batches 1-5, south 6-10, river 11-15.
        Assert.Equal([11L, 12, 13, 14, 15], kit.Query($"SELECT batch_no FROM ferry.batches WHERE run_id = {run} AND entity = 'student' AND tenant = 'river' ORDER BY 1").Select(r => Convert.ToInt64(r["batch_no"], System.Globalization.CultureInfo.InvariantCulture)));

        var notTail = await kit.Ferry("rollback", run, "ferry.yaml", "--entity", "student", "--tenant", "river", "--batches", "12-13");
        Assert.Equal(1, notTail.ExitCode);
        Assert.Contains("batch 15 came later", notTail.Error, StringComparison.Ordinal);
        Assert.Equal(loaded, kit.Dump("student"));

        var tail = await kit.Ferry("rollback", run, "ferry.yaml", "--entity", "student", "--tenant", "river", "--batches", "13-15");
        Assert.True(tail.ExitCode == 0, tail.ToString());
        Assert.Equal(10, kit.Count("SELECT count(*) FROM {schema}.student WHERE district = 'river'"));
        Assert.Equal(Of(loaded, "river").Take(10), Of(kit.Dump("student"), "river"));
        Assert.Equal(10, kit.Count($"SELECT rows_read FROM ferry.run_tenants WHERE run_id = {run} AND entity = 'student' AND tenant = 'river'"));
        Assert.Equal(56, kit.Count($"SELECT rows_read FROM ferry.run_entities WHERE run_id = {run} AND entity = 'student'"));

        var resumed = await kit.Ferry("run", "ferry.yaml", "--resume");
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Contains($"run {run}", resumed.Output, StringComparison.Ordinal);
        Assert.Equal(loaded, kit.Dump("student"));
        Assert.Equal(23, kit.Count($"SELECT rows_read FROM ferry.run_tenants WHERE run_id = {run} AND entity = 'student' AND tenant = 'river'"));
        Assert.Equal(23, kit.Count($"SELECT count(*) FROM ferry.stage_student WHERE run_id = {run} AND tenant = 'river'"));
    }

    [Fact]
    public async Task A_run_killed_inside_a_tenant_resumes_to_exactly_what_an_uninterrupted_run_leaves()
    {
        using var straight = new TenantKit();
        using var killed = new TenantKit();
        straight.Write(straight.Manifest());
        killed.Write(killed.Manifest());
        Assert.Equal(0, (await straight.Ferry("run", "ferry.yaml")).ExitCode);

        // Student batch 8 is south's third: north is done, south half-way, river not begun.
        var crash = await FerryProcess.RunAsync(killed.Workspace, new Dictionary<string, string?> { ["FERRY_FAULT"] = "postgres.after-land:8" }, "run", "ferry.yaml", "--no-reconcile");
        Assert.NotEqual(0, crash.ExitCode);
        Assert.Equal(10, killed.Count("SELECT count(*) FROM {schema}.student WHERE district = 'south'"));
        Assert.Equal(0, killed.Count("SELECT count(*) FROM {schema}.student WHERE district = 'river'"));

        var resumed = await FerryProcess.RunAsync(killed.Workspace, null, "run", "ferry.yaml");
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Equal(straight.Dump("school"), killed.Dump("school"));
        Assert.Equal(straight.Dump("student"), killed.Dump("student"));
        const string Batches = "SELECT entity, tenant, batch_no, first_line, last_line, rows_read, inserted, updated, unchanged, rejected FROM ferry.batches WHERE run_id = {0} ORDER BY entity, batch_no";
        const string Tenants = "SELECT entity, tenant, rows_read, inserted, updated, unchanged, rejected FROM ferry.run_tenants WHERE run_id = {0} ORDER BY entity, tenant";
        string Lines(TenantKit kit, string sql) => string.Join("\n", kit.Query(string.Format(System.Globalization.CultureInfo.InvariantCulture, sql, LatestRun(kit))).Select(r => string.Join("|", r.Values)));
        Assert.Equal(Lines(straight, Batches), Lines(killed, Batches));
        Assert.Equal(Lines(straight, Tenants), Lines(killed, Tenants));
    }
}
