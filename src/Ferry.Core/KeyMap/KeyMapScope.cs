using Ferry.Engine;
using Ferry.Targets;

namespace Ferry.KeyMap;

/// <summary>
/// The key map as one entity of one tenant sees it during a run: the tenant its UUIDs are made for,
/// and the legacy keys of each entity it looks up, read once when the entity begins (a parent loaded
/// earlier in the same run has committed by then; in a dry run it is in the same transaction).
/// </summary>
public sealed class KeyMapScope
{
    private readonly IReadOnlyDictionary<string, LegacyKeySet>? parents;

    private KeyMapScope(string tenant, IReadOnlyDictionary<string, LegacyKeySet>? parents)
    {
        Tenant = tenant;
        this.parents = parents;
    }

    /// <summary>The tenant, "" when the manifest has none.</summary>
    public string Tenant { get; }

    /// <summary>UUIDs for the tenant, with no parent checked: what the target should hold for rows a run accepted.</summary>
    public static KeyMapScope Unchecked(string? tenant) => new(tenant ?? "", null);

    /// <summary>Reads, for each entity <paramref name="plan"/> looks up, the legacy keys the key map holds for the plan's tenant.</summary>
    public static async Task<KeyMapScope> BindAsync(EntityPlan plan, ITarget target, CancellationToken cancellationToken)
    {
        var tenant = plan.Tenant ?? "";
        var parents = new Dictionary<string, LegacyKeySet>(StringComparer.Ordinal);
        foreach (var column in plan.Mapper.Columns)
            if (column.Lookup is { } parent && !parents.ContainsKey(parent))
                parents[parent] = await target.ReadLegacyKeysAsync(parent, tenant, cancellationToken).ConfigureAwait(false);
        return new KeyMapScope(tenant, parents);
    }

    /// <summary>Whether a row of <paramref name="entity"/> with this legacy key is in the key map (always, when unchecked).</summary>
    public bool Has(string entity, string legacyKey) => parents is null || parents[entity].Contains(legacyKey);

    /// <summary>
    /// The UUID of a parent's legacy key, as <see cref="Mapping.DeterministicUuid.ForLegacyKey"/> makes it.
    /// A lookup column often names few parents (a school per thousand students) or the same one row after
    /// row (a student's enrollments), and a UUID is a SHA-1 through the crypto library, about half a
    /// microsecond: the last 65,536 a lookup made are kept, boxed, so that the rows naming one parent
    /// share its box rather than each making one. A scope serves one entity's rows in order, never two
    /// threads at once.
    /// </summary>
    public object ParentUuid(string entity, string legacyKey)
    {
        if (!uuids.TryGetValue(entity, out var known))
            uuids[entity] = known = new Dictionary<string, object>(StringComparer.Ordinal);
        if (known.TryGetValue(legacyKey, out var uuid))
            return uuid;
        if (known.Count == UuidsKept)
            known.Clear();
        uuid = Mapping.DeterministicUuid.ForLegacyKey(entity, Tenant, legacyKey);
        known[legacyKey] = uuid;
        return uuid;
    }

    private const int UuidsKept = 1 << 16;
    private readonly Dictionary<string, Dictionary<string, object>> uuids = new(StringComparer.Ordinal);

    /// <summary>The rejection of a row whose parent is not in the key map.</summary>
    public string Orphan(string entity, string legacyKey) =>
        $"orphan: no {entity} with legacy key {legacyKey}{(Tenant.Length > 0 ? $" (tenant {Tenant})" : "")}";
}

/// <summary>A row's entry in the key map: its legacy key (as <see cref="LegacyKeyText"/> writes it) and UUID.</summary>
public readonly record struct KeyMapEntry(string LegacyKey, Guid Uuid);
