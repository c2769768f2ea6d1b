namespace Ferry.Sources;

/// <summary>
/// One record as read: its raw text values in source-column order and the line it starts on.
/// <see cref="Problem"/> is set when the record itself is malformed (wrong field count, bytes
/// invalid in the encoding); such a row is rejected without being validated or mapped.
/// A database row's line is its ordinal in key order (1, 2, 3 …), and <see cref="Cursor"/> its key.
/// </summary>
public sealed class SourceRow
{
    private string?[]? values;
    private CsvRecordBlock? block; // knows where the record lies in its file until its values are asked for
    private readonly int index;
    private readonly int length; // a deferred record's bytes in its file
    private readonly IReadOnlyList<object>? key;

    /// <param name="key">A database row's key values, for its <see cref="Cursor"/>.</param>
    public SourceRow(long line, string?[] values, RowProblem? problem = null, IReadOnlyList<object>? key = null, long? textHash = null)
    {
        Line = line;
        this.values = values;
        Problem = problem;
        this.key = key;
        TextHash = textHash;
    }

    /// <summary>A well-formed record whose values are parsed from its text in <paramref name="block"/> only when something asks for them.</summary>
    internal SourceRow(long line, CsvRecordBlock block, int index, int length, long textHash)
    {
        Line = line;
        this.block = block;
        this.index = index;
        this.length = length;
        TextHash = textHash;
    }

    public long Line { get; }

    public string?[] Values
    {
        get
        {
            if (values is null)
            {
                values = block!.ValuesOf(index);
                block = null;
            }
            return values;
        }
    }

    public RowProblem? Problem { get; }

    /// <summary>
    /// About the memory the row's values take (or will, once a deferred record is asked for them):
    /// two bytes a character and each string's own overhead. A reader's measure of how wide its rows
    /// really are, for a host that bounds its heap (<see cref="ReadAhead"/>).
    /// </summary>
    internal long ApproximateBytes
    {
        get
        {
            const int perString = 32, perArray = 32;
            if (values is not { } read)
                return block is { } unread ? perArray + 2L * length + (8L + perString) * unread.Columns : 0;
            long bytes = perArray + 8L * read.Length;
            foreach (var value in read)
                if (value is not null)
                    bytes += perString + 2L * value.Length;
            return bytes;
        }
    }

    /// <summary>Where a source read in key order stands after this row; null for files.</summary>
    /// <remarks>Made when asked for: a run resumes by line, so its rows seldom are.</remarks>
    public KeyCursor? Cursor => key is null ? null : new KeyCursor(Line, key);

    /// <summary>
    /// A hash of the record's text as read (XXH3 of a file's line in UTF-8, without its line break),
    /// when the reader was asked for one (<see cref="CsvSourceReader.HashRecords"/>): the same text
    /// under the same parsing settings gives the same values.
    /// </summary>
    public long? TextHash { get; }
}

/// <summary>What is wrong with a malformed record: the column (if one) and the rule it breaks.</summary>
public sealed record RowProblem(string? Column, string Rule, string Message);
