namespace Ferry.Manifest;

/// <summary>
/// The order entities load in within a tenant: each after the entities it depends on
/// (<c>depends_on</c>, and the parent of every column with <c>references</c>), otherwise in the order
/// the manifest lists them (a stable topological sort).
/// </summary>
public static class DependencyOrder
{
    /// <summary>The entities each entity depends on: its <c>depends_on</c> and its columns' references (not itself).</summary>
    public static IReadOnlyList<string> Of(EntitySpec entity) =>
        entity.DependsOn
            .Concat(entity.Columns.Where(c => c.References is not null).Select(c => c.References!.Entity))
            .Where(d => d != entity.Name)
            .Distinct(StringComparer.Ordinal)
            .ToList();

    /// <summary>
    /// Sorts <paramref name="entities"/> so that every entity follows those it depends on. Returns
    /// false with the entities of one cycle (the first repeated at the end) when there is no such order.
    /// Dependencies on entities not in the list are ignored (they are reported elsewhere).
    /// </summary>
    public static bool TrySort(IReadOnlyList<EntitySpec> entities, out IReadOnlyList<EntitySpec> sorted, out IReadOnlyList<string> cycle)
    {
        var byName = entities.ToDictionary(e => e.Name, StringComparer.Ordinal);
        var result = new List<EntitySpec>(entities.Count);
        var placed = new HashSet<string>(StringComparer.Ordinal);
        // Each round places the first entity (in manifest order) whose dependencies are all placed.
        while (result.Count < entities.Count)
        {
            var next = entities.FirstOrDefault(e => !placed.Contains(e.Name) && Of(e).All(d => placed.Contains(d) || !byName.ContainsKey(d)));
            if (next is null)
            {
                sorted = result;
                cycle = FindCycle(entities.Where(e => !placed.Contains(e.Name)).ToList(), byName);
                return false;
            }
            result.Add(next);
            placed.Add(next.Name);
        }
        sorted = result;
        cycle = [];
        return true;
    }

    /// <summary>Walks from the first unplaced entity along unplaced dependencies until a name repeats.</summary>
    private static List<string> FindCycle(List<EntitySpec> unplaced, Dictionary<string, EntitySpec> byName)
    {
        var open = unplaced.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        var path = new List<string>();
        var current = unplaced[0];
        while (!path.Contains(current.Name))
        {
            path.Add(current.Name);
            current = byName[Of(current).First(open.Contains)];
        }
        return [.. path.Skip(path.IndexOf(current.Name)), current.Name];
    }
}
