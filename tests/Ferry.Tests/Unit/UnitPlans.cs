using Ferry.Contracts;
using Ferry.Engine;
using Ferry.Manifest;

namespace Ferry.Tests.Unit;

/// <summary>
/// Builds one-entity manifests and plans for the unit tests. The fixed header takes lines 1–5, so
/// the first line of the entity body passed in is manifest line 6.
/// </summary>
internal static class UnitPlans
{
    public const string ManifestPath = "/x/ferry.yaml";

    public const int FirstBodyLine = 6;

    private const string Header = """
        source: { type: csv, path: data.csv }
        target: { type: sqlite, connection: "Data Source=t.db" }
        entities:
          - name: e
            mode: insert
        """;

    public static string Yaml(string entityBody) =>
        Header + "\n" + string.Join("\n", entityBody.Split('\n').Select(line => "    " + line.TrimEnd('\r')));

    public static MigrationManifest Manifest(string entityBody) => ManifestLoader.Parse(Yaml(entityBody), ManifestPath);

    public static EntityPlan Plan(string entityBody, params string[] sourceColumns) =>
        Assert.Single(EntityPlan.Build(Manifest(entityBody), sourceColumns, "data.csv"));

    public static List<ValidationIssue> Validate(this EntityPlan plan, long line, params string?[] values)
    {
        var issues = new List<ValidationIssue>();
        plan.Validator.Validate(values, line, issues);
        if (!issues.Exists(i => i.RejectsRow))
            plan.Validator.Accept(values, line);
        return issues;
    }

    public static (string? Key, object?[] Values, List<ValidationIssue> Issues) Map(this EntityPlan plan, params string?[] values)
    {
        var target = new object?[plan.Mapper.Columns.Count];
        var issues = new List<ValidationIssue>();
        var key = plan.Mapper.Map(values, target, issues);
        return (key, target, issues);
    }

    /// <summary>The mapped value of one target column.</summary>
    public static object? Column(this EntityPlan plan, object?[] values, string target) =>
        values[plan.Mapper.Columns.ToList().FindIndex(c => c.Target == target)];

    public static IReadOnlyList<ManifestError> ParseErrors(string yaml) =>
        Assert.Throws<ManifestException>(() => ManifestLoader.Parse(yaml, ManifestPath)).Errors;
}
