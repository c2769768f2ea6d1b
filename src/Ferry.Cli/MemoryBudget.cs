using Ferry.Engine;

namespace Ferry.Cli;

/// <summary>
/// Bounds the managed heap by what a run needs rather than by what the machine has. Rows live only
/// while their batch is read, waiting or loaded, but the garbage collector, left alone, lets the heap
/// grow long before it collects batches that are done with, so resident memory would drift upwards
/// with the size of the input. A hard limit sized from the batch makes it collect in time.
/// The limit is process-wide, so only the ferry process applies it: never the library, whose host
/// may be doing other work, nor tests that run the CLI in-process.
/// The size of a value is a guess made before any row is read. Rows much wider than it (a document's
/// text in each, say) would fill the heap and fail the run with OutOfMemoryException however much
/// memory the machine has, so the limit grows as the rows read show their size (<see cref="Grow"/>).
/// </summary>
internal static class MemoryBudget
{
    // The runtime, compiled expressions and the CSV reader's buffers, which grow to 16 M characters
    // for a single huge field (twice: the buffer and the string made from it).
    private const long Baseline = 80L << 20;
    // One being parsed, one waiting to be mapped, one being mapped, one waiting to load, one loading;
    // the one being collected shares the room of the batch being parsed, whose rows are not yet mapped.
    private const int BatchesInFlight = 5;
    private const int BytesPerValue = 160; // a raw string or typed value with its share of the row (about 110 bytes measured)

    /// <summary>The heap limit for these entities, in bytes; <paramref name="lanes"/> tenants load at the same time, each with its batches in flight.</summary>
    public static long For(IEnumerable<EntityPlan> plans, int sourceColumns, int lanes = 1) =>
        Limit(lanes, plans.Select(p => BatchBytes(p, sourceColumns)).DefaultIfEmpty(0).Max());

    /// <summary>One batch of this entity, raw and mapped values, at the assumed width.</summary>
    private static long BatchBytes(EntityPlan plan, int sourceColumns) =>
        (long)plan.Spec.BatchSize * (sourceColumns + plan.Mapper.Columns.Count) * BytesPerValue;

    /// <summary>Room for the runtime and, in each lane, its batches in flight of <paramref name="batchBytes"/> each.</summary>
    private static long Limit(int lanes, long batchBytes) => Baseline + lanes * BatchesInFlight * batchBytes;

    /// <summary>Room for large objects (85,000 bytes and more): the CSV reader's buffers for a huge field, a batch's arrays.</summary>
    private const long LargeObjects = 96L << 20;
    private const long PinnedObjects = 16L << 20;

    private static readonly Lock Gate = new();
    private static long applied; // the small-object heap's limit this process set; 0 when it set none
    private static int appliedLanes;
    private static long machine; // the memory the process may use, read before any limit of ours hides it

    /// <summary>Applies the limit, unless the user set one (DOTNET_GCHeapHardLimit…) or asked for more.</summary>
    /// <returns>
    /// A warning for the user when the memory the process may use (a heap limit the user set, or the
    /// machine's or container's memory) is below what these batches need: such a run may fail with
    /// OutOfMemoryException, or the runtime itself may crash, partway through. Null when it is not.
    /// </returns>
    /// <remarks>
    /// The limit is set per object heap. Applied after start-up, a single limit for the whole heap
    /// lets the small-object heap, whose allocation budget was sized for the machine at start-up,
    /// commit all of it; the next large object then finds no room, and the run fails with
    /// OutOfMemoryException however little is live. Large and pinned objects get room of their own.
    /// </remarks>
    public static string? Apply(IReadOnlyList<EntityPlan> plans, int sourceColumns, int lanes = 1)
    {
        var limit = For(plans, sourceColumns, lanes);
        if (Environment.GetEnvironmentVariables().Keys.OfType<string>().Any(k => k.StartsWith("DOTNET_GCHeapHardLimit", StringComparison.OrdinalIgnoreCase)))
            return Short(plans, sourceColumns, lanes, limit, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, "the heap limit DOTNET_GCHeapHardLimit sets");
        var current = AppContext.GetData("GCHeapHardLimit") as ulong? ?? 0;
        if (current != 0 && current >= (ulong)limit)
            return null;
        lock (Gate)
        {
            if (machine == 0)
                machine = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes; // physical memory, or the container's
            appliedLanes = lanes;
            applied = Set(limit, LargeObjects) ? limit : 0;
            return Short(plans, sourceColumns, lanes, limit, machine, "the memory of this machine or container");
        }
    }

    /// <summary>
    /// The warning <see cref="Apply"/> gives when <paramref name="available"/> is below <paramref name="limit"/>,
    /// naming the entity whose batches set the limit.
    /// </summary>
    private static string? Short(IReadOnlyList<EntityPlan> plans, int sourceColumns, int lanes, long limit, long available, string what)
    {
        if (available <= 0 || available >= limit)
            return null;
        var widest = plans.MaxBy(p => BatchBytes(p, sourceColumns));
        return $"warning: this run's batches need about {limit >> 20} MB of heap ({BatchesInFlight} batches in flight" +
               (lanes > 1 ? $" in each of {lanes} tenants loading at once" : "") +
               $"; entity '{widest?.Spec.Name}' has batch_size {widest?.Spec.BatchSize:N0}), but {what} allows {available >> 20} MB: " +
               "the run may fail for want of memory. Lower batch_size" + (lanes > 1 ? " or --parallel" : "") + ", or give the process more memory";
    }

    /// <summary>
    /// Makes room for batches of at least <paramref name="batchBytes"/> (<see cref="RunOptions.BatchBytes"/>): the
    /// batch being read may hold twice that before the next report, and its rows' mapped values and arrays as
    /// much again, in each of the batches in flight. The limit only grows, doubling at least, so that a run
    /// of wide rows sets it a few times, not with every batch, and at most to three quarters of the memory
    /// the process may use (what the collector would allow itself in a container).
    /// </summary>
    public static void Grow(long batchBytes)
    {
        lock (Gate)
        {
            if (applied == 0)
                return; // none set (the user's own, or none could be)
            var need = Limit(appliedLanes, 4 * batchBytes);
            if (need <= applied)
                return;
            var most = machine / 4 * 3;
            if (applied >= most)
                return;
            var limit = Math.Min(most, Math.Max(need, 2 * applied));
            // Wide values may be strings of a megabyte or more: large objects get as much room.
            applied = Set(limit, Math.Max(LargeObjects, limit)) ? limit : 0;
        }
    }

    /// <summary>Sets the limits; false when the process holds more than them already and runs on without any.</summary>
    private static bool Set(long smallObjects, long largeObjects)
    {
        AppContext.SetData("GCHeapHardLimitSOH", (ulong)smallObjects);
        AppContext.SetData("GCHeapHardLimitLOH", (ulong)largeObjects);
        AppContext.SetData("GCHeapHardLimitPOH", (ulong)PinnedObjects);
        try
        {
            GC.RefreshMemoryLimit();
            return true;
        }
        catch (InvalidOperationException)
        {
            // Applied late (a pipeline's history step, after validation), the process may hold more
            // than the limit already: it then runs without one, as it did until now.
            AppContext.SetData("GCHeapHardLimitSOH", 0UL);
            AppContext.SetData("GCHeapHardLimitLOH", 0UL);
            AppContext.SetData("GCHeapHardLimitPOH", 0UL);
            return false;
        }
    }
}
