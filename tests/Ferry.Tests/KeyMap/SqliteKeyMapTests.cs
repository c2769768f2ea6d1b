using System.Globalization;
using System.Text.Json;
using Ferry.Mapping;
using Ferry.Tests.Support;

namespace Ferry.Tests.KeyMap;

/// <summary>The key map on a SQLite target: UUIDs from legacy keys, lookups, orphans, re-runs and dry runs.</summary>
public class SqliteKeyMapTests
{
    private const int Schools = 10;
    private const int Students = 250;

    [Fact]
    public async Task Children_point_at_their_parents_UUIDs_and_the_key_map_holds_every_loaded_row()
    {
        using var ws = new Workspace();
        District.WriteLegacy(ws, Schools, Students);
        ws.Write("ferry.yaml", District.Manifest(District.SqliteTarget));

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 3, run.ToString());
        var orphans = District.Orphans(Schools, Students);
        Assert.Equal(Schools - 1, (long)ws.Scalar("target.db", "SELECT count(*) FROM school")!);
        Assert.Equal(Students - orphans, (long)ws.Scalar("target.db", "SELECT count(*) FROM student")!);
        // Every school UUID is the v5 UUID of its legacy key.
        foreach (var row in ws.Query("target.db", "SELECT id, legacy_id FROM school"))
            Assert.Equal(DeterministicUuid.ForLegacyKey("school", "", row["legacy_id"]!.ToString()!).ToString(), row["id"]);
        // Each student's school_id joins to the school it named in the legacy database.
        var joined = ws.Query("target.db", "SELECT st.legacy_id AS student, sc.legacy_id AS school FROM student st JOIN school sc ON sc.id = st.school_id");
        Assert.Equal(Students - orphans - 1, joined.Count); // all but the student without a school
        Assert.All(joined, r => Assert.Equal((long)District.SchoolOf((int)(long)r["student"]!, Schools), (long)r["school"]!));
        Assert.Null(ws.Scalar("target.db", $"SELECT school_id FROM student WHERE legacy_id = {District.StudentWithoutSchool}"));
        // The key map: one entry per loaded row, the same UUID as the row, none for a rejected row.
        foreach (var entity in new[] { "school", "student" })
        {
            var unmapped = ws.Scalar("target.db", $"""
                SELECT count(*) FROM {entity} t FULL JOIN (SELECT * FROM ferry_key_map WHERE entity = '{entity}') k
                    ON k.legacy_key = CAST(t.legacy_id AS TEXT) AND k.uuid = t.id AND k.tenant = '' AND k.run_id = 1
                WHERE t.id IS NULL OR k.uuid IS NULL
                """);
            Assert.Equal(0L, unmapped);
        }
        Assert.Equal(0L, ws.Scalar("target.db", $"SELECT count(*) FROM ferry_key_map WHERE entity = 'school' AND legacy_key = '{District.RejectedSchool}'"));
    }

    [Fact]
    public async Task An_orphan_is_rejected_with_the_parent_entity_and_legacy_key_and_listed_by_ferry_rejects()
    {
        using var ws = new Workspace();
        District.WriteLegacy(ws, Schools, Students);
        ws.Write("ferry.yaml", District.Manifest(District.SqliteTarget));

        var run = await ws.Ferry("run", "ferry.yaml");
        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Contains($"column school_id: lookup (error): orphan: no school with legacy key {District.MissingSchool}", run.Output);

        var list = await ws.Ferry("rejects", "list", "ferry.yaml", "--run", "1", "--entity", "student", "--json");
        Assert.True(list.ExitCode == 0, list.ToString());
        var rejects = JsonDocument.Parse(list.Output).RootElement.EnumerateArray().ToList();
        Assert.Equal(District.Orphans(Schools, Students), rejects.Count);
        var missing = Assert.Single(rejects, r => r.GetProperty("raw").GetProperty("id").GetString() == District.OrphanStudent.ToString(CultureInfo.InvariantCulture));
        var error = Assert.Single(missing.GetProperty("errors").EnumerateArray());
        Assert.Equal(("lookup", "school_id", $"orphan: no school with legacy key {District.MissingSchool}"),
            (error.GetProperty("rule").GetString(), error.GetProperty("column").GetString(), error.GetProperty("message").GetString()));
        // A student of the school the contract rejected is an orphan too.
        var ofRejected = rejects.Where(r => r.GetProperty("raw").GetProperty("school_id").GetString() == District.RejectedSchool.ToString(CultureInfo.InvariantCulture)).ToList();
        Assert.NotEmpty(ofRejected);
        Assert.All(ofRejected, r => Assert.Equal($"orphan: no school with legacy key {District.RejectedSchool}",
            Assert.Single(r.GetProperty("errors").EnumerateArray()).GetProperty("message").GetString()));
    }

    [Fact]
    public async Task An_orphan_that_also_breaks_a_rule_lists_both_messages()
    {
        using var ws = new Workspace();
        District.WriteLegacy(ws, Schools, Students);
        var manifest = District.Manifest(District.SqliteTarget);
        const string Student = "  - name: student\n    table: student\n    from: { table: students, key: [id] }\n";
        Assert.Contains(Student, manifest, StringComparison.Ordinal);
        ws.Write("ferry.yaml", manifest.Replace(Student, Student + "    rules:\n      - { column: name, regex: '^Student [0-6]$' }\n", StringComparison.Ordinal));

        var run = await ws.Ferry("run", "ferry.yaml");
        Assert.True(run.ExitCode == 3, run.ToString());

        var list = await ws.Ferry("rejects", "list", "ferry.yaml", "--run", "1", "--entity", "student", "--json");
        var orphan = Assert.Single(JsonDocument.Parse(list.Output).RootElement.EnumerateArray(),
            r => r.GetProperty("raw").GetProperty("id").GetString() == District.OrphanStudent.ToString(CultureInfo.InvariantCulture));
        Assert.Equal(["regex", "lookup"], orphan.GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("rule").GetString()));
    }

    [Fact]
    public async Task A_rerun_gives_every_row_the_same_UUID_and_adds_no_key_map_entry()
    {
        using var ws = new Workspace();
        District.WriteLegacy(ws, Schools, Students);
        ws.Write("ferry.yaml", District.Manifest(District.SqliteTarget));
        var first = await ws.Ferry("run", "ferry.yaml");
        Assert.True(first.ExitCode == 3, first.ToString());
        var students = ws.Query("target.db", "SELECT id, school_id, legacy_id FROM student ORDER BY legacy_id");
        var keyMap = ws.Query("target.db", "SELECT entity, legacy_key, uuid, run_id FROM ferry_key_map ORDER BY entity, legacy_key");

        var second = await ws.Ferry("run", "ferry.yaml");

        Assert.True(second.ExitCode == 3, second.ToString());
        Assert.Equal(0L, ws.Scalar("target.db", "SELECT sum(inserted + updated) FROM ferry_run_entities WHERE run_id = 2"));
        Assert.Equal(students, ws.Query("target.db", "SELECT id, school_id, legacy_id FROM student ORDER BY legacy_id"));
        Assert.Equal(keyMap, ws.Query("target.db", "SELECT entity, legacy_key, uuid, run_id FROM ferry_key_map ORDER BY entity, legacy_key"));
    }

    [Fact]
    public async Task A_dry_run_looks_up_the_parents_it_loaded_itself_and_reports_would_be_counts()
    {
        using var ws = new Workspace();
        District.WriteLegacy(ws, Schools, Students);
        ws.Write("ferry.yaml", District.Manifest(District.SqliteTarget));

        var dry = await ws.Ferry("run", "ferry.yaml", "--dry-run", "--log-json", "log.jsonl");

        Assert.True(dry.ExitCode == 3, dry.ToString());
        Assert.False(File.Exists(ws.PathOf("target.db")));
        Assert.Contains("would insert", dry.Output);
        var finished = File.ReadAllLines(ws.PathOf("log.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).Single(e => e.GetProperty("event").GetString() == "run_finished");
        Assert.True(finished.GetProperty("would_be").GetBoolean());
        var student = finished.GetProperty("entities").GetProperty("student");
        // Only the real orphans are rejected: the schools this dry run loaded were found.
        Assert.Equal(District.Orphans(Schools, Students), student.GetProperty("rejected").GetInt64());
        Assert.Equal(Students - District.Orphans(Schools, Students), student.GetProperty("inserted").GetInt64());
    }
}
