using System.Globalization;
using System.Text;
using Ferry.Tests.Postgres;

namespace Ferry.Tests.KeyMap;

/// <summary>
/// A table Ferry creates for an entity keyed by its <c>uuid: legacy</c> column gets its primary key
/// once the entity's rows are in: built at the entity's end, by the resume of a run killed before
/// that, or at once when a legacy key repeats; the rows' versions are recorded right without the key.
/// </summary>
public class PgDeferredKeyTests
{
    private const int Schools = 12;
    private const int Students = 600;
    private const int BatchSize = 100;
    private readonly string suffix = "_" + Guid.NewGuid().ToString("N")[..8];

    private static bool HasPrimaryKey(PgScope pg, string table) =>
        Pg.Count("SELECT count(*) FROM pg_index WHERE indrelid = to_regclass(@t) AND indisprimary", ("t", $"\"{pg.Schema}\".\"{table}\"")) == 1;

    private static bool KeyWaiting(PgScope pg, string table) =>
        Pg.TableExists("ferry.deferred_keys") && Pg.Count("SELECT count(*) FROM ferry.deferred_keys WHERE target_schema = @s AND target = @t", ("s", pg.Schema), ("t", table)) == 1;

    /// <summary>Committed batch records of the entity whose row versions are not the versions of their rows in the table.</summary>
    private static long WrongVersions(PgScope pg, long run, string entity, string table) => Pg.Count($"""
        SELECT count(*) FROM ferry.batches b
        WHERE b.run_id = @r AND b.entity = @e AND b.state = 'committed'
          AND b.version_set IS DISTINCT FROM (SELECT array_agg(DISTINCT t.xmin::text::bigint) FROM "{pg.Schema}"."{table}" t WHERE t.id::text = ANY(b.keys))
        """, ("r", run), ("e", entity));

    /// <summary>A schema of its own with the district's legacy database and manifest (schools, then students).</summary>
    private PgScope DistrictScope()
    {
        var pg = new PgScope("dk");
        District.WriteLegacy(pg.Workspace, Schools, Students);
        pg.Workspace.Write("ferry.yaml", District.Manifest(District.PostgresTarget(pg.Schema), BatchSize, suffix));
        return pg;
    }

    /// <summary>Runs ferry and lets it kill itself once <paramref name="batch"/> of the students has committed.</summary>
    private static async Task<long> KilledAfterAsync(PgScope pg, int batch)
    {
        var killed = await FerryProcess.RunAsync(pg.Workspace, new Dictionary<string, string?> { ["FERRY_FAULT"] = $"postgres.after-commit:{batch}" }, "run", "ferry.yaml");
        Assert.True(killed.ExitCode == 137, killed.ToString());
        return Assert.Single(Pg.Runs(pg.Manifest())).RunId;
    }

    [Fact]
    public async Task A_run_killed_before_the_entity_ends_leaves_the_key_waiting_and_its_resume_builds_it()
    {
        using var pg = DistrictScope();
        var ws = pg.Workspace;

        // The students' third batch: the schools' entity has ended, the students' has not.
        var run = await KilledAfterAsync(pg, 3);

        Assert.True(HasPrimaryKey(pg, "school"));
        Assert.False(KeyWaiting(pg, "school"));
        Assert.False(HasPrimaryKey(pg, "student"));
        Assert.True(KeyWaiting(pg, "student"));
        Assert.Equal(3 * BatchSize - District.Orphans(Schools, 3 * BatchSize), pg.Count("student"));
        Assert.Equal(0, WrongVersions(pg, run, "student" + suffix, "student"));

        var resumed = await FerryProcess.RunAsync(ws, null, "run", "ferry.yaml");

        Assert.True(resumed.ExitCode == 3, resumed.ToString()); // the orphans
        Assert.Equal(run, Assert.Single(Pg.Runs(pg.Manifest())).RunId);
        Assert.True(HasPrimaryKey(pg, "student"));
        Assert.False(KeyWaiting(pg, "student"));
        Assert.Equal(Students - District.Orphans(Schools, Students), pg.Count("student"));
        Assert.Equal(0, Pg.Count($"""SELECT count(*) FROM (SELECT id FROM "{pg.Schema}".student GROUP BY id HAVING count(*) > 1) d"""));
        Assert.Equal(0, WrongVersions(pg, run, "student" + suffix, "student"));

        // The versions the batch records hold are the rows': a re-run finds every row unchanged by them.
        var again = await ws.Ferry("run", "ferry.yaml");
        Assert.True(again.ExitCode == 3, again.ToString());
        var counts = Pg.Counts(Pg.Runs(pg.Manifest())[^1].RunId, "student" + suffix);
        Assert.Equal((0L, 0L, (long)(Students - District.Orphans(Schools, Students))), (counts.Inserted, counts.Updated, counts.Unchanged));
    }

    [Fact]
    public async Task A_new_run_after_a_killed_one_builds_the_key_it_left_before_writing()
    {
        using var pg = DistrictScope();
        var ws = pg.Workspace;
        var killedRun = await KilledAfterAsync(pg, 2);
        Assert.True(KeyWaiting(pg, "student"));

        var restarted = await FerryProcess.RunAsync(ws, null, "run", "ferry.yaml", "--restart");

        Assert.True(restarted.ExitCode == 3, restarted.ToString());
        var run = Pg.Runs(pg.Manifest())[^1].RunId;
        Assert.NotEqual(killedRun, run);
        Assert.True(HasPrimaryKey(pg, "student"));
        Assert.False(KeyWaiting(pg, "student"));
        Assert.Equal(Students - District.Orphans(Schools, Students), pg.Count("student"));
        // The killed run's rows were there, keyed, before the new run wrote: it found them, it did not add them again.
        var counts = Pg.Counts(run, "student" + suffix);
        Assert.Equal(2 * BatchSize - District.Orphans(Schools, 2 * BatchSize), counts.Unchanged);
        Assert.Equal(Students - District.Orphans(Schools, Students), counts.Inserted + counts.Unchanged);
    }

    [Fact]
    public async Task Tenants_in_parallel_share_the_deferred_key_and_the_last_to_complete_an_entity_builds_it()
    {
        using var pg = new PgScope("dkt");
        var ws = pg.Workspace;
        var tenants = new[] { "d1", "d2", "d3" };
        foreach (var tenant in tenants)
            District.WriteLegacy(ws, Schools, Students, $"legacy_{tenant}.db");
        var manifest = District.Manifest(District.PostgresTarget(pg.Schema), BatchSize, suffix).Replace(
            "source: { type: sqlite, connection: \"Data Source=legacy.db\" }\n",
            "tenant_column: district\ntenants:\n" + string.Concat(tenants.Select(t => $"  - {{ id: {t}, source: {{ type: sqlite, connection: \"Data Source=legacy_{t}.db\" }} }}\n")),
            StringComparison.Ordinal);
        Assert.Contains("tenants:", manifest, StringComparison.Ordinal);
        ws.Write("ferry.yaml", manifest);
        var expected = tenants.Length * (Students - District.Orphans(Schools, Students));

        // The students' seventh batch (batch numbers run on across an entity's tenants): some tenants' students are in, none has all.
        var killed = await FerryProcess.RunAsync(ws, new Dictionary<string, string?> { ["FERRY_FAULT"] = "postgres.after-commit:7" }, "run", "ferry.yaml", "--parallel", "3");

        Assert.True(killed.ExitCode == 137, killed.ToString());
        Assert.True(HasPrimaryKey(pg, "school"));
        Assert.False(HasPrimaryKey(pg, "student"));
        Assert.True(KeyWaiting(pg, "student"));
        Assert.InRange(pg.Count("student"), 1, expected - 1);
        var run = Assert.Single(Pg.Runs(pg.Manifest())).RunId;

        var resumed = await FerryProcess.RunAsync(ws, null, "run", "ferry.yaml", "--parallel", "3");

        Assert.True(resumed.ExitCode == 3, resumed.ToString()); // the orphans
        Assert.Equal(run, Assert.Single(Pg.Runs(pg.Manifest())).RunId);
        Assert.True(HasPrimaryKey(pg, "student"));
        Assert.False(KeyWaiting(pg, "student"));
        Assert.Equal(expected, pg.Count("student"));
        Assert.Equal(0, Pg.Count($"""SELECT count(*) FROM (SELECT district, id FROM "{pg.Schema}".student GROUP BY 1, 2 HAVING count(*) > 1) d"""));
        Assert.Equal(0, Pg.Count($"""
            SELECT count(*) FROM ferry.batches b
            WHERE b.run_id = @r AND b.entity = @e AND b.state = 'committed'
              AND b.version_set IS DISTINCT FROM (SELECT array_agg(DISTINCT t.xmin::text::bigint) FROM "{pg.Schema}".student t
                                                  WHERE t.district || chr(31) || t.id::text = ANY(b.keys))
            """, ("r", run), ("e", "student" + suffix)));

        // Every tenant's students found unchanged by a re-run, through the versions their records hold.
        var again = await ws.Ferry("run", "ferry.yaml", "--parallel", "3");
        Assert.True(again.ExitCode == 3, again.ToString());
        var counts = Pg.Counts(Pg.Runs(pg.Manifest())[^1].RunId, "student" + suffix);
        Assert.Equal((0L, 0L, (long)expected), (counts.Inserted, counts.Updated, counts.Unchanged));
    }

    /// <param name="first">The line whose legacy key comes back.</param>
    /// <param name="repeat">The line that repeats it, with another name: in a later batch, or in the same one.</param>
    [Theory]
    [InlineData(50, 350)]
    [InlineData(355, 360)]
    public async Task A_legacy_key_that_repeats_builds_the_key_at_once_and_the_later_row_updates_the_earlier(int first, int repeat)
    {
        using var pg = new PgScope("dk");
        var ws = pg.Workspace;
        const int Rows = 500;
        var csv = new StringBuilder("code,name\n");
        for (var line = 1; line <= Rows; line++)
            csv.Append(CultureInfo.InvariantCulture, $"{(line == repeat ? first : line) * 7},Name {line}\n");
        ws.Write("data/things.csv", csv.ToString());
        ws.Write("ferry.yaml", $$"""
            name: deferred-key
            source: { type: csv, path: data/things.csv }
            target: { type: postgres, connection: "${FERRY_TEST_PG}", schema: {{pg.Schema}} }
            entities:
              - name: thing{{suffix}}
                table: thing
                legacy_key: [code]
                key: [id]
                batch_size: {{BatchSize}}
                columns:
                  id: { uuid: legacy }
                  code: { from: code, type: int }
                  name: name
            """);

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.True(HasPrimaryKey(pg, "thing"));
        Assert.False(KeyWaiting(pg, "thing"));
        Assert.Equal(Rows - 1, pg.Count("thing"));
        Assert.Equal($"Name {repeat}", Pg.Scalar($"""SELECT name FROM "{pg.Schema}".thing WHERE code = @c""", ("c", (long)first * 7)));
        var counts = Pg.Counts(Assert.Single(Pg.Runs(pg.Manifest())).RunId, "thing" + suffix);
        Assert.Equal((Rows - 1L, 1L), (counts.Inserted, counts.Updated));
    }
}
