using System.Globalization;
using Ferry.Contracts;
using Ferry.KeyMap;
using Ferry.Manifest;
using ValueType = Ferry.Manifest.ValueType;

namespace Ferry.Mapping;

/// <summary>
/// Computes an entity's target columns from a source row: declarative steps (from, trim, type,
/// default, const, uuid, lookup) and compiled C# expressions. Failures become issues on the row.
/// </summary>
public sealed class RowMapper
{
    private readonly string entity;
    private readonly Step[] steps;
    private readonly int[] keyColumns;
    private readonly int[]? legacyColumns; // source columns of the legacy key, when the entity has one
    private static readonly KeyMapScope NoTenant = KeyMapScope.Unchecked(null);

    private RowMapper(string entity, Step[] steps, int[] keyColumns, int[]? legacyColumns)
    {
        this.entity = entity;
        this.steps = steps;
        this.keyColumns = keyColumns;
        this.legacyColumns = legacyColumns;
        Columns = steps.Select(s => s.Spec).ToArray();
        uuidFromKey = steps.Any(s => s.Spec.UuidFromKey);
    }

    private readonly bool uuidFromKey; // a column's value derives from the business key's text

    /// <summary>The target columns, in the order of the values <see cref="Map"/> fills.</summary>
    public IReadOnlyList<ColumnSpec> Columns { get; }

    public IReadOnlyList<int> KeyColumns => keyColumns;

    internal static RowMapper Create(EntitySpec spec, IReadOnlyList<string> sourceColumns, Queue<Func<string?[], object?>> expressions)
    {
        var steps = spec.Columns.Select(c => new Step(
            c,
            c.From is null ? -1 : sourceColumns.ToList().IndexOf(c.From),
            c.Expression is null ? null : expressions.Dequeue())).ToArray();
        var keys = spec.Key.Select(k => Array.FindIndex(steps, s => s.Spec.Target == k)).ToArray();
        var legacy = spec.LegacyKey?.Columns.Select(c => sourceColumns.ToList().IndexOf(c)).ToArray();
        return new RowMapper(spec.Name, steps, keys, legacy);
    }

    /// <summary>Fills <paramref name="target"/>; returns the business key, or null when the row cannot be mapped.</summary>
    /// <param name="keyMap">The tenant for <c>uuid: legacy</c> and <c>lookup</c> columns, and the parents a lookup must find (none: tenant "", nothing checked).</param>
    public string? Map(string?[] source, object?[] target, List<ValidationIssue> issues, KeyMapScope? keyMap = null) =>
        Map(source, target, issues, keyMap, out _);

    /// <param name="legacy">The row's legacy key and its key-map UUID, when the entity has a <c>legacy_key</c> and the row maps.</param>
    public string? Map(string?[] source, object?[] target, List<ValidationIssue> issues, KeyMapScope? keyMap, out KeyMapEntry? legacy) =>
        Map(source, target, issues, keyMap, out legacy, keyText: true);

    /// <summary>
    /// Fills <paramref name="target"/> as <see cref="Map(string?[], object?[], List{ValidationIssue}, KeyMapScope?)"/> does, with the
    /// same issues, but makes the business key's text only when a <c>uuid: key</c> column needs it; false when the row cannot be mapped.
    /// </summary>
    public bool TryMapValues(string?[] source, object?[] target, List<ValidationIssue> issues, KeyMapScope? keyMap) =>
        Map(source, target, issues, keyMap, out _, keyText: uuidFromKey) is not null;

    private string? Map(string?[] source, object?[] target, List<ValidationIssue> issues, KeyMapScope? keyMap, out KeyMapEntry? legacy, bool keyText)
    {
        legacy = null;
        keyMap ??= NoTenant;
        var failed = false;
        var legacyUuid = Guid.Empty;
        string? legacyKey = null;
        if (legacyColumns is not null)
        {
            legacyKey = LegacyKeyText.Of(source, legacyColumns);
            if (legacyKey is null)
            {
                issues.Add(new ValidationIssue(Severity.Error, "legacy_key", null, "legacy key value is empty"));
                failed = true;
            }
            else
                legacyUuid = DeterministicUuid.ForLegacyKey(entity, keyMap.Tenant, legacyKey);
        }
        // Deterministic UUIDs derive from the key, so they are computed after every other column.
        for (var i = 0; i < steps.Length; i++)
        {
            var spec = steps[i].Spec;
            if (spec.UuidFromLegacy)
                target[i] = legacyUuid;
            else if (spec.Lookup is not null)
                failed |= !steps[i].LookUp(source, target, i, keyMap, issues);
            else if (!spec.UuidFromKey)
                failed |= !steps[i].Compute(source, target, i, issues);
        }
        if (failed)
            return null;

        string key;
        if (keyColumns.Length == 0)
        {
            key = "";
        }
        else
        {
            var parts = keyText ? new string[keyColumns.Length] : [];
            for (var k = 0; k < keyColumns.Length; k++)
            {
                var value = target[keyColumns[k]];
                if (value is null || value is string s && string.IsNullOrWhiteSpace(s))
                {
                    issues.Add(new ValidationIssue(Severity.Error, "key", steps[keyColumns[k]].Spec.Target, "business key value is empty"));
                    return null;
                }
                if (keyText)
                    parts[k] = Format(value);
            }
            key = !keyText ? "" : parts.Length == 1 ? parts[0] : string.Join('\u001F', parts);
        }
        for (var i = 0; i < steps.Length; i++)
            if (steps[i].Spec.UuidFromKey)
                target[i] = DeterministicUuid.ForKey(entity, key);
        if (legacyKey is not null)
            legacy = new KeyMapEntry(legacyKey, legacyUuid);
        return key;
    }

    /// <summary>
    /// Only the lookups of a row that is rejected anyway (by the contract): an orphan is listed with the
    /// row's other messages.
    /// </summary>
    public void CheckLookups(string?[] source, List<ValidationIssue> issues, KeyMapScope keyMap)
    {
        for (var i = 0; i < steps.Length; i++)
            if (steps[i].Spec.Lookup is { } parent && LegacyKeyText.Value(steps[i].Raw(source)) is { } value && !keyMap.Has(parent, value))
                issues.Add(new ValidationIssue(Severity.Error, "lookup", steps[i].Spec.Target, keyMap.Orphan(parent, value)));
    }

    /// <summary>A value as invariant text: how keys are compared and how values are shown.</summary>
    public static string Format(object value) => value switch
    {
        string s => s,
        DateOnly d => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        DateTime d => d.ToString("yyyy-MM-dd HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture).TrimEnd('.'),
        bool b => b ? "true" : "false",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        Guid g => g.ToString("D"),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private sealed class Step(ColumnSpec spec, int sourceIndex, Func<string?[], object?>? expression)
    {
        public ColumnSpec Spec { get; } = spec;

        public string? Raw(string?[] source) => sourceIndex >= 0 ? source[sourceIndex] : null;

        /// <summary>A parent's legacy key becomes the parent's UUID; a blank one NULL; one the key map lacks rejects the row.</summary>
        public bool LookUp(string?[] source, object?[] target, int slot, KeyMapScope keyMap, List<ValidationIssue> issues)
        {
            target[slot] = null;
            if (LegacyKeyText.Value(Raw(source)) is not { } value)
                return true;
            if (!keyMap.Has(Spec.Lookup!, value))
            {
                issues.Add(new ValidationIssue(Severity.Error, "lookup", Spec.Target, keyMap.Orphan(Spec.Lookup!, value)));
                return false;
            }
            target[slot] = keyMap.ParentUuid(Spec.Lookup!, value);
            return true;
        }

        public bool Compute(string?[] source, object?[] target, int slot, List<ValidationIssue> issues)
        {
            if (Spec.Const is not null)
                return Convert(Spec.Const, target, slot, issues);
            if (expression is not null)
            {
                object? result;
                try
                {
                    result = expression(source);
                }
                catch (Exception ex)
                {
                    issues.Add(new ValidationIssue(Severity.Error, "expr", Spec.Target, $"expression threw {ex.GetType().Name}: {ex.Message}"));
                    return false;
                }
                // A null result is blank like an empty text: both get the column's default.
                if (result is null or string)
                {
                    var text = (string?)result;
                    return Convert(Spec.Trim ? text?.Trim() : text, target, slot, issues);
                }
                if (ValueConverter.TryConvert(Spec.Type, result, Spec.Format, out var value))
                {
                    target[slot] = value;
                    return true;
                }
                issues.Add(new ValidationIssue(Severity.Error, "type", Spec.Target,
                    $"expression gave {result}, not a {ValueConverter.Describe(Spec.Type, Spec.Format)}"));
                return false;
            }
            var raw = sourceIndex >= 0 ? source[sourceIndex] : null;
            if (raw is not null && Spec.Trim)
                raw = raw.Trim();
            return Convert(raw, target, slot, issues);
        }

        private bool Convert(string? raw, object?[] target, int slot, List<ValidationIssue> issues)
        {
            if (string.IsNullOrEmpty(raw) || Spec.Type != ValueType.Text && string.IsNullOrWhiteSpace(raw))
                raw = Spec.Default;
            if (raw is null)
            {
                target[slot] = null;
                return true;
            }
            if (ValueConverter.TryParse(Spec.Type, raw, Spec.Format, out var value))
            {
                target[slot] = value;
                return true;
            }
            issues.Add(new ValidationIssue(Severity.Error, "type", Spec.Target,
                $"'{raw}' is not a valid {ValueConverter.Describe(Spec.Type, Spec.Format)}"));
            return false;
        }
    }
}
