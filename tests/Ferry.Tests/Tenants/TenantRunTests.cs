using System.Text.Json;
using Ferry.Tests.Postgres;

namespace Ferry.Tests.Tenants;

/// <summary>
/// Consolidation into PostgreSQL through the real CLI: three districts' databases (two SQLite files,
/// one MariaDB database) become one multi-tenant schema, each row carrying its district.
/// </summary>
public class TenantRunTests
{
    [Fact]
    public async Task Three_tenants_load_into_one_schema_with_tenant_ids_per_tenant_counts_and_a_reconciliation_in_the_ledger()
    {
        using var kit = new TenantKit();
        kit.Write(kit.Manifest());
        var run = await kit.Ferry("run", "ferry.yaml", "--log-json", "log.jsonl");
        Assert.True(run.ExitCode == 0, run.ToString());

        Assert.Equal(12, kit.Count("SELECT count(*) FROM {schema}.school"));
        Assert.Equal(69, kit.Count("SELECT count(*) FROM {schema}.student"));
        foreach (var tenant in TenantKit.Tenants)
        {
            Assert.Equal(23, kit.Count($"SELECT count(*) FROM {{schema}}.student WHERE district = '{tenant}'"));
            Assert.Equal($"{tenant} student 1", kit.Query($"SELECT name FROM {{schema}}.student WHERE district = '{tenant}' AND id = 1")[0]["name"]);
        }
        // The same legacy key in every tenant: three rows, told apart by the district.
        Assert.Equal(3, kit.Count("SELECT count(*) FROM {schema}.student WHERE id = 7"));
        Assert.Equal(0, kit.Count("SELECT count(*) FROM {schema}.school WHERE district IS NULL"));

        // The ledger: counts per entity and tenant, batch records naming their tenant, numbered apart.
        var status = await kit.Ferry("status", "ferry.yaml", "--json");
        using var json = JsonDocument.Parse(status.Output);
        var entities = json.RootElement.GetProperty("entities").EnumerateArray()
            .Select(e => (e.GetProperty("entity").GetString(), e.GetProperty("tenant").GetString(), e.GetProperty("inserted").GetInt64())).ToList();
        Assert.Equal(6, entities.Count);
        foreach (var tenant in TenantKit.Tenants)
        {
            Assert.Contains(("school", tenant, 4L), entities);
            Assert.Contains(("student", tenant, 23L), entities);
        }
        var runId = json.RootElement.GetProperty("run_id").GetInt64();
        Assert.Equal(15, kit.Count($"SELECT count(DISTINCT batch_no) FROM ferry.batches WHERE run_id = {runId} AND entity = 'student'"));
        Assert.Equal(5, kit.Count($"SELECT count(*) FROM ferry.batches WHERE run_id = {runId} AND entity = 'student' AND tenant = 'river'"));
        Assert.Equal(23, kit.Count($"SELECT count(*) FROM ferry.stage_student WHERE run_id = {runId} AND tenant = 'south'"));

        // Within each tenant, school (listed second) loaded before student, which depends on it.
        var started = File.ReadAllLines(kit.Workspace.PathOf("log.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("event").GetString() == "entity_started")
            .Select(e => (Tenant: e.GetProperty("tenant").GetString(), Entity: e.GetProperty("entity").GetString())).ToList();
        foreach (var tenant in TenantKit.Tenants)
            Assert.Equal(["school", "student"], started.Where(s => s.Tenant == tenant).Select(s => s.Entity));

        // The end-of-run reconciliation checked every entity of every tenant, and the ledger keeps it.
        var checks = json.RootElement.GetProperty("reconciliations").EnumerateArray().ToList();
        Assert.Equal(6, checks.Select(c => (c.GetProperty("entity").GetString(), c.GetProperty("tenant").GetString())).Distinct().Count());
        Assert.All(checks, c => Assert.True(c.GetProperty("passed").GetBoolean()));
        Assert.Equal(0, kit.Count($"SELECT count(*) FROM ferry.reconciliations WHERE run_id = {runId} AND NOT passed"));
        Assert.Equal(24, kit.Count($"SELECT count(*) FROM ferry.reconciliations WHERE run_id = {runId}"));

        // A re-run changes nothing: every row of every tenant is unchanged.
        var again = await kit.Ferry("run", "ferry.yaml");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(0, kit.Count("SELECT sum(inserted + updated) FROM ferry.run_tenants WHERE run_id = (SELECT max(run_id) FROM ferry.run_tenants WHERE entity = 'student' AND run_id > " + runId + ")"));
    }

    [Fact]
    public async Task Tenant_and_entity_narrow_a_run_and_an_unknown_tenant_is_a_usage_error_naming_the_known_ones()
    {
        using var kit = new TenantKit();
        kit.Write(kit.Manifest());
        var unknown = await kit.Ferry("run", "ferry.yaml", "--tenant", "east");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("no tenant named 'east'", unknown.Error, StringComparison.Ordinal);
        Assert.Contains("north, south, river", unknown.Error, StringComparison.Ordinal);

        var south = await kit.Ferry("run", "ferry.yaml", "--tenant", "south", "--entity", "school");
        Assert.True(south.ExitCode == 0, south.ToString());
        Assert.Equal(["south"], kit.Query("SELECT DISTINCT district FROM {schema}.school").Select(r => (string)r["district"]!));
        Assert.Equal(4, kit.Count("SELECT count(*) FROM {schema}.school"));
        Assert.False(Pg.TableExists($"{kit.Schema}.student"));

        var river = await kit.Ferry("run", "ferry.yaml", "--tenant", "river");
        Assert.True(river.ExitCode == 0, river.ToString());
        Assert.Equal(8, kit.Count("SELECT count(*) FROM {schema}.school"));
        Assert.Equal(23, kit.Count("SELECT count(*) FROM {schema}.student WHERE district = 'river'"));
        Assert.Equal(23, kit.Count("SELECT count(*) FROM {schema}.student"));
    }

    [Fact]
    public async Task Three_tenants_in_parallel_leave_the_same_target_as_one_at_a_time()
    {
        using var serial = new TenantKit();
        using var parallel = new TenantKit();
        serial.Write(serial.Manifest());
        parallel.Write(parallel.Manifest());
        var one = await serial.Ferry("run", "ferry.yaml", "--parallel", "1");
        Assert.True(one.ExitCode == 0, one.ToString());
        var three = await parallel.Ferry("run", "ferry.yaml", "--parallel", "3");
        Assert.True(three.ExitCode == 0, three.ToString());
        Assert.Equal(serial.Dump("school"), parallel.Dump("school"));
        Assert.Equal(serial.Dump("student"), parallel.Dump("student"));
        Assert.Equal(69, parallel.Dump("student").Count);
        // Every batch number of an entity is taken once, whichever tenant took it.
        Assert.Equal(0, parallel.Count("SELECT count(*) FROM (SELECT run_id, entity, batch_no FROM ferry.batches GROUP BY 1, 2, 3 HAVING count(*) > 1) d"));
    }

    [Fact]
    public async Task Reconciliation_names_the_entity_and_tenant_of_a_row_changed_or_deleted_behind_ferrys_back()
    {
        using var kit = new TenantKit();
        kit.Write(kit.Manifest());
        var run = await kit.Ferry("run", "ferry.yaml");
        Assert.True(run.ExitCode == 0, run.ToString());

        Pg.Execute($"DELETE FROM \"{kit.Schema}\".student WHERE district = 'south' AND id = 4");
        Pg.Execute($"UPDATE \"{kit.Schema}\".school SET name = 'renamed' WHERE district = 'river' AND id = 2");
        var reconcile = await kit.Ferry("reconcile", "ferry.yaml", "--json", "-");
        Assert.Equal(4, reconcile.ExitCode);
        using var report = JsonDocument.Parse(reconcile.Output[..(reconcile.Output.LastIndexOf('}') + 1)]);
        var mismatches = report.RootElement.GetProperty("mismatches").EnumerateArray()
            .Select(m => (Entity: m.GetProperty("entity").GetString(), Tenant: m.GetProperty("tenant").GetString(), Message: m.GetProperty("message").GetString()!)).ToList();
        Assert.Contains(mismatches, m => m is { Entity: "student", Tenant: "south" } && m.Message.Contains("student (tenant south)", StringComparison.Ordinal) && m.Message.Contains("missing", StringComparison.Ordinal));
        Assert.Contains(mismatches, m => m is { Entity: "school", Tenant: "river" } && m.Message.Contains("school (tenant river)", StringComparison.Ordinal));
        Assert.DoesNotContain(mismatches, m => m.Tenant == "north");

        // The failed checks are in the ledger, per entity and tenant.
        var failed = kit.Query("SELECT entity, tenant, \"check\" FROM ferry.reconciliations WHERE NOT passed AND run_id = (SELECT max(run_id) FROM ferry.run_tenants WHERE run_id IN (SELECT run_id FROM ferry.runs WHERE manifest = '" + kit.Workspace.PathOf("ferry.yaml") + "')) ORDER BY 1, 2")
            .Select(r => $"{r["entity"]}/{r["tenant"]}/{r["check"]}").ToList();
        Assert.Equal(["school/river/content", "student/south/content"], failed.Distinct());
    }
}
