using System.Globalization;
using Ferry.Mapping;
using Ferry.Tests.Postgres;

namespace Ferry.Tests.KeyMap;

/// <summary>
/// The key map on PostgreSQL (<c>ferry.key_map</c>): children joined to their parents' UUIDs in the
/// target, orphans, rollback, and exactly-once entries when the process is killed around a commit.
/// </summary>
public class PgKeyMapTests
{
    private const int Schools = 12;
    private const int Students = 600;
    private const int BatchSize = 100;

    // The key map is the database's: each test's entities have names of their own.
    private readonly string suffix = "_" + Guid.NewGuid().ToString("N")[..8];

    private string SchoolEntity => "school" + suffix;

    private string StudentEntity => "student" + suffix;

    private PgScope Start()
    {
        var pg = new PgScope("km");
        District.WriteLegacy(pg.Workspace, Schools, Students);
        pg.Workspace.Write("ferry.yaml", District.Manifest(District.PostgresTarget(pg.Schema), BatchSize, suffix));
        return pg;
    }

    private static long[] RunsOf(PgScope pg) => Pg.Runs(pg.Manifest()).Select(r => r.RunId).ToArray();

    /// <summary>(entity, legacy key, uuid, run) of every key map entry of the test's runs (none before any run made the ledger).</summary>
    private List<string> KeyMap(PgScope pg) => !Pg.TableExists("ferry.key_map") ? [] :
        Pg.Query("SELECT entity, legacy_key, uuid::text AS uuid, run_id FROM ferry.key_map WHERE entity = ANY(@entities) ORDER BY entity, legacy_key::int",
            ("entities", new[] { SchoolEntity, StudentEntity })).Select(r => $"{r["entity"]} {r["legacy_key"]} {r["uuid"]} {r["run_id"]}").ToList();

    /// <summary>Rows of the entity's table without their key map entry (or with another UUID), and entries without their row.</summary>
    private long Unmatched(PgScope pg, string table) => Pg.Count($"""
        SELECT count(*) FROM "{pg.Schema}"."{table}" t
        FULL JOIN (SELECT * FROM ferry.key_map WHERE entity = @entity AND tenant = '' AND run_id = ANY(@runs)) k ON k.legacy_key = t.legacy_id::text AND k.uuid = t.id
        WHERE t.id IS NULL OR k.uuid IS NULL
        """, ("entity", table + suffix), ("runs", RunsOf(pg)));

    [Fact]
    public async Task Children_reference_their_parents_UUIDs_in_uuid_columns_and_orphans_are_rejected()
    {
        using var pg = Start();
        var ws = pg.Workspace;

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 3, run.ToString()); // partial: the rejected school and the orphans; the reconciliation agrees
        var orphans = District.Orphans(Schools, Students);
        Assert.Equal(Students - orphans, pg.Count("student"));
        Assert.Equal("uuid", Pg.Scalar("SELECT data_type FROM information_schema.columns WHERE table_schema = @s AND table_name = 'student' AND column_name = 'id'", ("s", pg.Schema)));
        Assert.Equal("uuid", Pg.Scalar("SELECT data_type FROM information_schema.columns WHERE table_schema = @s AND table_name = 'student' AND column_name = 'school_id'", ("s", pg.Schema)));
        var joined = Pg.Query($"""SELECT st.legacy_id AS student, sc.legacy_id AS school FROM "{pg.Schema}".student st JOIN "{pg.Schema}".school sc ON sc.id = st.school_id""");
        Assert.Equal(Students - orphans - 1, joined.Count);
        Assert.All(joined, r => Assert.Equal(District.SchoolOf((int)(long)r["student"]!, Schools), (int)(long)r["school"]!));
        Assert.Equal(DeterministicUuid.ForLegacyKey(SchoolEntity, "", "5"), Pg.Scalar($"""SELECT id FROM "{pg.Schema}".school WHERE legacy_id = 5"""));
        Assert.Equal(0, Unmatched(pg, "school"));
        Assert.Equal(0, Unmatched(pg, "student"));

        var runId = RunsOf(pg)[0];
        var orphan = Assert.Single(Pg.Stage(runId, StudentEntity), s => s.Errors is not null && s.Raw!.Contains($"\"id\":\"{District.OrphanStudent}\"", StringComparison.Ordinal));
        Assert.Equal(("school_id", "lookup", $"orphan: no {SchoolEntity} with legacy key {District.MissingSchool}"), Assert.Single(Pg.Issues(orphan.Errors)));
        var list = await ws.Ferry("rejects", "list", "ferry.yaml", "--entity", StudentEntity);
        Assert.Contains($"orphan: no {SchoolEntity} with legacy key {District.MissingSchool}", list.Output);
        Assert.Contains($"orphan: no {SchoolEntity} with legacy key {District.RejectedSchool}", list.Output);
        Assert.Contains($"{orphans} rejected row(s)", list.Output);
    }

    [Fact]
    public async Task Rollback_deletes_the_runs_key_map_entries_and_a_new_run_gives_the_same_UUIDs()
    {
        using var pg = Start();
        var ws = pg.Workspace;
        var first = await ws.Ferry("run", "ferry.yaml");
        Assert.True(first.ExitCode == 3, first.ToString());
        var run1 = RunsOf(pg)[0];
        var students = pg.Dump("student", "legacy_id");
        var entries = KeyMap(pg).Select(e => e[..e.LastIndexOf(' ')]).ToList();
        Assert.Equal(Schools - 1 + Students - District.Orphans(Schools, Students), entries.Count);

        var rollback = await ws.Ferry("rollback", run1.ToString(CultureInfo.InvariantCulture), "ferry.yaml");
        Assert.True(rollback.ExitCode == 0, rollback.ToString());
        Assert.Equal(0, pg.Count("student"));
        Assert.Empty(KeyMap(pg));

        var again = await ws.Ferry("run", "ferry.yaml");
        Assert.True(again.ExitCode == 3, again.ToString());
        Assert.Equal(students, pg.Dump("student", "legacy_id"));
        var run2 = RunsOf(pg)[1];
        Assert.All(KeyMap(pg), e => Assert.EndsWith($" {run2}", e, StringComparison.Ordinal));
        Assert.Equal(entries, KeyMap(pg).Select(e => e[..e.LastIndexOf(' ')]).ToList());

        // A third run changes nothing and adds no entry; rolling it back leaves the second run's entries.
        var third = await ws.Ferry("run", "ferry.yaml");
        Assert.True(third.ExitCode == 3, third.ToString());
        var run3 = RunsOf(pg)[2];
        Assert.True((await ws.Ferry("rollback", run3.ToString(CultureInfo.InvariantCulture), "ferry.yaml")).ExitCode == 0);
        Assert.Equal(entries.Count, KeyMap(pg).Count);
        Assert.Equal(students, pg.Dump("student", "legacy_id"));
    }

    [Theory]
    [InlineData("postgres.before-commit")]
    [InlineData("postgres.after-commit")]
    public async Task Key_map_entries_commit_with_their_batch_when_the_process_is_killed_and_resumed(string point)
    {
        using var pg = Start();
        var ws = pg.Workspace;
        const int KillBatch = 3; // of the students, after every school committed

        // The second entity's third batch: the fault's batch number counts within an entity, so the schools' single batch never reaches 3.
        var killed = await FerryProcess.RunAsync(ws, new Dictionary<string, string?> { ["FERRY_FAULT"] = $"{point}:{KillBatch}" }, "run", "ferry.yaml");

        Assert.True(killed.ExitCode == 137, killed.ToString());
        var runId = Assert.Single(RunsOf(pg));
        Assert.Equal(0, Unmatched(pg, "school"));
        Assert.Equal(0, Unmatched(pg, "student"));
        var committed = point == "postgres.after-commit" ? KillBatch : KillBatch - 1;
        Assert.Equal(committed, Pg.Count("SELECT count(*) FROM ferry.batches WHERE run_id = @r AND entity = @e AND state = 'committed'", ("r", runId), ("e", StudentEntity)));
        Assert.Equal(pg.Count("student"), Pg.Count("SELECT count(*) FROM ferry.key_map WHERE run_id = @r AND entity = @e", ("r", runId), ("e", StudentEntity)));

        var resumed = await FerryProcess.RunAsync(ws, null, "run", "ferry.yaml");

        Assert.True(resumed.ExitCode == 3, resumed.ToString());
        Assert.Equal(runId, Assert.Single(RunsOf(pg)));
        Assert.Equal(Students - District.Orphans(Schools, Students), pg.Count("student"));
        Assert.Equal(0, Unmatched(pg, "school"));
        Assert.Equal(0, Unmatched(pg, "student"));
        Assert.Empty(Pg.Query("SELECT entity, tenant, legacy_key FROM ferry.key_map WHERE run_id = @r GROUP BY 1, 2, 3 HAVING count(*) > 1", ("r", runId)));
        var joined = Pg.Count($"""SELECT count(*) FROM "{pg.Schema}".student st JOIN "{pg.Schema}".school sc ON sc.id = st.school_id""");
        Assert.Equal(Students - District.Orphans(Schools, Students) - 1, joined);
    }

    [Fact]
    public async Task A_dry_run_finds_the_parents_it_loaded_in_its_own_transaction_and_leaves_no_entry()
    {
        using var pg = Start();
        var ws = pg.Workspace;

        var dry = await ws.Ferry("run", "ferry.yaml", "--dry-run");

        Assert.True(dry.ExitCode == 3, dry.ToString());
        Assert.Contains("would insert", dry.Output);
        // Only the real orphans were rejected: every other student found its school.
        Assert.Contains($"… and {District.Orphans(Schools, Students) + 1 - 20:N0} more", dry.Output);
        Assert.False(Pg.TableExists($"{pg.Schema}.student"));
        Assert.Empty(KeyMap(pg));
    }
}
