using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Ferry.Sources;

/// <summary>
/// A source's rows read on a thread of their own, a chunk ahead of whoever takes them: parsing a file or
/// paging a database then overlaps the work done with each row. At most three chunks are held.
/// </summary>
public static class ReadAhead
{
    public static async IAsyncEnumerable<SourceRow> RowsAsync(ISourceReader source, int chunkSize, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var chunks = Channel.CreateBounded<List<SourceRow>>(new BoundedChannelOptions(1) { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reading = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    var chunk = new List<SourceRow>(chunkSize);
                    while (chunk.Count < chunkSize && await source.ReadAsync(stop.Token).ConfigureAwait(false) is { } row)
                        chunk.Add(row);
                    if (chunk.Count == 0)
                        break;
                    await chunks.Writer.WriteAsync(chunk, stop.Token).ConfigureAwait(false);
                }
                chunks.Writer.Complete();
            }
            catch (Exception ex)
            {
                chunks.Writer.Complete(ex);
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
