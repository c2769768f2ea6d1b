using System.Globalization;
using System.Threading.Channels;
using Polly;
using Polly.Retry;
using Ferry.Diagnostics;
using Ferry.KeyMap;
using Ferry.Manifest;
using Ferry.Sources;
using Ferry.Targets;

namespace Ferry.Engine;

public sealed record RunOptions
{
    /// <summary>Read, validate, map and load inside a transaction that is rolled back: the target is left as it was.</summary>
    public bool DryRun { get; init; }

    /// <summary>Run only this entity.</summary>
    public string? Entity { get; init; }

    /// <summary>Run only this tenant (a manifest with tenants).</summary>
    public string? Tenant { get; init; }

    /// <summary>How many tenants load at the same time, each on its own source and target connections (a dry run loads one at a time).</summary>
    public int Parallel { get; init; } = 1;

    /// <summary>Read this file instead of the manifest's source (a corrected rejects export, say).</summary>
    public string? SourceOverride { get; init; }

    /// <summary>Also resume the manifest's latest run if it failed (a run whose process died is always resumed).</summary>
    public bool Resume { get; init; }

    /// <summary>Never resume: an interrupted run is marked failed and a new run starts from the first row.</summary>
    public bool Restart { get; init; }

    /// <summary>How often a run whose connection was lost is resumed in-process before it gives up.</summary>
    public int Retries { get; init; } = 5;

    /// <summary>The pause before the first retry; it doubles with each one.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// scd2 entities: when the versions this run opens become valid (and the ones it closes stop being):
    /// the date of the file it loads, say. Default: the run's start time. A resumed run keeps the one it began with.
    /// </summary>
    public DateTime? AsOf { get; init; }

    /// <summary>The source read is the whole dataset even when it is a SourceOverride (a pipeline's stage file): scd2 may close absent keys.</summary>
    public bool? WholeSource { get; init; }

    /// <summary>Called once the entities are bound to the source (with its column count), before the target is opened.</summary>
    public Action<IReadOnlyList<EntityPlan>, int>? BeforeLoad { get; init; }

    /// <summary>
    /// Told, on the thread reading a source, how much memory the batch being read holds, each time it
    /// reaches 1 MB, 2 MB, 4 MB and so on (<see cref="Sources.ReadAhead"/>): a host that bounds its heap
    /// makes room before rows wider than it assumed fill it. Tenants loading at once report from their own threads.
    /// </summary>
    public Action<long>? BatchBytes { get; init; }
}

public sealed record RunResult(
    long RunId,
    bool Resumed,
    RunStatus Status,
    bool DryRun,
    DateTime StartedAt,
    DateTime FinishedAt,
    IReadOnlyDictionary<string, EntityCounts> Entities,
    string? Error)
{
    /// <summary>With tenants: the counts of each entity of each tenant, in load order (empty without tenants).</summary>
    public IReadOnlyList<TenantCounts> Tenants { get; init; } = [];
}

/// <summary>What one tenant's run of one entity did.</summary>
public sealed record TenantCounts(string Entity, string Tenant, EntityCounts Counts);

/// <summary>A row broke a fatal rule: the run stops and the batch holding it is not written.</summary>
public sealed class FatalRowException(string message) : Exception(message);

/// <summary>
/// Runs a manifest: for each entity, source rows are read in batches, validated against the
/// contract, mapped, and loaded by the target together with their ledger records.
/// </summary>
public static class RunEngine
{
    /// <summary>Source columns with this prefix are Ferry's own (from a rejects export), not data.</summary>
    public const string ReservedPrefix = "_ferry_";
    private const string CorrectsColumn = ReservedPrefix + "stage_id";
    private const string CorrectsEntityColumn = ReservedPrefix + "entity";

    /// <summary>Parses, binds and compiles everything, opening the source and target, but moves no data.</summary>
    public static async Task<IReadOnlyList<EntityPlan>> CheckAsync(MigrationManifest manifest, CancellationToken cancellationToken)
    {
        // A file-fed manifest has no source of its own: its file types are checked instead.
        var plans = manifest.Landing is not null && manifest.Source.Path is null
            ? await Pipeline.FileValidation.CheckAsync(manifest, cancellationToken).ConfigureAwait(false)
            : await EntityPlan.BuildAsync(manifest, null, cancellationToken).ConfigureAwait(false);
        await TargetFactory.CheckAsync(manifest, cancellationToken).ConfigureAwait(false);
        return plans;
    }

    public static async Task<RunResult> RunAsync(MigrationManifest manifest, RunOptions options, IRunObserver observer, CancellationToken cancellationToken)
    {
        if (options.Entity is not null && !manifest.Entities.Any(e => e.Name == options.Entity))
            throw new ManifestException([new ManifestError(manifest.FilePath, 0, 0,
                $"no entity named '{options.Entity}' (the manifest has: {string.Join(", ", manifest.Entities.Select(e => e.Name))})")]);
        TenantScheduler.CheckOptions(manifest, options);

        // The source is opened and the manifest compiled before the target is touched, so a missing
        // file or a bad expression leaves no trace in the target.
        var bound = manifest.PerTenant().Where(m => options.Tenant is null || m.Tenant == options.Tenant).ToList();
        var allPlans = new List<EntityPlan>();
        var widest = 0;
        foreach (var tenantManifest in bound)
        {
            var sources = await SourceReaders.ShapesAsync(tenantManifest, options.SourceOverride, cancellationToken).ConfigureAwait(false);
            allPlans.AddRange(EntityPlan.Build(tenantManifest, sources));
            widest = Math.Max(widest, sources.Values.Max(s => s.Columns.Count));
        }
        IReadOnlyList<EntityPlan> plans = allPlans.Where(p => options.Entity is null || p.Spec.Name == options.Entity).ToList();
        foreach (var plan in plans)
            plan.TenantsInRun = plans.Count(p => p.Spec.Name == plan.Spec.Name);
        options.BeforeLoad?.Invoke(plans, widest);
        var started = DateTime.UtcNow;
        var correlation = Guid.NewGuid().ToString("N");

        // A lost connection rolls back the batch in flight; the next attempt resumes the same run
        // from its last committed batch, after a growing pause. Until this run has begun (its ledger
        // row written), an attempt is the first one again: resuming then would pick up an older run.
        long? begun = null;
        var pipeline = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(TargetFactory.IsTransient),
                MaxRetryAttempts = options.Retries,
                Delay = options.RetryDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
            })
            .Build();
        return await pipeline.ExecuteAsync(async ct =>
        {
            var attemptOptions = begun is null ? options : options with { Resume = true, Restart = false };
            return await AttemptAsync(manifest, attemptOptions, plans, correlation, started, observer, id => begun = id, ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<RunResult> AttemptAsync(MigrationManifest manifest, RunOptions options, IReadOnlyList<EntityPlan> plans,
        string correlation, DateTime started, IRunObserver observer, Action<long> begun, CancellationToken cancellationToken)
    {
        // Each plan (an entity of a tenant) counts on its own: tenants load at the same time.
        var totals = plans.ToDictionary(p => p, _ => new EntityCounts());
        var target = await TargetFactory.OpenForRunAsync(manifest, options.DryRun, cancellationToken).ConfigureAwait(false);
        await using (target.ConfigureAwait(false))
        {
            var sourceName = options.SourceOverride ?? manifest.DescribeSource();
            var start = new RunStart(manifest.FilePath, manifest.Name, sourceName, Fingerprint(manifest, options.SourceOverride),
                options.DryRun, correlation, options.Resume, options.Restart, options.AsOf, WholeSource: options.WholeSource ?? options.SourceOverride is null);
            var begin = await target.BeginRunAsync(start, cancellationToken).ConfigureAwait(false);
            var runId = begin.RunId;
            if (!options.DryRun)
                begun(runId);
            var context = new RunContext(options.DryRun ? 0 : runId, correlation, options.DryRun, plans, begin.Resumed);
            observer.RunStarted(context);
            string? error = null;
            var failed = false;
            try
            {
                var manifests = manifest.PerTenant().ToDictionary(m => m.Tenant ?? "");
                var numbers = BatchNumbers.From(begin.Checkpoints);
                var lanes = options.DryRun ? 1 : options.Parallel;
                await TenantScheduler.RunAsync(manifest, plans, lanes, target, options.DryRun, observer, async (plan, laneTarget, laneObserver, ct) =>
                {
                    var checkpoint = begin.Checkpoints.GetValueOrDefault(EntityCheckpoint.KeyOf(plan.Spec.Name, plan.Tenant));
                    if (checkpoint is not null)
                        totals[plan].Add(checkpoint.Counts);
                    if (checkpoint is { Completed: true })
                        return;
                    var source = await SourceReaders.OpenAsync(manifests[plan.Tenant ?? ""], plan.Spec, options.SourceOverride, ct).ConfigureAwait(false);
                    await using (source.ConfigureAwait(false))
                        await RunEntityAsync(context, runId, plan, checkpoint, numbers.For(plan.Spec.Name), source, laneTarget, totals[plan], laneObserver, options.BatchBytes, ct).ConfigureAwait(false);
                }, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                failed = true;
                error = "the run was cancelled";
            }
            catch (Exception ex) when (!TargetFactory.IsTransient(ex))
            {
                // Whatever stopped the run is recorded with it; a lost connection instead leaves the run
                // to be resumed by the next attempt.
                failed = true;
                error = ex is OutOfMemoryException
                    ? OutOfMemory(plans)
                    : SecretMasker.Scrub(ex is SourceException or TargetException or FatalRowException or System.Data.Common.DbException or IOException
                        ? ex.Message
                        : $"{ex.GetType().Name}: {ex.Message}");
            }
            var status = failed ? RunStatus.Failed
                : totals.Values.Any(t => t.Rejected > 0) ? RunStatus.Partial
                : RunStatus.Succeeded;
            await target.FinishRunAsync(runId, status, error, CancellationToken.None).ConfigureAwait(false);
            var entityTotals = new Dictionary<string, EntityCounts>(StringComparer.Ordinal);
            foreach (var (plan, counts) in totals)
            {
                if (!entityTotals.TryGetValue(plan.Spec.Name, out var sum))
                    entityTotals[plan.Spec.Name] = sum = new EntityCounts();
                sum.Add(counts);
            }
            var result = new RunResult(context.RunId, begin.Resumed, status, options.DryRun, started, DateTime.UtcNow, entityTotals, error)
            {
                Tenants = totals.Where(t => t.Key.Tenant is not null).Select(t => new TenantCounts(t.Key.Spec.Name, t.Key.Tenant!, t.Value)).ToList(),
            };
            observer.RunFinished(context, result);
            return result;
        }
    }

    /// <summary>
    /// Size and modification time of the file a run reads: a run resumes only on the same input.
    /// A database has none: a resumed run continues after the key of its last committed row.
    /// </summary>
    private static string Fingerprint(MigrationManifest manifest, string? sourceOverride)
    {
        if (manifest.Tenants.Count > 0 && sourceOverride is null)
            return string.Join("|", manifest.PerTenant().Select(m => Fingerprint(m with { Tenants = [] }, null)));
        if ((sourceOverride ?? manifest.Source.Path) is not { } path)
            return "";
        var file = new FileInfo(Path.GetFullPath(Path.Combine(manifest.Directory, path)));
        return file.Exists
            ? string.Create(CultureInfo.InvariantCulture, $"{file.Length}:{file.LastWriteTimeUtc:O}")
            : "";
    }

    /// <summary>
    /// What a run that ran out of memory tells its user: what held the memory (the batches in flight)
    /// and what to change. The batches committed before stay.
    /// </summary>
    private static string OutOfMemory(IReadOnlyList<EntityPlan> plans)
    {
        var sizes = string.Join(", ", plans.DistinctBy(p => p.Spec.Name).Select(p => p.Spec.Name + " " + p.Spec.BatchSize.ToString("N0", CultureInfo.InvariantCulture)));
        var megabytes = (GC.GetGCMemoryInfo().TotalAvailableMemoryBytes >> 20).ToString("N0", CultureInfo.InvariantCulture);
        return $"out of memory: an entity's batches in flight (up to five; batch_size {sizes}) needed more than the {megabytes} MB " +
               "this process may use; lower batch_size for the entities whose rows are wide and run again (the batches committed so far stay)";
    }

    /// <summary>
    /// One entity, in three stages on their own tasks so that the cores share the work: one parses
    /// the source into batches of records (<see cref="ReadAhead"/>), one validates, maps and hashes them, and this one loads
    /// them. At most five batches are in memory at once: one per stage and one waiting between each.
    /// </summary>
    private static async Task RunEntityAsync(RunContext run, long runId, EntityPlan plan, EntityCheckpoint? checkpoint, BatchNumbers.Counter numbers, ISourceReader source,
        ITarget target, EntityCounts totals, IRunObserver observer, Action<long>? batchBytes, CancellationToken cancellationToken)
    {
        observer.EntityStarted(run, plan, source.Origin, checkpoint);
        // The source is read from its first row: the unique values an earlier attempt of this run saw
        // (rows it read ahead of its last commit included) are seen again, not taken for repeats.
        plan.Validator.Reset();
        await using var loader = await target.BeginEntityAsync(runId, plan, cancellationToken).ConfigureAwait(false);
        var keyMap = await KeyMapScope.BindAsync(plan, target, cancellationToken).ConfigureAwait(false);
        await using var prior = loader.OpenPriorSource();
        await using var landing = loader.OpenLanding();
        var csv = plan.SourceSeed is not null ? source as CsvSourceReader : null;
        if (csv is not null)
        {
            // A file's records are compared by their text; with a prior run to compare against, they
            // are found and hashed in the file's bytes, and a record's values are made only for a
            // batch that is not found unchanged.
            csv.HashRecords = true;
            csv.DeferValues = prior is not null;
        }
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var batches = Channel.CreateBounded<Batch>(new BoundedChannelOptions(1) { SingleReader = true, SingleWriter = true });
        var mapping = Task.Run(() => PrepareBatchesAsync(plan, keyMap, source, checkpoint?.LastLine ?? 0, numbers, prior, landing, batches.Writer, batchBytes, stop.Token), stop.Token);
        RowHasher? ownHasher = null; // the preparing task's hasher is its own
        try
        {
            await foreach (var prepared in batches.Reader.ReadAllAsync(stop.Token).ConfigureAwait(false))
            {
                var batch = prepared;
                EntityCounts? counts = null;
                if (batch.SourceUnchanged)
                {
                    counts = await loader.TryLoadUnchangedAsync(batch, stop.Token).ConfigureAwait(false);
                    // The prior record went stale after the preparing task compared it: the rows are validated and mapped after all.
                    if (counts is null)
                    {
                        ownHasher ??= new RowHasher(plan.Mapper);
                        var rows = batch.Rows.Select(r => Prepare(plan, ownHasher, keyMap, new SourceRow(r.Line, r.Raw), -1)).ToList();
                        var digest = (byte[])batch.SourceDigest!.Clone();
                        SourceHasher.ClearIssues(digest, rows);
                        batch = batch with { Rows = rows, SourceDigest = digest, SourceUnchanged = false };
                    }
                }
                var number = batch.Number;
                if (counts is null && batch.Rows.FirstOrDefault(r => r.Fatal is not null) is { } fatal)
                {
                    var issue = fatal.Fatal;
                    var unwritten = plan.Spec.Mode == LoadMode.Replace
                        ? $"nothing of entity {plan.Describe()} was written: a replace load commits once, at its end"
                        : $"batch {number} not written";
                    throw new FatalRowException($"{source.Origin}:{fatal.Line}: {issue} — fatal rule broken, the run stops ({unwritten})");
                }
                counts ??= await loader.LoadBatchAsync(batch, stop.Token).ConfigureAwait(false);
                totals.Add(counts);
                foreach (var row in batch.Rows)
                    if (row.Action == RowAction.Rejected)
                        observer.RowRejected(run, plan, number, row, source.Origin);
                observer.BatchCommitted(run, plan, number, counts, totals, source.Progress);
            }
            await mapping.ConfigureAwait(false);
        }
        catch
        {
            await stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await mapping.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The stages stopped because the loader failed; the loader's error is the one to report.
            }
            // A replace load is one transaction: when it fails, none of its batches stays.
            if (plan.Spec.Mode == LoadMode.Replace)
                totals.Clear();
            throw;
        }
        await loader.CompleteAsync(cancellationToken).ConfigureAwait(false);
        observer.EntityFinished(run, plan, totals);
    }

    /// <param name="resumeAfter">The last source line an interrupted attempt committed: rows up to it are
    /// validated again (so that rules such as <c>unique</c> know them) but not loaded again.</param>
    /// <param name="prior">The prior run's batch records, when the entity's rows may be compared raw (<see cref="EntityPlan.SourceSeed"/>):
    /// a batch whose raw rows all equal those of the record at its position is passed on neither validated
    /// nor mapped, for the loader to record as unchanged.</param>
    /// <param name="landing">Lands each batch before it is passed on, where the target can (<see cref="IEntityLoader.OpenLanding"/>).</param>
    private static async Task PrepareBatchesAsync(EntityPlan plan, KeyMapScope keyMap, ISourceReader source, long resumeAfter, BatchNumbers.Counter numbers,
        IPriorSource? prior, IBatchLanding? landing, ChannelWriter<Batch> batches, Action<long>? batchBytes, CancellationToken cancellationToken)
    {
        var columns = source.Columns.ToList();
        var corrects = columns.IndexOf(CorrectsColumn);
        var correctsEntity = columns.IndexOf(CorrectsEntityColumn);
        var batchSize = plan.Spec.BatchSize;
        var sourceHasher = plan.SourceSeed is { } seed ? new SourceHasher(seed) : null;
        // A stage id names a row of one entity's staging table: it corrects only that entity's row.
        int CorrectsFor(SourceRow record) => correctsEntity < 0 || record.Values[correctsEntity] == plan.Spec.Name ? corrects : -1;

        async Task<Batch> BatchAsync(List<SourceRow> records)
        {
            var batch = await PreparedAsync(records).ConfigureAwait(false);
            return landing is null ? batch : await landing.LandAsync(batch, cancellationToken).ConfigureAwait(false);
        }

        async Task<Batch> PreparedAsync(List<SourceRow> records)
        {
            // Batch numbers run on across an entity's tenants: a stage id names one row of the entity's staging.
            var number = numbers.Next();
            if (sourceHasher is null)
                return new Batch(number, columns, records.ConvertAll(r => Prepare(plan, plan.Hasher, keyMap, r, CorrectsFor(r))));
            var hashes = sourceHasher.Digest(records);
            // A malformed record (hash 0) is never skipped: its batch is compared by nothing but its content.
            var unchanged = prior is not null && records.TrueForAll(r => r.Problem is null)
                && await prior.MatchesAsync(number, records[0].Line, records[^1].Line, hashes, cancellationToken).ConfigureAwait(false);
            if (unchanged)
                return new Batch(number, columns, records.ConvertAll(r => new BatchRow(r) { Action = RowAction.Unchanged }))
                {
                    SourceDigest = hashes,
                    SourceUnchanged = true,
                };
            var rows = records.ConvertAll(r => Prepare(plan, plan.Hasher, keyMap, r, CorrectsFor(r)));
            SourceHasher.ClearIssues(hashes, rows);
            return new Batch(number, columns, rows) { SourceDigest = hashes };
        }

        try
        {
            // A source read in key order starts after the checkpoint instead of reading every committed row
            // again, unless a 'unique' rule must see their values again.
            if (resumeAfter > 0 && source is IKeysetSource keyset && !plan.Spec.Rules.Any(r => r.Kind == RuleKind.Unique))
                await keyset.SeekAfterLineAsync(resumeAfter, cancellationToken).ConfigureAwait(false);
            var records = new List<SourceRow>(batchSize);
            // The source is parsed a batch ahead, on a thread of its own.
            await foreach (var record in ReadAhead.RowsAsync(source, batchSize, cancellationToken, batchBytes).ConfigureAwait(false))
            {
                if (record.Line <= resumeAfter)
                {
                    Prepare(plan, plan.Hasher, keyMap, record, CorrectsFor(record));
                    continue;
                }
                records.Add(record);
                if (records.Count == batchSize)
                {
                    await batches.WriteAsync(await BatchAsync(records).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
                    records = new List<SourceRow>(batchSize);
                }
            }
            if (records.Count > 0)
                await batches.WriteAsync(await BatchAsync(records).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            batches.Complete();
        }
        catch (Exception ex)
        {
            batches.Complete(ex);
            throw;
        }
    }

    /// <summary>Validates and maps one source row; a row with a rejecting issue gets no values.</summary>
    private static BatchRow Prepare(EntityPlan plan, RowHasher hasher, KeyMapScope keyMap, SourceRow record, int correctsColumn)
    {
        var row = new BatchRow(record.Line, record.Values);
        if (correctsColumn >= 0 && long.TryParse(record.Values[correctsColumn], NumberStyles.Integer, CultureInfo.InvariantCulture, out var stageId))
            row.CorrectsStageId = stageId;
        if (record.Problem is { } problem)
        {
            row.Issues.Add(new Contracts.ValidationIssue(Severity.Error, problem.Rule, problem.Column, problem.Message));
            return row;
        }
        // The issues are gathered in this thread's list and given to the row only if there are any.
        var issues = scratchIssues ??= [];
        issues.Clear();
        try
        {
            plan.Validator.Validate(record.Values, record.Line, issues);
            if (issues.Exists(i => i.RejectsRow))
            {
                // An orphan is listed with the rules the row broke.
                plan.Mapper.CheckLookups(record.Values, issues, keyMap);
                return row;
            }
            var values = new object?[plan.Mapper.Columns.Count];
            var key = plan.Mapper.Map(record.Values, values, issues, keyMap, out var legacy);
            if (key is not null && !issues.Exists(i => i.RejectsRow))
            {
                row.Key = key;
                row.Legacy = legacy;
                row.Values = values;
                row.Hash = hasher.Hash(values);
                plan.Validator.Accept(record.Values, record.Line);
            }
            return row;
        }
        finally
        {
            if (issues.Count > 0)
                row.Issues.AddRange(issues);
        }
    }

    [ThreadStatic]
    private static List<Contracts.ValidationIssue>? scratchIssues;
}
