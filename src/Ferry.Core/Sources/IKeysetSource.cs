using System.Globalization;

namespace Ferry.Sources;

/// <summary>
/// A source read in the order of a unique key, a page at a time (keyset pagination), which can
/// therefore start after any row without reading the rows before it: a resumed run reads only what
/// it has not committed.
/// </summary>
public interface IKeysetSource
{
    /// <summary>
    /// Makes the next <see cref="ISourceReader.ReadAsync"/> return the row after the one numbered
    /// <paramref name="line"/>, numbered <c>line + 1</c>. The key of that row is looked up by its
    /// position (the database skips the rows before it in its index; none is sent). Returns false
    /// when the source has no row <paramref name="line"/> (it has shrunk): then nothing is read.
    /// </summary>
    Task<bool> SeekAfterLineAsync(long line, CancellationToken cancellationToken);

    /// <summary>
    /// Makes the next read return the first row whose key is greater than the cursor's, numbered
    /// <c>cursor.Line + 1</c>: resuming from a stored cursor needs no look-up at all.
    /// </summary>
    void StartAfter(KeyCursor cursor);
}

/// <summary>A row's position in a source read in key order: its ordinal and its key values, as the database gave them.</summary>
public sealed record KeyCursor(long Line, IReadOnlyList<object> Key)
{
    /// <summary>The key values as a person reads them: <c>(3, ab)</c>.</summary>
    public string KeyText => $"({string.Join(", ", Key.Select(k => Convert.ToString(k, CultureInfo.InvariantCulture)))})";

    public override string ToString() => $"row {Line.ToString(CultureInfo.InvariantCulture)}, key {KeyText}";
}
