using YamlDotNet.RepresentationModel;

namespace Ferry.Manifest;

public sealed partial class ManifestLoader
{
    /// <summary>The <c>scd2</c> block of an entity: allowed, and then optional, with mode scd2 only.</summary>
    private HistorySpec? ParseHistory(Dictionary<string, YamlNode> map, YamlNode node, string? name, LoadMode mode, IReadOnlyList<string> key,
        IReadOnlyList<ColumnSpec> columns, bool staging)
    {
        map.TryGetValue("scd2", out var block);
        if (mode != LoadMode.Scd2)
        {
            if (block is not null)
                Error(block.Start, $"entity '{name}': 'scd2' settings apply to mode scd2 only");
            return null;
        }
        if (key.Count == 0)
            Error(node.Start, $"entity '{name}': mode scd2 needs a business 'key' (several versions of each key live in the table)");
        foreach (var c in columns.Where(c => HistorySpec.ReservedColumns.Contains(c.Target, StringComparer.OrdinalIgnoreCase)))
            errors.Add(new ManifestError(file, c.Line, 1,
                $"entity '{name}': column '{c.Target}' is one Ferry adds to a history table ({string.Join(", ", HistorySpec.ReservedColumns)}); name it otherwise"));
        var fields = block is null ? new Dictionary<string, YamlNode>() : Fields(block, "scd2", "tracked", "missing");
        var others = columns.Where(c => !key.Contains(c.Target)).Select(c => c.Target).ToList();
        var tracked = StringList(fields, "tracked") ?? others;
        foreach (var column in tracked.Where(t => !others.Contains(t)))
            Error(fields["tracked"].Start, key.Contains(column)
                ? $"entity '{name}': tracked column '{column}' is part of the key; a version is found by its key, and tracked columns are compared"
                : $"entity '{name}': tracked column '{column}' is not one of its mapped columns");
        if (fields.ContainsKey("tracked") && tracked.Count == 0)
            Error(fields["tracked"].Start, $"entity '{name}': 'tracked' must name at least one column (leave it out to track every non-key column)");
        var missingText = OptionalString(fields, "missing") ?? "ignore";
        var missing = missingText.ToLowerInvariant() switch
        {
            "ignore" => MissingKeys.Ignore,
            "close" => MissingKeys.Close,
            "delete" => MissingKeys.Delete,
            _ => Invalid<MissingKeys>(fields["missing"], $"unknown value '{missingText}' for 'missing' (expected ignore, close or delete)"),
        };
        // The keys a run saw are read back from its batch records, which hold them only with staging.
        if (missing != MissingKeys.Ignore && !staging)
            Error(fields["missing"].Start, $"entity '{name}': 'missing: {missingText}' needs staging: the batch records tell which keys the run saw");
        return new HistorySpec(tracked.Distinct(StringComparer.Ordinal).ToList(), missing, (int)(block ?? node).Start.Line);
    }
}
