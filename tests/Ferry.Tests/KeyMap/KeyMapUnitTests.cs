using Ferry.Engine;
using Ferry.KeyMap;
using Ferry.Manifest;
using Ferry.Mapping;
using Ferry.Tests.Unit;

namespace Ferry.Tests.KeyMap;

/// <summary>The key map's UUIDs, legacy key texts and key sets, and the manifest errors of legacy_key, uuid: legacy and lookup.</summary>
public class KeyMapUnitTests
{
    [Fact]
    public void A_legacy_key_UUID_is_the_RFC_v5_UUID_of_entity_tenant_and_key()
    {
        // Computed independently (Python's uuid.uuid5) in Ferry's namespace, the v5 UUID of "ferry" in the URL namespace.
        Assert.Equal(new Guid("5b4b302b-c3a2-573c-b8ac-8ef235186150"), DeterministicUuid.ForLegacyKey("school", "north", "17"));
        Assert.Equal(new Guid("341cd4f7-3818-5ae6-b478-2d7fbb18d3fb"), DeterministicUuid.ForLegacyKey("school", "", "17"));
        // Not the UUID 'uuid: key' gives the same entity and text.
        Assert.NotEqual(DeterministicUuid.ForKey("school", "17"), DeterministicUuid.ForLegacyKey("school", "", "17"));
        Assert.NotEqual(DeterministicUuid.ForLegacyKey("school", "river", "17"), DeterministicUuid.ForLegacyKey("school", "north", "17"));
        Assert.NotEqual(DeterministicUuid.ForLegacyKey("student", "north", "17"), DeterministicUuid.ForLegacyKey("school", "north", "17"));
    }

    [Fact]
    public void The_one_block_SHA1_equals_the_crypto_librarys_for_every_length_it_takes()
    {
        var random = new Random(7);
        Span<byte> mine = stackalloc byte[20];
        for (var length = 0; length <= ShortSha1.MaxInput; length++)
            for (var round = 0; round < 40; round++)
            {
                var input = new byte[length];
                random.NextBytes(input);
                ShortSha1.Hash(input, mine);
                Assert.Equal(System.Security.Cryptography.SHA1.HashData(input), mine.ToArray());
            }
        // FIPS 180's own example, "abc".
        ShortSha1.Hash("abc"u8, mine);
        Assert.Equal("a9993e364706816aba3e25717850c26c9cd0d89d", Convert.ToHexStringLower(mine));
        Assert.Throws<ArgumentException>(() => ShortSha1.Hash(new byte[ShortSha1.MaxInput + 1], new byte[20]));
    }

    [Fact]
    public void Names_that_fill_one_block_and_names_longer_get_the_RFC_v5_UUID()
    {
        // Computed independently (Python's uuid.uuid5(uuid5(NAMESPACE_URL, "ferry"), "school\x1f\x1f" + "k" * n)).
        // The name is 16 bytes of namespace, "school", two separators and the key: 55 bytes with 31 k's, one block.
        Assert.Equal(new Guid("24641e26-c07e-5f0a-9469-97a69657132f"), DeterministicUuid.ForLegacyKey("school", "", new string('k', 31)));
        Assert.Equal(new Guid("22bfb22d-6546-5c39-8ea5-794312bff07d"), DeterministicUuid.ForLegacyKey("school", "", new string('k', 32)));
        Assert.Equal(new Guid("66a01793-33fa-5c01-8b82-0f2b41ba6d14"), DeterministicUuid.ForLegacyKey("school", "", new string('k', 60)));
    }

    [Fact]
    public void A_legacy_key_is_its_trimmed_value_or_a_JSON_array_of_its_values()
    {
        Assert.Equal("17", LegacyKeyText.Of([" 17 "], [0]));
        Assert.Null(LegacyKeyText.Of(["  "], [0]));
        Assert.Equal("""["a,b","c"]""", LegacyKeyText.Of(["a,b", "c"], [0, 1]));
        Assert.NotEqual(LegacyKeyText.Of(["a,b", "c"], [0, 1]), LegacyKeyText.Of(["a", "b,c"], [0, 1]));
        Assert.Equal("""["é\"x","1"]""", LegacyKeyText.Of(["1", "é\"x"], [1, 0]));
        Assert.Null(LegacyKeyText.Of(["a", null], [0, 1]));
    }

    [Fact]
    public void A_key_set_finds_integer_keys_exactly_and_other_keys_by_hash()
    {
        var builder = new LegacyKeySet.Builder();
        foreach (var key in new[] { "17", "-3", "9223372036854775807", "017", "A-17", """["n","1"]""" })
            builder.Add(key);
        var set = builder.Build();
        Assert.Equal(6, set.Count);
        foreach (var key in new[] { "17", "-3", "9223372036854775807", "017", "A-17", """["n","1"]""" })
            Assert.True(set.Contains(key), key);
        foreach (var key in new[] { "18", "3", "+17", "0017", "a-17", """["n","2"]""", "" })
            Assert.False(set.Contains(key), key);
        Assert.False(LegacyKeySet.Empty.Contains("17"));
    }

    [Fact]
    public void A_growing_key_set_adds_each_key_once_and_then_contains_it_in_key_order_and_out_of_it()
    {
        static string Text(int i) => i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var builder = new LegacyKeySet.Builder();
        foreach (var key in new[] { "5", "A-5", "200000" })
            builder.Add(key);
        var set = new LegacyKeySet.Growing(builder.Build());
        Assert.False(set.Add("5"));
        Assert.False(set.Add("A-5"));
        // In key order (appended), then against it (the hash set), each key twice in a row.
        foreach (var i in Enumerable.Range(1, 150_000).Concat(Enumerable.Range(150_001, 150_000).Reverse()))
        {
            var isNew = i != 5 && i != 200_000;
            Assert.Equal(!isNew, set.Contains(Text(i)));
            Assert.Equal(i == 5, set.Contains("A-" + Text(i)));
            Assert.Equal(isNew, set.Add(Text(i)));
            Assert.True(set.Contains(Text(i)));
            Assert.False(set.Add(Text(i)));
            Assert.Equal(i != 5, set.Add("A-" + Text(i)));
        }
        for (var i = 1; i <= 300_000; i += 997)
        {
            Assert.False(set.Add(Text(i)));
            Assert.False(set.Add("A-" + Text(i)));
        }
        Assert.False(set.Contains("0"));
        Assert.False(set.Contains("05"));
        Assert.True(set.Add("0"));
        Assert.True(set.Add("05"));
        Assert.True(set.Add("-7"));
        Assert.True(set.Add("300001"));
        Assert.False(set.Add("300001"));
        Assert.True(set.Add("A-300001"));
    }

    [Fact]
    public void Lookup_rewrites_a_legacy_key_to_the_parents_UUID_and_a_missing_parent_is_an_orphan()
    {
        var plan = Assert.Single(EntityPlan.Build(ParentAndChild(""), ["id", "school_id", "name"], "data.csv"), p => p.Spec.Name == "student");
        var lookup = plan.Spec.Columns.Single(c => c.Target == "school_id");
        Assert.Equal(new ColumnReference("school", "id", lookup.Line), lookup.References);
        Assert.Equal(Manifest.ValueType.Uuid, lookup.Type);

        var values = new object?[plan.Mapper.Columns.Count];
        var issues = new List<Contracts.ValidationIssue>();
        Assert.NotNull(plan.Mapper.Map(["5", " 17 ", "Ann"], values, issues, KeyMapScope.Unchecked("north"), out var legacy));
        Assert.Empty(issues);
        Assert.Equal(DeterministicUuid.ForLegacyKey("student", "north", "5"), values[0]);
        Assert.Equal(DeterministicUuid.ForLegacyKey("school", "north", "17"), values[1]);
        Assert.Equal(new KeyMapEntry("5", DeterministicUuid.ForLegacyKey("student", "north", "5")), legacy);

        // A blank parent key stays NULL; an empty legacy key rejects the row.
        Assert.NotNull(plan.Mapper.Map(["6", " ", "Bo"], values, issues));
        Assert.Null(values[1]);
        Assert.Null(plan.Mapper.Map(["", "17", "Cy"], values, issues));
        Assert.Equal("legacy key value is empty", Assert.Single(issues).Message);
    }

    [Theory]
    [InlineData("lookup: course", "column 'school_id' looks up entity 'course', which the manifest does not have (it has: school, student)")]
    [InlineData("lookup: student", "column 'school_id' looks up its own entity; a lookup finds rows of an entity loaded before this one")]
    public void A_lookup_of_an_entity_that_cannot_be_looked_up_is_a_manifest_error(string lookup, string message)
    {
        var yaml = ParentAndChildYaml("").Replace("lookup: school", lookup, StringComparison.Ordinal);
        var error = Assert.Single(Assert.Throws<ManifestException>(() => ManifestLoader.Parse(yaml, UnitPlans.ManifestPath)).Errors);
        Assert.Equal(message, error.Message);
        Assert.Equal(LineOf(yaml, "school_id:"), error.Line);
    }

    [Fact]
    public void A_lookup_of_an_entity_without_legacy_key_is_a_manifest_error()
    {
        var yaml = ParentAndChildYaml("").Replace("    legacy_key: [id]\n    key: [id]\n    columns:\n      id: { uuid: legacy }", "    key: [id]\n    columns:\n      id: id", StringComparison.Ordinal);
        var error = Assert.Single(Assert.Throws<ManifestException>(() => ManifestLoader.Parse(yaml, UnitPlans.ManifestPath)).Errors);
        Assert.Equal("column 'school_id' looks up entity 'school', which has no 'legacy_key'", error.Message);
        Assert.Equal(LineOf(yaml, "school_id:"), error.Line);
    }

    [Fact]
    public void A_lookup_of_an_entity_without_a_uuid_legacy_column_is_a_manifest_error()
    {
        var yaml = ParentAndChildYaml("").Replace("      id: { uuid: legacy }\n      name: name", "      id: id\n      name: name", StringComparison.Ordinal);
        var error = Assert.Single(Assert.Throws<ManifestException>(() => ManifestLoader.Parse(yaml, UnitPlans.ManifestPath)).Errors);
        Assert.Equal("column 'school_id' looks up entity 'school', which has no 'uuid: legacy' column", error.Message);
    }

    [Fact]
    public void Uuid_legacy_without_legacy_key_is_a_manifest_error_on_its_line()
    {
        var yaml = ParentAndChildYaml("").Replace("    legacy_key: [id]\n    key: [id]\n    columns:\n      id: { uuid: legacy }\n      name: name",
            "    key: [id]\n    columns:\n      id: { uuid: legacy }\n      name: name", StringComparison.Ordinal);
        var errors = Assert.Throws<ManifestException>(() => ManifestLoader.Parse(yaml, UnitPlans.ManifestPath)).Errors;
        Assert.Contains(errors, e => e.Message == "column 'id': 'uuid: legacy' needs the entity's 'legacy_key'" && e.Line == LineOf(yaml, "id: { uuid: legacy }"));
    }

    [Fact]
    public void A_legacy_key_column_the_source_lacks_is_an_error_on_its_line()
    {
        var template = ParentAndChildYaml("");
        var at = template.IndexOf("legacy_key: [id]", StringComparison.Ordinal);
        var yaml = template[..at] + "legacy_key: [ident]" + template[(at + "legacy_key: [id]".Length)..];
        var manifest = ManifestLoader.Parse(yaml, UnitPlans.ManifestPath);
        var error = Assert.Single(Assert.Throws<ManifestException>(() => EntityPlan.Build(manifest, ["id", "school_id", "name"], "data.csv")).Errors);
        Assert.Equal("'legacy_key' names column 'ident', which data.csv does not have (it has: id, school_id, name)", error.Message);
        Assert.Equal(LineOf(yaml, "legacy_key: [ident]"), error.Line);
    }

    private static int LineOf(string yaml, string text) =>
        yaml.Split('\n').Select((line, i) => (line, i)).First(x => x.line.Contains(text, StringComparison.Ordinal)).i + 1;

    private static MigrationManifest ParentAndChild(string extra) => ManifestLoader.Parse(ParentAndChildYaml(extra), UnitPlans.ManifestPath);

    private static string ParentAndChildYaml(string extra) => $"""
        source: {"{"} type: csv, path: data.csv {"}"}
        target: {"{"} type: sqlite, connection: "Data Source=t.db" {"}"}
        entities:
          - name: school
            legacy_key: [id]
            key: [id]
            columns:
              id: {"{"} uuid: legacy {"}"}
              name: name
          - name: student
            legacy_key: [id]
            key: [id]
            columns:
              id: {"{"} uuid: legacy {"}"}
              school_id: {"{"} from: school_id, lookup: school {"}"}
              name: name{extra}
        """.Replace("\r", "", StringComparison.Ordinal);
}
