namespace Ferry.Engine;

/// <summary>Hears what a run does, as it does it: progress bars and JSON-lines logs are observers.</summary>
public interface IRunObserver
{
    void RunStarted(RunContext run);
    void EntityStarted(RunContext run, EntityPlan entity, string origin, Targets.EntityCheckpoint? resumedFrom);
    void RowRejected(RunContext run, EntityPlan entity, int batch, BatchRow row, string origin);
    void BatchCommitted(RunContext run, EntityPlan entity, int batch, EntityCounts batchCounts, EntityCounts totals, double? progress);
    void EntityFinished(RunContext run, EntityPlan entity, EntityCounts totals);
    void RunFinished(RunContext run, RunResult result);
}

/// <summary>Who a run is: its ledger id (0 in a dry run) and the correlation id on its every log line.</summary>
/// <param name="Resumed">The run continues an interrupted one, from each entity's last committed batch.</param>
public sealed record RunContext(long RunId, string CorrelationId, bool DryRun, IReadOnlyList<EntityPlan> Entities, bool Resumed);

/// <summary>Passes every event on to several observers.</summary>
public sealed class RunObservers(params IRunObserver[] observers) : IRunObserver
{
    public void RunStarted(RunContext run) { foreach (var o in observers) o.RunStarted(run); }
    public void EntityStarted(RunContext run, EntityPlan entity, string origin, Targets.EntityCheckpoint? resumedFrom) { foreach (var o in observers) o.EntityStarted(run, entity, origin, resumedFrom); }
    public void RowRejected(RunContext run, EntityPlan entity, int batch, BatchRow row, string origin) { foreach (var o in observers) o.RowRejected(run, entity, batch, row, origin); }
    public void BatchCommitted(RunContext run, EntityPlan entity, int batch, EntityCounts batchCounts, EntityCounts totals, double? progress) { foreach (var o in observers) o.BatchCommitted(run, entity, batch, batchCounts, totals, progress); }
    public void EntityFinished(RunContext run, EntityPlan entity, EntityCounts totals) { foreach (var o in observers) o.EntityFinished(run, entity, totals); }
    public void RunFinished(RunContext run, RunResult result) { foreach (var o in observers) o.RunFinished(run, result); }
}
