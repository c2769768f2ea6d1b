using System.Globalization;
using System.IO.Hashing;
using System.Text.RegularExpressions;
using Ferry.Manifest;
using Ferry.Mapping;
using ValueType = Ferry.Manifest.ValueType;

namespace Ferry.Contracts;

/// <summary>
/// Checks a source row against an entity's rules and reports every failure, not only the first.
/// Built once per run: regular expressions and C# checks are compiled, column names resolved.
/// </summary>
public sealed class ContractValidator
{
    private readonly CompiledRule[] rules;

    private ContractValidator(CompiledRule[] rules) => this.rules = rules;

    /// <param name="checks">The compiled <c>check</c> expressions, in rule order.</param>
    internal static ContractValidator Create(IReadOnlyList<RuleSpec> specs, IReadOnlyList<string> columns, Queue<Func<string?[], bool>> checks)
    {
        var compiled = specs.Select(spec =>
        {
            var index = spec.Column is null ? -1 : IndexOf(columns, spec.Column);
            return spec.Kind == RuleKind.Check
                ? new CompiledRule(spec, index, checks.Dequeue())
                : new CompiledRule(spec, index, null);
        }).ToArray();
        return new ContractValidator(compiled);
    }

    private static int IndexOf(IReadOnlyList<string> columns, string name)
    {
        for (var i = 0; i < columns.Count; i++)
            if (string.Equals(columns[i], name, StringComparison.Ordinal))
                return i;
        return -1;
    }

    /// <summary>
    /// Checks every rule and adds an issue for each one broken. A <c>unique</c> value is compared with
    /// those of rows accepted so far; it counts as seen only once <see cref="Accept"/> is called.
    /// </summary>
    public void Validate(string?[] values, long line, List<ValidationIssue> issues)
    {
        foreach (var rule in rules)
        {
            if (rule.IsUnique)
                rule.CheckUnique(values, issues);
            else
                rule.Check(values, issues);
        }
    }

    /// <summary>
    /// Records a row that passed validation and mapping, so that a later row repeating one of its
    /// <c>unique</c> values is rejected. A rejected row reserves nothing: its corrected twin may load.
    /// </summary>
    public void Accept(string?[] values, long line)
    {
        foreach (var rule in rules)
            if (rule.IsUnique)
                rule.Record(values, line);
    }

    /// <summary>
    /// Forgets the <c>unique</c> values seen so far, for a new pass over the source from its first row
    /// (a run resumed in-process after a lost connection reads and validates its rows again).
    /// </summary>
    public void Reset()
    {
        foreach (var rule in rules)
            rule.Reset();
    }

    private sealed class CompiledRule
    {
        private readonly RuleSpec spec;
        private readonly int index;
        private readonly Func<string?[], bool>? check;
        private Regex? regex; // interpreted until the compiled one is ready
        private readonly HashSet<string>? allowed;
        private readonly object? min, max;
        private readonly ValueType rangeType;
        private readonly Dictionary<ulong, long>? seen;

        public CompiledRule(RuleSpec spec, int index, Func<string?[], bool>? check)
        {
            this.spec = spec;
            this.index = index;
            this.check = check;
            switch (spec.Kind)
            {
                case RuleKind.Regex:
                    regex = new Regex(spec.Pattern!, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
                    // Compiling a pattern to IL takes longer than a short run spends matching it, so
                    // it is compiled on the side and takes over when ready; both forms match alike.
                    _ = Task.Run(() => Volatile.Write(ref regex, new Regex(spec.Pattern!, RegexOptions.Compiled | RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1))));
                    break;
                case RuleKind.Allowed:
                    allowed = new HashSet<string>(spec.Allowed!, StringComparer.Ordinal);
                    break;
                case RuleKind.Unique:
                    seen = [];
                    break;
                case RuleKind.Range:
                    rangeType = spec.Type ?? ValueType.Decimal;
                    min = Bound(spec.Min);
                    max = Bound(spec.Max);
                    break;
            }
        }

        public bool IsUnique => spec.Kind == RuleKind.Unique;

        private object? Bound(string? text)
        {
            if (text is null)
                return null;
            if (ValueConverter.TryParse(rangeType, text, spec.Format, out var value))
                return value;
            throw new ManifestException([new ManifestError("", spec.Line, 1, $"range bound '{text}' is not a {ValueConverter.Describe(rangeType, spec.Format)}")]);
        }

        public void Check(string?[] values, List<ValidationIssue> issues)
        {
            var value = index >= 0 ? values[index] : null;
            var blank = string.IsNullOrWhiteSpace(value);
            string? failure = spec.Kind switch
            {
                RuleKind.Required => blank ? "value is missing" : null,
                RuleKind.Type => blank || ValueConverter.TryParse(spec.Type!.Value, value!, spec.Format, out _)
                    ? null
                    : $"'{value}' is not a valid {ValueConverter.Describe(spec.Type!.Value, spec.Format)}",
                RuleKind.Regex => blank || Volatile.Read(ref regex)!.IsMatch(value!) ? null : $"'{value}' does not match {spec.Pattern}",
                RuleKind.Allowed => blank || allowed!.Contains(value!) ? null : $"'{value}' is not one of: {string.Join(", ", spec.Allowed!)}",
                RuleKind.MaxLength => value is not null && value.Length > spec.MaxLength ? $"{value.Length} characters, more than {spec.MaxLength}" : null,
                RuleKind.Range => blank ? null : CheckRange(value!),
                RuleKind.Check => RunCheck(values),
                _ => null,
            };
            if (failure is not null)
                issues.Add(new ValidationIssue(spec.Severity, spec.Name, spec.Column, spec.Message ?? failure));
        }

        private string? CheckRange(string value)
        {
            if (!ValueConverter.TryParse(rangeType, value, spec.Format, out var parsed))
                return $"'{value}' is not a {ValueConverter.Describe(rangeType, spec.Format)}";
            var comparable = (IComparable)parsed!;
            if (min is not null && comparable.CompareTo(min) < 0 || max is not null && comparable.CompareTo(max) > 0)
                return $"{value} is outside [{spec.Min ?? "…"}, {spec.Max ?? "…"}]";
            return null;
        }

        private string? RunCheck(string?[] values)
        {
            try
            {
                return check!(values) ? null : $"check failed: {spec.Expression!.Text}";
            }
            catch (Exception ex)
            {
                return $"check threw {ex.GetType().Name}: {ex.Message}";
            }
        }

        public void CheckUnique(string?[] values, List<ValidationIssue> issues)
        {
            var value = values[index];
            if (string.IsNullOrWhiteSpace(value))
                return;
            if (seen!.TryGetValue(Hash(value), out var first))
                issues.Add(new ValidationIssue(spec.Severity, spec.Name, spec.Column,
                    spec.Message ?? $"'{value}' repeats the value of line {first.ToString(CultureInfo.InvariantCulture)}"));
        }

        public void Reset() => seen?.Clear();

        public void Record(string?[] values, long line)
        {
            var value = values[index];
            if (!string.IsNullOrWhiteSpace(value))
                seen!.TryAdd(Hash(value), line);
        }

        // A 64-bit hash per distinct value keeps memory small; a collision between two different
        // values is about one in 10^8 at two million values, and would reject a row, never lose it.
        private static ulong Hash(string value) => XxHash3.HashToUInt64(MemoryMarshalBytes(value));

        private static ReadOnlySpan<byte> MemoryMarshalBytes(string value) =>
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(value.AsSpan());
    }
}
