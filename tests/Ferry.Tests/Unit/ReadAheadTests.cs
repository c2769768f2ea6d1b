using Ferry.Sources;

namespace Ferry.Tests.Unit;

/// <summary><see cref="ReadAhead"/>: a source read on a thread of its own gives its rows in order, its failure, and stops when its taker does.</summary>
public class ReadAheadTests
{
    /// <summary>Numbered rows; fails at <paramref name="failAt"/>; records how far it was read and whether it was read after being closed.</summary>
    private sealed class Numbers(int count, int failAt = 0) : ISourceReader
    {
        public int Read;
        public bool Closed;
        public bool ReadWhileClosed;

        public string Origin => "numbers";
        public IReadOnlyList<string> Columns { get; } = ["n"];
        public double? Progress => null;

        public ValueTask<SourceRow?> ReadAsync(CancellationToken cancellationToken)
        {
            ReadWhileClosed |= Closed;
            cancellationToken.ThrowIfCancellationRequested();
            if (Read == failAt && failAt > 0)
                throw new SourceException("numbers", Read + 1, "test", "the source broke");
            if (Read == count)
                return ValueTask.FromResult<SourceRow?>(null);
            Read++;
            return ValueTask.FromResult<SourceRow?>(new SourceRow(Read, [Read.ToString(System.Globalization.CultureInfo.InvariantCulture)]));
        }

        public ValueTask DisposeAsync()
        {
            Closed = true;
            return ValueTask.CompletedTask;
        }
    }

    [Fact]
    public async Task Every_row_comes_in_order_across_chunks()
    {
        await using var source = new Numbers(10_007);
        var lines = new List<long>();
        await foreach (var row in ReadAhead.RowsAsync(source, 100, CancellationToken.None))
            lines.Add(row.Line);
        Assert.Equal(Enumerable.Range(1, 10_007).Select(i => (long)i), lines);
    }

    [Fact]
    public async Task The_sources_failure_reaches_the_taker_after_the_rows_before_it()
    {
        // Inside a chunk: the 50 rows read of it come before the error too.
        await using var source = new Numbers(10_000, failAt: 2_550);
        var lines = new List<long>();
        var ex = await Assert.ThrowsAsync<SourceException>(async () =>
        {
            await foreach (var row in ReadAhead.RowsAsync(source, 100, CancellationToken.None))
                lines.Add(row.Line);
        });
        Assert.Contains("the source broke", ex.Message, StringComparison.Ordinal);
        Assert.Equal(Enumerable.Range(1, 2_550).Select(i => (long)i), lines);
    }

    [Fact]
    public async Task A_taker_that_stops_early_stops_the_reader_before_the_source_closes()
    {
        var source = new Numbers(1_000_000);
        await foreach (var row in ReadAhead.RowsAsync(source, 100, CancellationToken.None))
            if (row.Line == 150)
                break;
        await source.DisposeAsync();
        var readThen = source.Read;
        await Task.Delay(50);
        // At most the chunk being taken, one waiting and one being filled were read: not the million.
        Assert.InRange(readThen, 150, 400);
        Assert.Equal(readThen, source.Read);
        Assert.False(source.ReadWhileClosed);
    }
}
