namespace Ferry.Sources;

/// <summary>
/// Streams records from a source. Only the current record is held, so memory does not grow with
/// the size of the input.
/// </summary>
public interface ISourceReader : IAsyncDisposable
{
    /// <summary>The file (or other origin) as a person names it in messages.</summary>
    string Origin { get; }

    IReadOnlyList<string> Columns { get; }

    /// <summary>How far through the input the reader is, from 0 to 1, when that can be known.</summary>
    double? Progress { get; }

    /// <summary>The next record, or null at the end.</summary>
    ValueTask<SourceRow?> ReadAsync(CancellationToken cancellationToken);
}
