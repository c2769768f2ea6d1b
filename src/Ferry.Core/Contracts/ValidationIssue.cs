using System.Text.Json.Serialization;
using Ferry.Manifest;

namespace Ferry.Contracts;

/// <summary>One broken rule on one row: which column, which rule, how serious, and why.</summary>
public sealed record ValidationIssue(
    [property: JsonPropertyName("severity")] Severity Severity,
    [property: JsonPropertyName("rule")] string Rule,
    [property: JsonPropertyName("column")] string? Column,
    [property: JsonPropertyName("message")] string Message)
{
    public bool RejectsRow => Severity >= Severity.Error;

    public override string ToString() =>
        Column is null
            ? $"{Rule} ({Severity.ToString().ToLowerInvariant()}): {Message}"
            : $"column {Column}: {Rule} ({Severity.ToString().ToLowerInvariant()}): {Message}";
}
