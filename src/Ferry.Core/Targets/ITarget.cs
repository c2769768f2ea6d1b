using Ferry.Engine;

namespace Ferry.Targets;

/// <summary>
/// A database that receives rows and keeps the ledger. A batch's rows, its staging statuses and its
/// ledger records commit together, so a crash never leaves one without the other.
/// </summary>
public interface ITarget : IAsyncDisposable
{
    /// <summary>
    /// Creates the ledger if needed, then either resumes this manifest's interrupted run (one whose
    /// process died, or with <see cref="RunStart.Resume"/> one that failed) or records a new run.
    /// </summary>
    Task<RunBegin> BeginRunAsync(RunStart start, CancellationToken cancellationToken);

    /// <summary>
    /// Creates or checks the entity's table and staging table, and readies its loader. Rows an
    /// interrupted attempt of this run landed but never loaded are cleared from staging.
    /// </summary>
    Task<IEntityLoader> BeginEntityAsync(long runId, EntityPlan plan, CancellationToken cancellationToken);

    Task FinishRunAsync(long runId, RunStatus status, string? error, CancellationToken cancellationToken);

    /// <summary>The legacy keys the key map holds for an entity and tenant ("" without tenants), as the run's transaction sees them.</summary>
    Task<KeyMap.LegacyKeySet> ReadLegacyKeysAsync(string entity, string tenant, CancellationToken cancellationToken);
}

/// <summary>Loads one entity's batches for one run.</summary>
public interface IEntityLoader : IAsyncDisposable
{
    /// <summary>Lands, loads and records one batch; sets each row's <see cref="BatchRow.Action"/>.</summary>
    Task<EntityCounts> LoadBatchAsync(Batch batch, CancellationToken cancellationToken);

    /// <summary>Commits what is still open (a <c>replace</c> load commits once, at the end) and marks the entity complete.</summary>
    Task CompleteAsync(CancellationToken cancellationToken);

    /// <summary>
    /// The prior run's batch records, for the task that prepares batches to compare raw rows with, on
    /// a connection of their own (opened when first read); null when there is nothing to compare with
    /// (no prior run, an entity without a <see cref="EntityPlan.SourceSeed"/>, a target that compares
    /// rows with its table).
    /// </summary>
    IPriorSource? OpenPriorSource() => null;

    /// <summary>
    /// Lands batches for the task that prepares them, on a connection of its own, so that a batch's
    /// landing overlaps the loading of the one before; null where <see cref="LoadBatchAsync"/> lands
    /// each batch itself.
    /// </summary>
    IBatchLanding? OpenLanding() => null;

    /// <summary>
    /// Records a <see cref="Batch.SourceUnchanged"/> batch as unchanged by copying the prior run's record
    /// at its position, in one transaction; null when that record no longer says what the table holds
    /// (this run or another changed a row it lists since it was compared): the batch must then be
    /// mapped and go through <see cref="LoadBatchAsync"/>.
    /// </summary>
    Task<EntityCounts?> TryLoadUnchangedAsync(Batch batch, CancellationToken cancellationToken) => Task.FromResult<EntityCounts?>(null);
}

/// <summary>Lands batches ahead of the loader (see <see cref="IEntityLoader.OpenLanding"/>).</summary>
public interface IBatchLanding : IAsyncDisposable
{
    /// <summary>
    /// Commits the batch's landed record, its rows pending (and the records of its rejected and warned
    /// rows), and returns it <see cref="Batch.Landed"/>; returns it as it is when the loader is to land
    /// it (the first batch, one with nothing to write, one with a fatal issue and every one after it).
    /// </summary>
    Task<Batch> LandAsync(Batch batch, CancellationToken cancellationToken);
}

/// <summary>The prior run's batch records, as the source hashes of their rows (see <see cref="SourceHasher"/>).</summary>
public interface IPriorSource : IAsyncDisposable
{
    /// <summary>
    /// Whether the prior run's record at batch position <paramref name="batchNumber"/> holds, on the
    /// same consecutive lines, rows with exactly these source hashes, each of which it wrote or found
    /// unchanged with no warning, under distinct keys, and is not stale.
    /// </summary>
    /// <param name="sourceDigest">Every row's hash; none may be 0 (a malformed record, never compared).</param>
    Task<bool> MatchesAsync(int batchNumber, long firstLine, long lastLine, byte[] sourceDigest, CancellationToken cancellationToken);
}

/// <param name="SourceFingerprint">Size and modification time of the source: a run resumes only on the same input.</param>
/// <param name="Resume">Also resume the manifest's latest run when it failed (a dead process's run is always resumed).</param>
/// <param name="Restart">Never resume: mark an interrupted run failed and start afresh.</param>
/// <param name="AsOf">scd2 entities: the time the versions the run opens become valid (default: the run's start).</param>
/// <param name="WholeSource">The run reads the manifest's own source, not a <c>--source</c> file: an scd2 entity's absent keys mean something.</param>
public sealed record RunStart(string Manifest, string? Name, string Source, string SourceFingerprint, bool DryRun, string CorrelationId, bool Resume, bool Restart,
    DateTime? AsOf = null, bool WholeSource = true);

/// <summary>The run the target opened: a new one, or an interrupted one with each entity's checkpoint.</summary>
public sealed record RunBegin(long RunId, bool Resumed, IReadOnlyDictionary<string, EntityCheckpoint> Checkpoints);

/// <summary>Where an entity of an interrupted run stands: its last committed batch and the counts so far.</summary>
public sealed record EntityCheckpoint(int LastBatch, long LastLine, EntityCounts Counts, bool Completed)
{
    /// <summary>The key of <see cref="RunBegin.Checkpoints"/>: the entity, or with tenants the entity and the tenant.</summary>
    public static string KeyOf(string entity, string? tenant) => tenant is null ? entity : entity + "\u001F" + tenant;

    /// <summary>The entity of a <see cref="KeyOf"/> key.</summary>
    public static string EntityOf(string key) => key.Split('\u001F')[0];
}
