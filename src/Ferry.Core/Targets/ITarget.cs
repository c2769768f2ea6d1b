using Ferry.Engine;

namespace Ferry.Targets;

/// <summary>
/// A database that receives rows and keeps the ledger. A batch's rows, its staging statuses and its
/// ledger records commit together, so a crash never leaves one without the other.
/// </summary>
public interface ITarget : IAsyncDisposable
{
    /// <summary>Creates the ledger if needed and records a new run; returns its id.</summary>
    Task<long> BeginRunAsync(RunStart start, CancellationToken cancellationToken);

    /// <summary>Creates or checks the entity's table and staging table, and readies its loader.</summary>
    Task<IEntityLoader> BeginEntityAsync(long runId, EntityPlan plan, CancellationToken cancellationToken);

    Task FinishRunAsync(long runId, RunStatus status, string? error, CancellationToken cancellationToken);
}

/// <summary>Loads one entity's batches for one run.</summary>
public interface IEntityLoader : IAsyncDisposable
{
    /// <summary>Lands, loads and records one batch; sets each row's <see cref="BatchRow.Action"/>.</summary>
    Task<EntityCounts> LoadBatchAsync(Batch batch, CancellationToken cancellationToken);

    /// <summary>Commits what is still open (a <c>replace</c> load commits once, at the end) and records the entity's totals.</summary>
    Task CompleteAsync(EntityCounts totals, CancellationToken cancellationToken);
}

public sealed record RunStart(string Manifest, string? Name, string Source, bool DryRun, string CorrelationId);
