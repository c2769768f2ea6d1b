using Ferry.Manifest;

namespace Ferry.Tests.Tenants;

/// <summary>The manifest's tenants and dependency order: parsed, ordered, and every mistake named with its line.</summary>
public class TenantManifestTests
{
    private const string Path = "/tmp/district.yaml";

    private static string Yaml(string tenants, string entities) => $$"""
        name: district
        {{tenants}}
        target: { type: sqlite, connection: "Data Source=t.db" }
        entities:
        {{entities}}
        """;

    private const string TwoTenants = """
        tenants:
          - id: north
            source: { type: sqlite, connection: "Data Source=north.db" }
          - id: south
            source: { type: sqlite, connection: "Data Source=south.db" }
        """;

    private static string Entity(string name, string extra = "", string columns = "id: id") => $$"""
          - name: {{name}}
            from: { table: {{name}}s, key: [id] }
            key: [id]
        {{extra}}
            columns:
              {{columns}}

        """;

    private static IReadOnlyList<ManifestError> Errors(string yaml) =>
        Assert.Throws<ManifestException>(() => ManifestLoader.Parse(yaml, Path)).Errors;

    [Fact]
    public void Tenants_are_parsed_and_each_tenant_binds_the_entities_with_the_tenant_column_leading_the_key()
    {
        var manifest = ManifestLoader.Parse(Yaml(TwoTenants + "\ntenant_column: district", Entity("school")), Path);
        Assert.Equal(["north", "south"], manifest.Tenants.Select(t => t.Id));
        Assert.Equal("district", manifest.TenantColumn);
        var south = manifest.ForTenant(manifest.Tenants[1]);
        Assert.Equal("south", south.Tenant);
        Assert.Equal("Data Source=south.db", south.Source.Connection!.Reveal());
        var school = Assert.Single(south.Entities);
        Assert.Equal(["district", "id"], school.Key);
        Assert.Equal("district", school.Columns[0].Target);
        Assert.Equal("south", school.Columns[0].Const);
        // The manifest as written is untouched: each tenant gets its own binding.
        Assert.Equal(["id"], Assert.Single(manifest.Entities).Key);
    }

    [Fact]
    public void Entities_load_after_their_dependencies_and_otherwise_in_file_order()
    {
        var yaml = Yaml(TwoTenants,
            Entity("enrolment", "    depends_on: [student, course]") +
            Entity("student", "    depends_on: school") +
            Entity("course") +
            Entity("school") +
            Entity("note", columns: "id: id\n      student_id: { from: student_id, references: { entity: student, column: id } }"));
        var manifest = ManifestLoader.Parse(yaml, Path);
        Assert.Equal(["course", "school", "student", "enrolment", "note"], manifest.Entities.Select(e => e.Name));
    }

    [Fact]
    public void A_reference_alone_orders_the_parent_first()
    {
        var yaml = Yaml(TwoTenants,
            Entity("student", columns: "id: id\n      school_id: { from: school_id, references: { entity: school, column: id } }") +
            Entity("school"));
        Assert.Equal(["school", "student"], ManifestLoader.Parse(yaml, Path).Entities.Select(e => e.Name));
    }

    [Fact]
    public void A_dependency_cycle_is_an_error_naming_its_entities_and_line()
    {
        var yaml = Yaml(TwoTenants,
            Entity("school", "    depends_on: [student]") +
            Entity("student", "    depends_on: [enrolment]") +
            Entity("enrolment", "    depends_on: [school]") +
            Entity("course"));
        var error = Assert.Single(Errors(yaml));
        Assert.Contains("cycle: school -> student -> enrolment -> school", error.Message, StringComparison.Ordinal);
        Assert.Equal(yaml.Split('\n').ToList().FindIndex(l => l.Contains("depends_on: [student]", StringComparison.Ordinal)) + 1, error.Line);
    }

    [Fact]
    public void Unknown_dependencies_duplicate_tenants_and_a_source_beside_tenants_are_errors_with_lines()
    {
        var yaml = Yaml("""
            source: { type: sqlite, connection: "Data Source=x.db" }
            tenants:
              - id: north
                source: { type: sqlite, connection: "Data Source=north.db" }
              - id: north
                source: { type: sqlite, connection: "Data Source=north2.db" }
              - id: "bad id"
                source: { type: sqlite, connection: "Data Source=b.db" }
            """, Entity("school", "    depends_on: [district_office]"));
        var errors = Errors(yaml);
        var lines = yaml.Split('\n').ToList();
        int LineOf(string text, int skip = 0) => lines.Select((l, i) => (l, i)).Where(x => x.l.Contains(text, StringComparison.Ordinal)).Skip(skip).First().i + 1;
        Assert.Contains(errors, e => e.Message.Contains("either 'source' or 'tenants'", StringComparison.Ordinal) && e.Line == LineOf("- id: north"));
        Assert.Contains(errors, e => e.Message.Contains("tenant 'north' is listed more than once", StringComparison.Ordinal) && e.Line == LineOf("id: north", 1));
        Assert.Contains(errors, e => e.Message.Contains("tenant id 'bad id'", StringComparison.Ordinal) && e.Line == LineOf("bad id"));
        Assert.Contains(errors, e => e.Message.Contains("depends on 'district_office', which the manifest does not have", StringComparison.Ordinal) && e.Line == LineOf("depends_on"));
    }

    [Fact]
    public void The_tenant_column_is_Ferrys_to_fill_and_replace_mode_is_refused_with_tenants()
    {
        var yaml = Yaml(TwoTenants, Entity("school", "    mode: replace", "id: id\n      tenant_id: name"));
        var errors = Errors(yaml);
        Assert.Contains(errors, e => e.Message.Contains("column 'tenant_id' is the tenant column", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Message.Contains("mode replace empties the whole table", StringComparison.Ordinal));
        var withoutTenants = Errors(Yaml("source: { type: sqlite, connection: \"Data Source=x.db\" }\ntenant_column: district", Entity("school")));
        Assert.Contains(withoutTenants, e => e.Message.Contains("'tenant_column' applies only to a manifest with 'tenants'", StringComparison.Ordinal));
    }
}
