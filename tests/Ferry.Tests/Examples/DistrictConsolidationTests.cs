using System.Text.Json;
using Ferry.Bench;
using Ferry.Tests.Postgres;
using Ferry.Tests.Sources;
using Ferry.Tests.Support;
using MySqlConnector;

namespace Ferry.Tests.Examples;

/// <summary>
/// examples/district-consolidation end to end: the example's own manifest (only its target schema
/// renamed) over a small version of its three legacy databases, made by the example's generator:
/// two SQLite files and a MariaDB database (FERRY_TEST_MYSQL) into PostgreSQL (FERRY_TEST_PG).
/// </summary>
public sealed class DistrictConsolidationTests : IDisposable
{
    private const int StudentsPerDistrict = 40;

    private static readonly string ExampleManifest = Path.Combine(RepoPaths.Root, "examples", "district-consolidation", "ferry.yaml");

    private readonly PgScope _pg = new("district");
    private readonly string _riverDatabase = $"district_river_{Guid.NewGuid():N}"[..31];
    private readonly Dictionary<string, Dictionary<string, TableCount>> _generated = [];

    public DistrictConsolidationTests()
    {
        var generator = new DistrictGenerator(StudentsPerDistrict, seed: 2024);
        foreach (var district in DistrictGenerator.Districts)
        {
            using var database = district.MySql
                ? LegacyDatabaseWriter.CreateMySql(My.On(_riverDatabase))
                : LegacyDatabaseWriter.CreateSqlite(_pg.Workspace.PathOf($"data/{district.Id}.db"));
            _generated[district.Id] = generator.Write(district, database).ToDictionary(c => c.Table);
        }
        var manifest = File.ReadAllText(ExampleManifest);
        Assert.Contains("schema: district }", manifest, StringComparison.Ordinal);
        _pg.Workspace.Write("ferry.yaml", manifest.Replace("schema: district }", $"schema: {_pg.Schema} }}", StringComparison.Ordinal));
        Environment.SetEnvironmentVariable("RIVER_DB", My.On(_riverDatabase));
        Environment.SetEnvironmentVariable("TARGET_DB", Pg.ConnectionString);
    }

    // Entity -> legacy table, and per district the rows the planted dirt makes the rules reject.
    private static readonly (string Entity, string Table)[] Entities =
        [("school", "schools"), ("staff", "staff"), ("student", "students"), ("enrollment", "enrollments"), ("attendance", "attendance")];

    private static readonly Dictionary<(string District, string Entity), int> ExpectedRejects = new()
    {
        [("north", "student")] = 5, [("north", "enrollment")] = 3, [("north", "attendance")] = 3,
        [("south", "student")] = 6, [("south", "enrollment")] = 4, [("south", "attendance")] = 2,
        [("river", "student")] = 5, [("river", "enrollment")] = 3, [("river", "attendance")] = 2, [("river", "staff")] = 1,
    };

    [Fact]
    public async Task The_example_loads_every_clean_row_per_district_rejects_the_dirt_with_its_message_and_reconciles()
    {
        var check = await _pg.Workspace.Ferry("check", "ferry.yaml");
        Assert.True(check.ExitCode == 0, check.ToString());

        var run = await _pg.Workspace.Ferry("run", "ferry.yaml", "--parallel", "3");
        Assert.True(run.ExitCode == 3, run.ToString());   // partial: the dirt was rejected, the reconciliation agreed

        // Loaded rows per district: everything the generator wrote minus the planted dirt.
        foreach (var (entity, table) in Entities)
        {
            var loaded = Pg.Query($"SELECT district, count(*) AS n FROM \"{_pg.Schema}\".\"{entity}\" GROUP BY district")
                .ToDictionary(r => (string)r["district"]!, r => (long)r["n"]!);
            foreach (var district in DistrictGenerator.Districts)
            {
                var generated = _generated[district.Id][table];
                var rejected = ExpectedRejects.GetValueOrDefault((district.Id, entity));
                Assert.Equal(rejected, generated.Rejected);
                Assert.True(loaded.GetValueOrDefault(district.Id) == generated.Rows - rejected,
                    $"{entity} of {district.Id}: {loaded.GetValueOrDefault(district.Id)} loaded, expected {generated.Rows} - {rejected}");
            }
        }

        // Every reject, with its messages; the run's ledger counts per entity agree.
        var list = await _pg.Workspace.Ferry("rejects", "list", "ferry.yaml", "--json");
        Assert.True(list.ExitCode == 0, list.ToString());
        var rejects = JsonDocument.Parse(list.Output).RootElement.EnumerateArray().Select(Reject.From).ToList();
        foreach (var (entity, _) in Entities)
            Assert.Equal(ExpectedRejects.Where(p => p.Key.Entity == entity).Sum(p => p.Value), rejects.Count(r => r.Entity == entity));

        var students = rejects.Where(r => r.Entity == "student").ToList();
        Assert.Equal(6, students.Count(r => r.Has("duplicate student: same name and birth date")));
        Assert.Equal(3, students.Count(r => r.Has("impossible birth date")));   // 2016-02-30, 2014-13-07, 2015-02-29
        Assert.Equal(3, students.Count(r => r.Has("birth date outside 2000 .. 2021")));   // 2031-05-01 in each district
        Assert.Equal(2, students.Count(r => r.Has("birth date missing (a zero date")));   // river's 0000-00-00
        Assert.Equal(2, students.Count(r => r.Rules.Contains("encoding")));   // south's latin-1 bytes
        Assert.Contains(students, r => r.Raw.GetValueOrDefault("birth_date") == "2015-02-29");

        var enrollmentOrphans = rejects.Where(r => r.Entity == "enrollment" && r.Has("orphan: no student with legacy key")).ToList();
        Assert.Equal(9, enrollmentOrphans.Count);
        foreach (var district in new[] { "north", "south", "river" })
            Assert.Equal(3, enrollmentOrphans.Count(r => r.Has($"(tenant {district})")));
        Assert.Single(rejects, r => r.Entity == "enrollment" && r.Has("orphan: no school with legacy key") && r.Has("(tenant south)"));
        Assert.Single(rejects, r => r.Entity == "staff" && r.Has("orphan: no school with legacy key") && r.Has("(tenant river)"));
        Assert.Equal(6, rejects.Count(r => r.Entity == "attendance" && r.Has("orphan: no enrollment with legacy key")));
        Assert.Single(rejects, r => r.Entity == "attendance" && r.Has("unknown attendance code"));

        // Foreign keys were rewritten within each district: every enrollment's student and school are
        // rows of its own district, and river's windows-1252 names arrived as text.
        Assert.Equal(0, Pg.Count($"""
            SELECT count(*) FROM "{_pg.Schema}".enrollment e
            WHERE NOT EXISTS (SELECT 1 FROM "{_pg.Schema}".student s WHERE s.id = e.student_id AND s.district = e.district)
               OR NOT EXISTS (SELECT 1 FROM "{_pg.Schema}".school c WHERE c.id = e.school_id AND c.district = e.district)
            """));
        Assert.True(Pg.Count($"SELECT count(*) FROM \"{_pg.Schema}\".student WHERE district = 'river' AND (last_name ~ '[üñøåöéä]' OR first_name ~ '[ëéñøöá]')") > 0);
        Assert.Equal(0, Pg.Count($"SELECT count(*) FROM \"{_pg.Schema}\".student WHERE last_name LIKE '%\uFFFD%' OR first_name LIKE '%\uFFFD%'"));
        // river's zero dates: "still enrolled" became NULL and loaded.
        Assert.True(Pg.Count($"SELECT count(*) FROM \"{_pg.Schema}\".enrollment WHERE district = 'river' AND left_on IS NULL") > 0);

        // Reconciliation agrees for every entity of every district.
        var reconcile = await _pg.Workspace.Ferry("reconcile", "ferry.yaml", "--json", "-");
        Assert.True(reconcile.ExitCode == 0, reconcile.ToString());
        var report = JsonDocument.Parse(reconcile.Output).RootElement;
        Assert.True(report.GetProperty("ok").GetBoolean());
        var reconciled = report.GetProperty("entities").EnumerateArray()
            .Select(e => (Entity: e.GetProperty("entity").GetString(), Tenant: e.GetProperty("tenant").GetString())).ToHashSet();
        foreach (var (entity, _) in Entities)
            foreach (var district in DistrictGenerator.Districts)
                Assert.Contains((entity, district.Id), reconciled);
    }

    [Fact]
    public async Task Rolling_back_one_district_removes_its_rows_only_and_a_rerun_restores_them_with_the_same_uuids()
    {
        var run = await _pg.Workspace.Ferry("run", "ferry.yaml", "--parallel", "3", "--no-reconcile");
        Assert.True(run.ExitCode == 3, run.ToString());
        var before = StudentIds();
        var runId = Assert.Single(Pg.Runs(_pg.Manifest())).RunId;

        var rollback = await _pg.Workspace.Ferry("rollback", runId.ToString(System.Globalization.CultureInfo.InvariantCulture), "--tenant", "river");
        Assert.True(rollback.ExitCode == 0, rollback.ToString());
        foreach (var (entity, _) in Entities)
            Assert.Equal(0, Pg.Count($"SELECT count(*) FROM \"{_pg.Schema}\".\"{entity}\" WHERE district = 'river'"));
        Assert.Equal(before.Where(p => p.Key.District != "river").ToList(), StudentIds());

        var again = await _pg.Workspace.Ferry("run", "ferry.yaml", "--tenant", "river");
        Assert.True(again.ExitCode == 3, again.ToString());
        Assert.Equal(before, StudentIds());
    }

    /// <summary>(district, legacy id) → UUID of every loaded student, in key order.</summary>
    private List<KeyValuePair<(string District, long LegacyId), Guid>> StudentIds() =>
        Pg.Query($"SELECT district, legacy_id, id FROM \"{_pg.Schema}\".student ORDER BY district, legacy_id")
            .Select(r => KeyValuePair.Create(((string)r["district"]!, (long)r["legacy_id"]!), (Guid)r["id"]!))
            .OrderBy(p => p.Key)
            .ToList();

    private sealed record Reject(string Entity, Dictionary<string, string?> Raw, List<string> Messages, List<string> Rules)
    {
        public static Reject From(JsonElement e) => new(
            e.GetProperty("entity").GetString()!,
            e.GetProperty("raw").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.ValueKind == JsonValueKind.Null ? null : p.Value.GetString()),
            e.GetProperty("errors").EnumerateArray().Select(x => x.GetProperty("message").GetString()!).ToList(),
            e.GetProperty("errors").EnumerateArray().Select(x => x.GetProperty("rule").GetString()!).ToList());

        public bool Has(string text) => Messages.Any(m => m.Contains(text, StringComparison.Ordinal));
    }

    public void Dispose()
    {
        try
        {
            using var connection = new MySqlConnection(My.ConnectionString);
            connection.Open();
            using var command = new MySqlCommand($"DROP DATABASE IF EXISTS `{_riverDatabase}`", connection);
            command.ExecuteNonQuery();
        }
        catch (MySqlException)
        {
            // A database left on the throw-away test server is not worth failing for.
        }
        _pg.Dispose();
    }
}
