using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Ferry.Manifest;

/// <summary>The manifest's tenants (each with its own source) and the entities' dependency order.</summary>
public sealed partial class ManifestLoader
{
    /// <summary><c>tenants: [{ id: north, source: {…} }, …]</c>, in place of a top-level <c>source</c>.</summary>
    private List<TenantSpec>? ParseTenants(YamlNode node, bool withSource)
    {
        if (withSource)
            Error(node.Start, "a manifest has either 'source' or 'tenants' (each with its own source), not both");
        if (node is not YamlSequenceNode list || list.Children.Count == 0)
        {
            Error(node.Start, "'tenants' must be a non-empty list of { id, source }");
            return null;
        }
        var tenants = new List<TenantSpec>();
        bool? databases = null;
        foreach (var item in list.Children)
        {
            var map = Fields(item, "tenant", "id", "source");
            var id = RequiredString(map, item, "id");
            if (id is not null && !TenantIdPattern().IsMatch(id))
                Error(map["id"].Start, $"tenant id '{id}' must start with a letter or digit and hold only letters, digits, '_', '-' and '.' (at most 63)");
            if (id is not null && tenants.Any(t => t.Id == id))
                Error(map["id"].Start, $"tenant '{id}' is listed more than once");
            var source = map.TryGetValue("source", out var sourceNode) ? ParseSource(sourceNode) : Missing<SourceSpec>(item, "source");
            if (source is not null)
            {
                if (databases is { } earlier && earlier != source.IsDatabase)
                    Error(sourceNode!.Start, "tenants mix file and database sources: an entity reads 'from' a table of every tenant's database, or every tenant's file");
                databases ??= source.IsDatabase;
            }
            if (id is not null && source is not null)
                tenants.Add(new TenantSpec(id, source, (int)item.Start.Line));
        }
        // Entities read 'from' when the tenants' sources are databases.
        databaseSource = databases ?? databaseSource;
        return tenants;
    }

    /// <summary>With tenants, Ferry fills the tenant column itself, and a replace would empty the other tenants' rows.</summary>
    private void CheckTenantEntities(List<EntitySpec> entities, string tenantColumn)
    {
        foreach (var entity in entities)
        {
            if (entity.Columns.FirstOrDefault(c => c.Target == tenantColumn) is { } column)
                errors.Add(new ManifestError(file, column.Line, 1,
                    $"entity '{entity.Name}': column '{tenantColumn}' is the tenant column, which Ferry fills with each tenant's id; map the column under another name or set 'tenant_column'"));
            if (entity.Mode == LoadMode.Replace)
                errors.Add(new ManifestError(file, entity.Line, 1,
                    $"entity '{entity.Name}': mode replace empties the whole table, the other tenants' rows included; with tenants use upsert or insert"));
        }
    }

    /// <summary>Checks every 'depends_on' names an entity and the dependencies have no cycle; returns the load order.</summary>
    private List<EntitySpec> OrderByDependencies(List<EntitySpec> entities)
    {
        foreach (var entity in entities)
            foreach (var dependency in entity.DependsOn)
                if (!entities.Any(e => e.Name == dependency))
                    errors.Add(new ManifestError(file, dependsOnLines.GetValueOrDefault(entity.Name, entity.Line), 1,
                        $"entity '{entity.Name}' depends on '{dependency}', which the manifest does not have (it has: {string.Join(", ", entities.Select(x => x.Name))})"));
                else if (dependency == entity.Name)
                    errors.Add(new ManifestError(file, dependsOnLines.GetValueOrDefault(entity.Name, entity.Line), 1,
                        $"entity '{entity.Name}' depends on itself"));
        if (DependencyOrder.TrySort(entities, out var sorted, out var cycle))
            return [.. sorted];
        var first = entities.First(e => e.Name == cycle[0]);
        errors.Add(new ManifestError(file, dependsOnLines.GetValueOrDefault(first.Name, first.Line), 1,
            $"entities depend on each other in a cycle: {string.Join(" -> ", cycle)} (depends_on and references); no order loads each after the ones it needs"));
        return entities;
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
    private static partial Regex TenantIdPattern();
}
