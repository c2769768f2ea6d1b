namespace Ferry.Sources;

/// <summary>
/// One record as read: its raw text values in source-column order and the line it starts on.
/// <see cref="Problem"/> is set when the record itself is malformed (wrong field count, bytes
/// invalid in the encoding); such a row is rejected without being validated or mapped.
/// </summary>
public sealed class SourceRow(long line, string?[] values, RowProblem? problem = null)
{
    public long Line { get; } = line;
    public string?[] Values { get; } = values;
    public RowProblem? Problem { get; } = problem;
}

/// <summary>What is wrong with a malformed record: the column (if one) and the rule it breaks.</summary>
public sealed record RowProblem(string? Column, string Rule, string Message);
