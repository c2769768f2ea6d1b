using System.Runtime.ExceptionServices;
using Ferry.Manifest;
using Ferry.Targets;

namespace Ferry.Engine;

/// <summary>
/// Runs a run's plans: each tenant's entities one after another in load order (dependencies first),
/// and up to <c>lanes</c> tenants at the same time. On PostgreSQL each lane has its own target
/// connection; SQLite has one writer, so there the lanes share the run's connection and take turns
/// per call (reading, validating and mapping still overlap). When one tenant fails, the others stop
/// at their current batch, whose transaction rolls back: nothing is half-committed, and the failed
/// run resumes each entity of each tenant from its own last committed batch.
/// </summary>
internal static class TenantScheduler
{
    /// <summary>Refuses options that do not fit the manifest, naming what would.</summary>
    public static void CheckOptions(MigrationManifest manifest, RunOptions options)
    {
        if (options.Parallel < 1)
            throw new ManifestException([new ManifestError(manifest.FilePath, 0, 0, "--parallel must be 1 or more")]);
        if (options.Tenant is not null && !manifest.Tenants.Any(t => t.Id == options.Tenant))
            throw new ManifestException([new ManifestError(manifest.FilePath, 0, 0, manifest.Tenants.Count == 0
                ? $"--tenant {options.Tenant}: the manifest has no tenants"
                : $"no tenant named '{options.Tenant}' (the manifest has: {string.Join(", ", manifest.Tenants.Select(t => t.Id))})")]);
        if (options.SourceOverride is not null && manifest.Tenants.Count > 0 && options.Tenant is null)
            throw new ManifestException([new ManifestError(manifest.FilePath, 0, 0,
                "--source replaces one tenant's source: name the tenant with --tenant")]);
    }

    public delegate Task PlanRunner(EntityPlan plan, ITarget target, IRunObserver observer, CancellationToken cancellationToken);

    public static async Task RunAsync(MigrationManifest manifest, IReadOnlyList<EntityPlan> plans, int lanes, ITarget runTarget, bool dryRun,
        IRunObserver observer, PlanRunner runPlan, CancellationToken cancellationToken)
    {
        var tenants = new Queue<List<EntityPlan>>(plans.GroupBy(p => p.Tenant).Select(g => g.OrderBy(p => p.Position).ToList()));
        lanes = Math.Clamp(lanes, 1, Math.Max(tenants.Count, 1));
        if (lanes == 1)
        {
            foreach (var plan in tenants.SelectMany(t => t))
                await runPlan(plan, runTarget, observer, cancellationToken).ConfigureAwait(false);
            return;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var shared = new SharedTarget(runTarget, serializeLoads: !TargetFactory.LanesConnectSeparately(manifest, dryRun));
        var synchronized = new SynchronizedObserver(observer);
        ExceptionDispatchInfo? failure = null;
        async Task LaneAsync(int lane)
        {
            // Lane 0 loads through the run's own connection; the others open their own where the target allows.
            ITarget? own = lane == 0 || !TargetFactory.LanesConnectSeparately(manifest, dryRun) ? null
                : await TargetFactory.OpenLaneAsync(manifest, stop.Token).ConfigureAwait(false);
            var target = own is null ? (ITarget)shared : new SharedTarget(own, shared.Gate, serializeLoads: false);
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    List<EntityPlan>? tenant;
                    lock (tenants)
                        if (!tenants.TryDequeue(out tenant))
                            break;
                    foreach (var plan in tenant)
                        await runPlan(plan, target, synchronized, stop.Token).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stop.IsCancellationRequested || cancellationToken.IsCancellationRequested)
            {
                // The first failure stops the other lanes; theirs (cancellations) are not the cause.
                Interlocked.CompareExchange(ref failure, ExceptionDispatchInfo.Capture(ex), null);
                await stop.CancelAsync().ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopped because another lane failed.
            }
            finally
            {
                if (own is not null)
                    await own.DisposeAsync().ConfigureAwait(false);
            }
        }
        await Task.WhenAll(Enumerable.Range(0, lanes).Select(lane => Task.Run(() => LaneAsync(lane), CancellationToken.None))).ConfigureAwait(false);
        failure?.Throw();
    }

    /// <summary>
    /// A target shared by lanes: one entity begins at a time (a table and its staging are created
    /// once), and with <c>serializeLoads</c> every call of its loaders takes the same turn (SQLite's
    /// single writer on the run's one connection).
    /// </summary>
    private sealed class SharedTarget(ITarget inner, SemaphoreSlim? gate = null, bool serializeLoads = true) : ITarget
    {
        public SemaphoreSlim Gate { get; } = gate ?? new SemaphoreSlim(1, 1);

        public Task<RunBegin> BeginRunAsync(RunStart start, CancellationToken cancellationToken) => inner.BeginRunAsync(start, cancellationToken);

        public Task FinishRunAsync(long runId, Engine.RunStatus status, string? error, CancellationToken cancellationToken) =>
            inner.FinishRunAsync(runId, status, error, cancellationToken);

        public async Task<IEntityLoader> BeginEntityAsync(long runId, EntityPlan plan, CancellationToken cancellationToken)
        {
            await Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var loader = await inner.BeginEntityAsync(runId, plan, cancellationToken).ConfigureAwait(false);
                return serializeLoads ? new SharedLoader(loader, Gate) : loader;
            }
            finally
            {
                Gate.Release();
            }
        }

        public async Task<KeyMap.LegacyKeySet> ReadLegacyKeysAsync(string entity, string tenant, CancellationToken cancellationToken)
        {
            if (!serializeLoads)
                return await inner.ReadLegacyKeysAsync(entity, tenant, cancellationToken).ConfigureAwait(false);
            await Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                return await inner.ReadLegacyKeysAsync(entity, tenant, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                Gate.Release();
            }
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask; // the run (or the lane) owns the target
    }

    private sealed class SharedLoader(IEntityLoader inner, SemaphoreSlim gate) : IEntityLoader
    {
        public Task<EntityCounts> LoadBatchAsync(Batch batch, CancellationToken cancellationToken) =>
            GatedAsync(() => inner.LoadBatchAsync(batch, cancellationToken), cancellationToken);

        public IPriorSource? OpenPriorSource() => inner.OpenPriorSource();

        public IBatchLanding? OpenLanding() => inner.OpenLanding();

        public Task<EntityCounts?> TryLoadUnchangedAsync(Batch batch, CancellationToken cancellationToken) =>
            GatedAsync(() => inner.TryLoadUnchangedAsync(batch, cancellationToken), cancellationToken);

        public Task CompleteAsync(CancellationToken cancellationToken) =>
            GatedAsync(async () =>
            {
                await inner.CompleteAsync(cancellationToken).ConfigureAwait(false);
                return true;
            }, cancellationToken);

        public async ValueTask DisposeAsync() =>
            await GatedAsync(async () =>
            {
                await inner.DisposeAsync().ConfigureAwait(false);
                return true;
            }, CancellationToken.None).ConfigureAwait(false);

        /// <summary>Runs <paramref name="action"/> while no other lane's loader uses the connection.</summary>
        private async Task<T> GatedAsync<T>(Func<Task<T>> action, CancellationToken cancellationToken)
        {
            await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                return await action().ConfigureAwait(false);
            }
            finally
            {
                gate.Release();
            }
        }
    }

    /// <summary>Observers (progress, logs) hear the lanes one event at a time.</summary>
    private sealed class SynchronizedObserver(IRunObserver inner) : IRunObserver
    {
        private readonly Lock gate = new();
        public void RunStarted(RunContext run) { lock (gate) inner.RunStarted(run); }
        public void EntityStarted(RunContext run, EntityPlan entity, string origin, EntityCheckpoint? resumedFrom) { lock (gate) inner.EntityStarted(run, entity, origin, resumedFrom); }
        public void RowRejected(RunContext run, EntityPlan entity, int batch, BatchRow row, string origin) { lock (gate) inner.RowRejected(run, entity, batch, row, origin); }
        public void BatchCommitted(RunContext run, EntityPlan entity, int batch, EntityCounts batchCounts, EntityCounts totals, double? progress) { lock (gate) inner.BatchCommitted(run, entity, batch, batchCounts, totals, progress); }
        public void EntityFinished(RunContext run, EntityPlan entity, EntityCounts totals) { lock (gate) inner.EntityFinished(run, entity, totals); }
        public void RunFinished(RunContext run, RunResult result) { lock (gate) inner.RunFinished(run, result); }
    }
}
