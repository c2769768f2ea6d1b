using YamlDotNet.RepresentationModel;

namespace Ferry.Manifest;

/// <summary>The keys of a file-fed pipeline: <c>landing</c>, <c>stage</c> and <c>publish</c>.</summary>
public sealed partial class ManifestLoader
{
    private LandingSpec? ParseLanding(YamlNode node)
    {
        var map = Fields(node, "landing", "folder", "files");
        var folder = RequiredString(map, node, "folder");
        var files = ParseNamedList(map, node, "files", " of file types", "file type", ParseFileType, f => f.Name, f => f.Line);
        if (folder is null || files.Count == 0)
            return null;
        return new LandingSpec(folder, files, (int)node.Start.Line);
    }

    private FileTypeSpec? ParseFileType(YamlNode node)
    {
        var map = Fields(node, "landing file type", "name", "pattern", "order", "source", "entities", "columns");
        var name = RequiredString(map, node, "name");
        if (name is not null && !IdentifierPattern().IsMatch(name))
            Error(map["name"].Start, $"file type name '{name}' must be letters, digits and underscores");
        var pattern = RequiredString(map, node, "pattern");
        if (pattern is not null && (pattern.Length == 0 || pattern.IndexOfAny(['/', '\\']) >= 0))
            Error(map["pattern"].Start, $"pattern '{pattern}' must match file names in the landing folder (no folders)");
        var orderText = OptionalString(map, "order") ?? "name_date";
        var order = orderText.ToLowerInvariant() switch
        {
            "name_date" => FileOrder.NameDate,
            "mtime" => FileOrder.Mtime,
            _ => Invalid<FileOrder>(map["order"], $"unknown order '{orderText}' (expected name_date or mtime)"),
        };
        var source = map.TryGetValue("source", out var s) ? ParseSource(s, landing: true) : Missing<SourceSpec>(node, "source");
        var entities = StringList(map, "entities");
        if (entities is null && !map.ContainsKey("entities"))
            Missing<object>(node, "entities");
        else if (entities is { Count: 0 })
            Error(map["entities"].Start, "'entities' must name at least one entity");
        var columns = StringList(map, "columns") ?? [];
        if (name is null || pattern is null || source is null || entities is null)
            return null;
        return new FileTypeSpec(name, pattern, order, source, entities, columns, (int)node.Start.Line);
    }

    /// <summary>
    /// The source of a manifest whose files all come through <c>landing</c>: it has no path of its own,
    /// so only the pipeline (which reads each file with its file type's source) can run it.
    /// </summary>
    private static SourceSpec LandingPlaceholder(LandingSpec landing) => landing.Files[0].Source;

    /// <summary>Every entity a file type names is one of the manifest's.</summary>
    private void CheckLanding(LandingSpec? landing, List<EntitySpec> entities)
    {
        if (landing is null)
            return;
        foreach (var type in landing.Files)
            foreach (var entity in type.Entities)
                if (!entities.Any(e => e.Name == entity))
                    errors.Add(new ManifestError(file, type.Line, 1,
                        $"file type '{type.Name}' loads entity '{entity}', which the manifest does not have (it has: {string.Join(", ", entities.Select(x => x.Name))})"));
    }

    private string? ParseStage(YamlNode node)
    {
        var map = Fields(node, "stage", "folder");
        return RequiredString(map, node, "folder");
    }

    private List<string> ParsePublish(YamlNode node)
    {
        if (node is YamlSequenceNode list && list.Children.All(c => c is YamlScalarNode { Value.Length: > 0 }))
            return list.Children.Select(c => Scalar((YamlScalarNode)c)).ToList();
        Error(node.Start, "'publish' must be a list of SQL files, run in order");
        return [];
    }
}
