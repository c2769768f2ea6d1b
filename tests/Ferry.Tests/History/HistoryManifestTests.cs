using Ferry.Manifest;

namespace Ferry.Tests.History;

/// <summary>The scd2 block of the manifest: its defaults and the mistakes it refuses, with their lines.</summary>
public class HistoryManifestTests
{
    private static string Entity(string mode, string block, string staging = "true") => $"""
        source: {"{"} type: csv, path: data.csv {"}"}
        target: {"{"} type: sqlite, connection: "Data Source=t.db" {"}"}
        entities:
          - name: citizen
            key: [id]
            mode: {mode}
            staging: {staging}
        {block}
            columns:
              id: id
              name: name
              phone: phone
        """;

    [Fact]
    public void Tracked_defaults_to_every_mapped_non_key_column_and_missing_to_ignore()
    {
        var manifest = ManifestLoader.Parse(Entity("scd2", ""), "/x/ferry.yaml");

        var history = manifest.Entities[0].History!;
        Assert.Equal(LoadMode.Scd2, manifest.Entities[0].Mode);
        Assert.Equal(["name", "phone"], history.Tracked);
        Assert.Equal(MissingKeys.Ignore, history.Missing);
    }

    [Theory]
    [InlineData("scd2", "    scd2: { tracked: [id] }", "true", "tracked column 'id' is part of the key")]
    [InlineData("scd2", "    scd2: { tracked: [street] }", "true", "tracked column 'street' is not one of its mapped columns")]
    [InlineData("scd2", "    scd2: { missing: drop }", "true", "unknown value 'drop' for 'missing' (expected ignore, close or delete)")]
    [InlineData("scd2", "    scd2: { missing: close }", "false", "'missing: close' needs staging")]
    [InlineData("upsert", "    scd2: { missing: close }", "true", "'scd2' settings apply to mode scd2 only")]
    public void A_wrong_scd2_block_is_an_error_naming_what_is_wrong(string mode, string block, string staging, string message)
    {
        var error = Assert.Throws<ManifestException>(() => ManifestLoader.Parse(Entity(mode, block, staging), "/x/ferry.yaml"));

        Assert.Contains(error.Errors, e => e.Message.Contains(message, StringComparison.Ordinal) && e.Line > 0);
    }

    [Fact]
    public void A_mapping_cannot_name_a_column_Ferry_adds_to_the_history()
    {
        var yaml = Entity("scd2", "").Replace("      phone: phone", "      valid_from: phone", StringComparison.Ordinal);

        var error = Assert.Throws<ManifestException>(() => ManifestLoader.Parse(yaml, "/x/ferry.yaml"));

        Assert.Contains(error.Errors, e => e.Message.Contains("column 'valid_from' is one Ferry adds", StringComparison.Ordinal));
    }
}
