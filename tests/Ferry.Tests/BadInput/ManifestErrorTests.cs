using Ferry.Tests.Support;
using static Ferry.Tests.BadInput.BadInputKit;

namespace Ferry.Tests.BadInput;

public class ManifestErrorTests
{
    /// <summary>
    /// Each case: how to break the good manifest (replace one text with another), the text on the
    /// line the error must name, and what the message must say.
    /// </summary>
    public static TheoryData<string, string, string, string, string> Cases => new()
    {
        { "unknown key", "    batch_size: 1000", "    batchsize: 1000", "batchsize", "unknown key 'batchsize' in entity" },
        { "wrong type", "    batch_size: 1000", "    batch_size: lots", "batch_size: lots", "'batch_size' must be a whole number, not 'lots'" },
        { "bad indentation", "  path: data.csv", "   path: data.csv", "path: data.csv", "invalid YAML" },
        { "rule on a column the CSV lacks", "      - { column: id, required: true }", "      - { column: id, required: true }\n      - { column: email, required: true }", "column: email", "names column 'email', which data.csv does not have" },
        { "expression that does not compile", "      city: city", "      city: city\n      shout: { expr: \"name.ToUpperInvariant() + nmae\" }", "shout", "does not compile: CS0103: The name 'nmae' does not exist" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Check_and_run_exit_2_naming_the_manifest_line_and_leave_the_target_alone(string name, string good, string bad, string lineMarker, string message)
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        var before = ws.Fingerprint(Db);
        var template = ManifestYaml(CsvSource());
        Assert.Contains(good, template, StringComparison.Ordinal);
        var broken = template.Replace(good, bad, StringComparison.Ordinal);
        var line = LineOf(broken, lineMarker);
        ws.Write("bad.yaml", broken);
        // The same broken manifest aimed at a target that does not exist yet: it must not be created.
        ws.Write("bad-fresh.yaml", broken.Replace($"Data Source={Db}", "Data Source=fresh.db", StringComparison.Ordinal));

        foreach (var (manifest, command) in new[] { ("bad.yaml", "check"), ("bad.yaml", "run"), ("bad-fresh.yaml", "check"), ("bad-fresh.yaml", "run") })
        {
            var result = await ws.Ferry(command, manifest);
            Assert.True(result.ExitCode == 2, $"{name}: {command} {manifest}: {result}");
            Assert.Contains($"{manifest}:{line}:", result.Error, StringComparison.Ordinal);
            Assert.Contains(message, result.Error, StringComparison.Ordinal);
            Assert.DoesNotContain("ready to run", result.Output, StringComparison.Ordinal);
        }

        Assert.Equal(before, ws.Fingerprint(Db));
        Assert.Equal(1, Runs(ws));
        Assert.False(File.Exists(ws.PathOf("fresh.db")), "a bad manifest must not create its target");
    }

    [Fact]
    public async Task Every_manifest_error_is_reported_at_once_each_with_its_line()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        var before = ws.Fingerprint(Db);
        var broken = ManifestYaml(CsvSource())
            .Replace("    batch_size: 1000", "    batch_size: lots", StringComparison.Ordinal)
            .Replace("    mode: upsert", "    mode: upsert\n    stagin: true", StringComparison.Ordinal);
        ws.Write("bad.yaml", broken);

        var check = await ws.Ferry("check", "bad.yaml");

        Assert.True(check.ExitCode == 2, check.ToString());
        Assert.Contains($"bad.yaml:{LineOf(broken, "batch_size: lots")}:", check.Error, StringComparison.Ordinal);
        Assert.Contains($"bad.yaml:{LineOf(broken, "stagin")}:", check.Error, StringComparison.Ordinal);
        Assert.Contains("unknown key 'stagin'", check.Error, StringComparison.Ordinal);
        Assert.Equal(before, ws.Fingerprint(Db));
    }

    [Fact]
    public async Task A_missing_manifest_is_bad_usage_naming_the_file()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        var before = ws.Fingerprint(Db);

        foreach (var command in new[] { "check", "run" })
        {
            var result = await ws.Ferry(command, "nope.yaml");
            Assert.True(result.ExitCode == 2, result.ToString());
            Assert.Contains("nope.yaml", result.Error, StringComparison.Ordinal);
            Assert.Contains("not found", result.Error, StringComparison.Ordinal);
        }
        Assert.Equal(before, ws.Fingerprint(Db));
    }
}
