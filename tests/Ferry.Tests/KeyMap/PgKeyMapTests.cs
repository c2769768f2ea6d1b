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

    [Fact]
    public async Task A_batch_range_rollback_removes_the_entries_of_its_rows_only_and_a_resumed_run_adds_them_once()
    {
        using var pg = Start();
        var ws = pg.Workspace;
        Assert.True((await ws.Ferry("run", "ferry.yaml")).ExitCode == 3);
        var run = RunsOf(pg)[0];
        var entries = KeyMap(pg);
        var batches = Pg.Query("SELECT batch_no FROM ferry.batches WHERE run_id = @r AND entity = @e ORDER BY 1", ("r", run), ("e", StudentEntity))
            .Select(r => Convert.ToInt32(r["batch_no"], CultureInfo.InvariantCulture)).ToList();
        var tail = $"{batches[^2]}-{batches[^1]}";

        var rollback = await ws.Ferry("rollback", run.ToString(CultureInfo.InvariantCulture), "ferry.yaml", "--entity", StudentEntity, "--batches", tail);

        Assert.True(rollback.ExitCode == 0, rollback.ToString());
        // The last two batches' students are gone, and so are their entries; every other entry stays.
        Assert.Equal(0, Unmatched(pg, "student"));
        Assert.Equal(0, Unmatched(pg, "school"));
        var left = KeyMap(pg);
        Assert.True(left.Count < entries.Count);
        Assert.All(left, e => Assert.Contains(e, entries));
        Assert.Equal(entries.Count(e => e.StartsWith(SchoolEntity + " ", StringComparison.Ordinal)), left.Count(e => e.StartsWith(SchoolEntity + " ", StringComparison.Ordinal)));
        Assert.Equal(0, Pg.Count("SELECT count(*) FROM ferry.key_map_batches WHERE run_id = @r AND entity = @e AND cardinality(legacy_keys) = 0", ("r", run), ("e", StudentEntity)));

        var resumed = await ws.Ferry("run", "ferry.yaml", "--resume");

        Assert.True(resumed.ExitCode == 3, resumed.ToString());
        Assert.Equal(entries, KeyMap(pg));
        Assert.Empty(Pg.Query("SELECT entity, tenant, legacy_key FROM ferry.key_map WHERE run_id = @r GROUP BY 1, 2, 3 HAVING count(*) > 1", ("r", run)));
    }

    [Fact]
    public async Task A_batch_done_again_after_a_rollback_that_kept_some_of_its_entries_adds_the_rest_to_them()
    {
        using var pg = Start();
        var ws = pg.Workspace;
        const int Late = Students - 11; // a student of the last batch, whose school is there
        void Legacy(string sql)
        {
            using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={ws.PathOf("legacy.db")};Pooling=False");
            connection.Open();
            using var command = new Microsoft.Data.Sqlite.SqliteCommand(sql, connection);
            command.ExecuteNonQuery();
        }
        Legacy($"DELETE FROM students WHERE id = {Late}");
        Assert.True((await ws.Ferry("run", "ferry.yaml")).ExitCode == 3);
        var run1 = RunsOf(pg)[0];
        var lastBatch = Pg.Count("SELECT max(batch_no) FROM ferry.batches WHERE run_id = @r AND entity = @e", ("r", run1), ("e", StudentEntity));
        // The last batch's students lose their entries (rows held without them, as rows another manifest
        // loaded would be), and the source gets the late student, who falls in that batch.
        Pg.Execute("DELETE FROM ferry.key_map_batches WHERE run_id = @r AND entity = @e AND batch_no = @b", ("r", run1), ("e", StudentEntity), ("b", lastBatch));
        Legacy($"INSERT INTO students VALUES ({Late}, {District.SchoolOf(Late, Schools)}, 'Student {Late}')");

        // The next run records the batch's keys again and inserts the late student; its last batch is then rolled back.
        var second = await ws.Ferry("run", "ferry.yaml");
        Assert.True(second.ExitCode == 3, second.ToString());
        var run2 = RunsOf(pg)[1];
        var last2 = Pg.Count("SELECT max(batch_no) FROM ferry.batches WHERE run_id = @r AND entity = @e", ("r", run2), ("e", StudentEntity));
        Assert.Equal(1, Pg.Count("SELECT count(*) FROM ferry.key_map WHERE run_id = @r AND entity = @e AND legacy_key = @k", ("r", run2), ("e", StudentEntity), ("k", Late.ToString(CultureInfo.InvariantCulture))));
        var rollback = await ws.Ferry("rollback", run2.ToString(CultureInfo.InvariantCulture), "ferry.yaml", "--entity", StudentEntity, "--batches", $"{last2}-{last2}");
        Assert.True(rollback.ExitCode == 0, rollback.ToString());
        Assert.Equal(0, Pg.Count($"""SELECT count(*) FROM "{pg.Schema}".student WHERE legacy_id = {Late}"""));
        Assert.Equal(0, Unmatched(pg, "student"));
        Assert.True(Pg.Count("SELECT count(*) FROM ferry.key_map_batches WHERE run_id = @r AND entity = @e AND batch_no = @b", ("r", run2), ("e", StudentEntity), ("b", last2)) == 1,
            "the rollback kept the entries of the batch's rows it did not delete");

        // Resumed, the batch's row in the key map gets the late student's key beside the ones it kept.
        var resumed = await ws.Ferry("run", "ferry.yaml", "--resume");
        Assert.True(resumed.ExitCode == 3, resumed.ToString());
        Assert.Equal(1, Pg.Count($"""SELECT count(*) FROM "{pg.Schema}".student WHERE legacy_id = {Late}"""));
        Assert.Equal(0, Unmatched(pg, "student"));
        Assert.Equal(1, Pg.Count("SELECT count(*) FROM ferry.key_map WHERE entity = @e AND legacy_key = @k", ("e", StudentEntity), ("k", Late.ToString(CultureInfo.InvariantCulture))));
        Assert.Empty(Pg.Query("SELECT entity, tenant, legacy_key FROM ferry.key_map WHERE entity = @e GROUP BY 1, 2, 3 HAVING count(*) > 1", ("e", StudentEntity)));
    }

    [Fact]
    public async Task A_ledger_with_a_row_a_key_is_upgraded_in_place_and_keeps_serving_lookups_reruns_and_rollback()
    {
        // A database of its own: the test puts the ledger's key map back in the form older versions wrote.
        var database = "ferry_km_" + Guid.NewGuid().ToString("N")[..10];
        Pg.Execute($"CREATE DATABASE {database}");
        var connection = new Npgsql.NpgsqlConnectionStringBuilder(Pg.ConnectionString) { Database = database, Pooling = false }.ConnectionString;
        void Execute(string sql)
        {
            using var c = new Npgsql.NpgsqlConnection(connection);
            c.Open();
            using var command = new Npgsql.NpgsqlCommand(sql, c);
            command.ExecuteNonQuery();
        }
        T Scalar<T>(string sql)
        {
            using var c = new Npgsql.NpgsqlConnection(connection);
            c.Open();
            using var command = new Npgsql.NpgsqlCommand(sql, c);
            return command.ExecuteScalar() is var value && value is DBNull ? default! : (T)value!;
        }
        string Entries() => Scalar<string?>("SELECT string_agg(entity || ' ' || legacy_key || ' ' || uuid || ' ' || run_id, ',' ORDER BY entity, legacy_key::int) FROM ferry.key_map") ?? "";
        try
        {
            using var ws = new Support.Workspace();
            District.WriteLegacy(ws, Schools, Students);
            ws.Write("ferry.yaml", District.Manifest($$"""{ type: postgres, connection: "{{connection}}", schema: district }""", BatchSize));
            Assert.True((await ws.Ferry("run", "ferry.yaml")).ExitCode == 3);
            var loaded = Entries();
            Assert.Equal(Schools - 1 + Students - District.Orphans(Schools, Students), loaded.Split(',').Length);
            Execute("""
                DROP VIEW ferry.key_map;
                ALTER TABLE ferry.key_map_rows RENAME TO key_map;
                INSERT INTO ferry.key_map SELECT b.entity, b.tenant, k.legacy_key, k.uuid, b.run_id FROM ferry.key_map_batches b, unnest(b.legacy_keys, b.uuids) AS k (legacy_key, uuid);
                DROP TABLE ferry.key_map_batches;
                """);
            Assert.Equal("r", Scalar<char>("SELECT relkind FROM pg_class WHERE oid = 'ferry.key_map'::regclass").ToString());

            // The next run finds every entry where the old form left it: nothing to add, no parent missing.
            var rerun = await ws.Ferry("run", "ferry.yaml");
            Assert.True(rerun.ExitCode == 3, rerun.ToString());
            Assert.Equal("v", Scalar<char>("SELECT relkind FROM pg_class WHERE oid = 'ferry.key_map'::regclass").ToString());
            Assert.Equal(loaded, Entries());
            Assert.Equal(0L, Scalar<long>("SELECT count(*) FROM ferry.key_map_batches"));
            Assert.Equal((long)(Students - District.Orphans(Schools, Students)), Scalar<long>("SELECT count(*) FROM district.student"));

            // A new student gets one entry, next to the old ones; its school is found among them.
            using (var legacy = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={ws.PathOf("legacy.db")};Pooling=False"))
            {
                legacy.Open();
                using var insert = new Microsoft.Data.Sqlite.SqliteCommand($"INSERT INTO students VALUES ({Students + 1}, 1, 'newcomer')", legacy);
                insert.ExecuteNonQuery();
            }
            Assert.True((await ws.Ferry("run", "ferry.yaml")).ExitCode == 3);
            Assert.Equal(1L, Scalar<long>($"SELECT count(*) FROM ferry.key_map WHERE legacy_key = '{Students + 1}' AND entity = 'student'"));
            Assert.Equal(1L, Scalar<long>($"SELECT count(*) FROM district.student s JOIN district.school c ON c.id = s.school_id WHERE s.legacy_id = {Students + 1} AND c.legacy_id = 1"));
            Assert.Equal(0L, Scalar<long>("SELECT count(*) FROM (SELECT entity, tenant, legacy_key FROM ferry.key_map GROUP BY 1, 2, 3 HAVING count(*) > 1) d"));

            // Rolling the runs back removes the entries of both forms.
            foreach (var run in new[] { "3", "2", "1" })
            {
                var rollback = await ws.Ferry("rollback", run, "ferry.yaml");
                Assert.True(rollback.ExitCode == 0, rollback.ToString());
                if (run == "3")
                    Assert.Equal(loaded, Entries());
            }
            Assert.Equal("", Entries());
        }
        finally
        {
            Npgsql.NpgsqlConnection.ClearAllPools();
            Pg.Execute($"DROP DATABASE IF EXISTS {database} WITH (FORCE)");
        }
    }
}
