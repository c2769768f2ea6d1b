using Ferry.Engine;
using Ferry.Manifest;

namespace Ferry.Tests.Unit;

/// <summary>
/// The source hash a re-run compares raw rows by: its seed covers everything that decides a row's
/// mapped values, and entities whose values depend on more than the row get none.
/// </summary>
public class SourceHasherTests
{
    private static readonly string[] Columns = ["id", "name", "born", "status"];

    private const string Entity = """
        source: { type: csv, path: data.csv }
        target: { type: postgres, connection: "Host=x" }
        entities:
          - name: person
            table: person
            key: [id]
            mode: upsert
            rules:
              - { column: id, required: true }
              - { column: status, allowed: [a, b] }
            columns:
              id: { from: id, type: int }
              name: { from: name, trim: true }
              born: { from: born, type: date, format: yyyy-MM-dd }
              origin: { const: legacy }
        """;

    private static EntitySpec Spec(string find = "", string replace = "")
    {
        Assert.Contains(find, Entity, StringComparison.Ordinal);
        return ManifestLoader.Parse(find.Length == 0 ? Entity : Entity.Replace(find, replace, StringComparison.Ordinal), UnitPlans.ManifestPath).Entities[0];
    }

    [Theory]
    [InlineData("      - { column: id, required: true }", "      - { column: id, unique: true }")]
    [InlineData("      - { column: id, required: true }", "      - check: \"id != null\"")]
    [InlineData("origin: { const: legacy }", "origin: { expr: \"name + born\" }")]
    [InlineData("mode: upsert", "mode: insert")]
    [InlineData("mode: upsert", "mode: replace")]
    [InlineData("    key: [id]\n", "    key: [id]\n    legacy_key: [id]\n")]
    public void An_entity_whose_values_may_depend_on_more_than_the_row_gets_no_seed(string find, string replace)
    {
        Assert.NotNull(SourceHasher.SeedFor(Spec(), null, Columns));
        Assert.Null(SourceHasher.SeedFor(Spec(find, replace), null, Columns));
    }

    [Fact]
    public void A_tenant_or_a_rejects_export_as_the_source_gets_no_seed()
    {
        Assert.Null(SourceHasher.SeedFor(Spec(), "north", Columns));
        Assert.Null(SourceHasher.SeedFor(Spec(), null, [.. Columns, "_ferry_stage_id"]));
    }

    [Theory]
    [InlineData("origin: { const: legacy }", "origin: { const: legacy2 }")]
    [InlineData("name: { from: name, trim: true }", "name: { from: name }")]
    [InlineData("format: yyyy-MM-dd }", "format: yyyyMMdd }")]
    [InlineData("allowed: [a, b]", "allowed: [a, b, c]")]
    [InlineData("id: { from: id, type: int }", "id: { from: id, type: decimal }")]
    [InlineData("      - { column: id, required: true }", "      - { column: id, required: true, severity: warning }")]
    public void Any_change_to_the_entity_changes_the_seed(string find, string replace)
    {
        Assert.NotEqual(SourceHasher.SeedFor(Spec(), null, Columns), SourceHasher.SeedFor(Spec(find, replace), null, Columns));
    }

    [Fact]
    public void The_same_entity_over_the_same_columns_gets_the_same_seed_and_other_columns_another()
    {
        Assert.Equal(SourceHasher.SeedFor(Spec(), null, Columns), SourceHasher.SeedFor(Spec(), null, Columns));
        Assert.NotEqual(SourceHasher.SeedFor(Spec(), null, Columns), SourceHasher.SeedFor(Spec(), null, ["name", "id", "born", "status"]));
    }

    [Fact]
    public void Rows_hash_equal_only_when_every_value_is_equal_and_in_its_own_column()
    {
        var hasher = new SourceHasher(SourceHasher.SeedFor(Spec(), null, Columns)!.Value);
        string?[] row = ["1", "Ada", "1815-12-10", "a"];
        var hash = hasher.Hash(row);

        Assert.Equal(hash, hasher.Hash(["1", "Ada", "1815-12-10", "a"]));
        Assert.NotEqual(0, hash);
        Assert.NotEqual(hash, hasher.Hash(["1", "Ada ", "1815-12-10", "a"]));
        Assert.NotEqual(hash, hasher.Hash(["1", "Ad", "a1815-12-10", "a"]));     // a character moved across the boundary
        Assert.NotEqual(hasher.Hash(["1", null, "x", "a"]), hasher.Hash(["1", "", "x", "a"])); // null is not empty
        Assert.NotEqual(hash, new SourceHasher(SourceHasher.SeedFor(Spec("origin: { const: legacy }", "origin: { const: x }"), null, Columns)!.Value).Hash(row));
        // A long row grows the buffer and still hashes the same each time.
        string?[] wide = [new string('x', 5000), "Ada", "1815-12-10", "a"];
        Assert.Equal(hasher.Hash(wide), new SourceHasher(SourceHasher.SeedFor(Spec(), null, Columns)!.Value).Hash(wide));
    }
}
