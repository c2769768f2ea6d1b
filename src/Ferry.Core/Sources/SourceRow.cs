namespace Ferry.Sources;

/// <summary>
/// One record as read: its raw text values in source-column order and the line it starts on.
/// <see cref="Problem"/> is set when the record itself is malformed (wrong field count, bytes
/// invalid in the encoding); such a row is rejected without being validated or mapped.
/// A database row's line is its ordinal in key order (1, 2, 3 …), and <see cref="Cursor"/> its key.
/// </summary>
public sealed class SourceRow(long line, string?[] values, RowProblem? problem = null, KeyCursor? cursor = null)
{
    public long Line { get; } = line;
    public string?[] Values { get; } = values;
    public RowProblem? Problem { get; } = problem;

    /// <summary>Where a source read in key order stands after this row; null for files.</summary>
    public KeyCursor? Cursor { get; } = cursor;
}

/// <summary>What is wrong with a malformed record: the column (if one) and the rule it breaks.</summary>
public sealed record RowProblem(string? Column, string Rule, string Message);
