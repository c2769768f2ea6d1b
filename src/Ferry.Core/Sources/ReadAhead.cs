using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Ferry.Sources;

/// <summary>
/// A source's rows read on a thread of their own, a chunk ahead of whoever takes them: parsing a file or
/// paging a database then overlaps the work done with each row. At most three chunks are held.
/// </summary>
public static class ReadAhead
{
    /// <summary>The first size of a chunk reported to <c>chunkBytes</c>; each report after it is of twice the last.</summary>
    public const long FirstReport = 1L << 20;

    /// <param name="chunkBytes">
    /// Told, on the reading thread, how much memory the chunk being read holds (<see cref="SourceRow.ApproximateBytes"/>)
    /// each time it reaches 1 MB, 2 MB, 4 MB and so on: before it, or the next rows, hold twice that.
    /// </param>
    public static async IAsyncEnumerable<SourceRow> RowsAsync(ISourceReader source, int chunkSize, [EnumeratorCancellation] CancellationToken cancellationToken,
        Action<long>? chunkBytes = null)
    {
        var chunks = Channel.CreateBounded<List<SourceRow>>(new BoundedChannelOptions(1) { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reading = Task.Run(async () =>
        {
            var chunk = new List<SourceRow>(chunkSize);
            try
            {
                while (true)
                {
                    long bytes = 0, report = FirstReport;
                    while (chunk.Count < chunkSize && await source.ReadAsync(stop.Token).ConfigureAwait(false) is { } row)
                    {
                        chunk.Add(row);
                        if (chunkBytes is not null && (bytes += row.ApproximateBytes) >= report)
                        {
                            chunkBytes(bytes);
                            while (report <= bytes)
                                report *= 2;
                        }
                    }
                    if (chunk.Count == 0)
                        break;
                    await chunks.Writer.WriteAsync(chunk, stop.Token).ConfigureAwait(false);
                    chunk = new List<SourceRow>(chunkSize);
                }
                chunks.Writer.Complete();
            }
            catch (Exception ex)
            {
                // The rows read before the source broke go to the taker ahead of the error.
                if (chunk.Count > 0 && ex is not OperationCanceledException)
                {
                    try
                    {
                        await chunks.Writer.WriteAsync(chunk, stop.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        // The taker stopped: it wants no more rows.
                    }
                }
                chunks.Writer.TryComplete(ex);
            }
        }, CancellationToken.None); // always started, so that it always completes the channel
        try
        {
            await foreach (var chunk in chunks.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                foreach (var row in chunk)
                    yield return row;
        }
        finally
        {
            // Taken no further (done, failed or stopped early): the reader stops before its source is closed.
            await stop.CancelAsync().ConfigureAwait(false);
            await reading.ConfigureAwait(false);
        }
    }
}
