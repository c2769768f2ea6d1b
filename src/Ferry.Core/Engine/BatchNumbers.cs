using System.Collections.Concurrent;
using Ferry.Targets;

namespace Ferry.Engine;

/// <summary>
/// Numbers an entity's batches within a run. The tenants of an entity share one sequence, so their
/// batches never share a number: a stage id (run, batch, position) names one row of the entity's
/// staging whichever tenant it came from. A resumed run goes on after the entity's last committed batch.
/// </summary>
internal sealed class BatchNumbers
{
    private readonly ConcurrentDictionary<string, Counter> counters = new(StringComparer.Ordinal);

    public static BatchNumbers From(IReadOnlyDictionary<string, EntityCheckpoint> checkpoints)
    {
        var numbers = new BatchNumbers();
        foreach (var (key, checkpoint) in checkpoints)
        {
            var counter = numbers.For(EntityCheckpoint.EntityOf(key));
            counter.Last = Math.Max(counter.Last, checkpoint.LastBatch);
        }
        return numbers;
    }

    public Counter For(string entity) => counters.GetOrAdd(entity, _ => new Counter());

    public sealed class Counter
    {
        private int last;

        public int Last { get => last; set => last = value; }

        public int Next() => Interlocked.Increment(ref last);
    }
}
