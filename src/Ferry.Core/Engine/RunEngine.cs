using System.Diagnostics;
using System.Globalization;
using Ferry.Diagnostics;
using Ferry.Manifest;
using Ferry.Sources;
using Ferry.Targets;
using Ferry.Targets.Sqlite;

namespace Ferry.Engine;

public sealed record RunOptions
{
    /// <summary>Read, validate, map and load inside a transaction that is rolled back: the target is left as it was.</summary>
    public bool DryRun { get; init; }

    /// <summary>Run only this entity.</summary>
    public string? Entity { get; init; }

    /// <summary>Read this file instead of the manifest's source (a corrected rejects export, say).</summary>
    public string? SourceOverride { get; init; }
}

public sealed record RunResult(
    long RunId,
    RunStatus Status,
    bool DryRun,
    DateTime StartedAt,
    DateTime FinishedAt,
    IReadOnlyDictionary<string, EntityCounts> Entities,
    string? Error);

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

    /// <summary>Parses, binds and compiles everything, opening the source and target, but moves no data.</summary>
    public static async Task<IReadOnlyList<EntityPlan>> CheckAsync(MigrationManifest manifest, CancellationToken cancellationToken)
    {
        IReadOnlyList<EntityPlan> plans;
        await using (var source = await SourceReaders.OpenAsync(manifest, null, cancellationToken).ConfigureAwait(false))
            plans = EntityPlan.Build(manifest, source.Columns, source.Origin);
        if (SqliteTarget.DatabasePath(manifest) is { } target)
            SqliteTarget.RefuseFolder(target);
        if (SqliteTarget.DatabasePath(manifest) is { } path && File.Exists(path))
            await (await SqliteTarget.OpenLedgerAsync(manifest, write: false, cancellationToken).ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
        else if (SqliteTarget.DatabasePath(manifest) is { } missing && !Directory.Exists(Path.GetDirectoryName(missing)))
            throw new TargetException($"cannot create the SQLite target {Path.GetFileName(missing)}: folder {Path.GetDirectoryName(missing)} does not exist");
        return plans;
    }

    public static async Task<RunResult> RunAsync(MigrationManifest manifest, RunOptions options, IRunObserver observer, CancellationToken cancellationToken)
    {
        if (options.Entity is not null && !manifest.Entities.Any(e => e.Name == options.Entity))
            throw new ManifestException([new ManifestError(manifest.FilePath, 0, 0,
                $"no entity named '{options.Entity}' (the manifest has: {string.Join(", ", manifest.Entities.Select(e => e.Name))})")]);

        // The source is opened and the manifest compiled before the target is touched, so a missing
        // file or a bad expression leaves no trace in the target.
        var source = await SourceReaders.OpenAsync(manifest, options.SourceOverride, cancellationToken).ConfigureAwait(false);
        IReadOnlyList<EntityPlan> plans;
        try
        {
            plans = EntityPlan.Build(manifest, source.Columns, source.Origin)
                .Where(p => options.Entity is null || p.Spec.Name == options.Entity).ToList();
        }
        catch
        {
            await source.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        var started = DateTime.UtcNow;
        var totals = plans.ToDictionary(p => p.Spec.Name, _ => new EntityCounts());
        var correlation = Guid.NewGuid().ToString("N");
        ITarget target;
        try
        {
            target = await SqliteTarget.OpenForRunAsync(manifest, options.DryRun, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await source.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        await using (target.ConfigureAwait(false))
        {
            var sourceName = options.SourceOverride ?? manifest.Source.Path;
            long runId;
            try
            {
                runId = await target.BeginRunAsync(new RunStart(manifest.FilePath, manifest.Name, sourceName, options.DryRun, correlation), cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await source.DisposeAsync().ConfigureAwait(false);
                throw;
            }
            var context = new RunContext(options.DryRun ? 0 : runId, correlation, options.DryRun, plans);
            observer.RunStarted(context);
            string? error = null;
            var failed = false;
            try
            {
                var first = true;
                foreach (var plan in plans)
                {
                    if (!first)
                        source = await SourceReaders.OpenAsync(manifest, options.SourceOverride, cancellationToken).ConfigureAwait(false);
                    first = false;
                    await using (source.ConfigureAwait(false))
                        await RunEntityAsync(context, runId, plan, source, target, totals[plan.Spec.Name], observer, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is SourceException or TargetException or FatalRowException or Microsoft.Data.Sqlite.SqliteException or IOException)
            {
                failed = true;
                error = SecretMasker.Scrub(ex.Message);
            }
            catch (OperationCanceledException)
            {
                failed = true;
                error = "the run was cancelled";
            }
            var status = failed ? RunStatus.Failed
                : totals.Values.Any(t => t.Rejected > 0) ? RunStatus.Partial
                : RunStatus.Succeeded;
            await target.FinishRunAsync(runId, status, error, CancellationToken.None).ConfigureAwait(false);
            var result = new RunResult(context.RunId, status, options.DryRun, started, DateTime.UtcNow, totals, error);
            observer.RunFinished(context, result);
            return result;
        }
    }

    private static async Task RunEntityAsync(RunContext run, long runId, EntityPlan plan, ISourceReader source, ITarget target,
        EntityCounts totals, IRunObserver observer, CancellationToken cancellationToken)
    {
        observer.EntityStarted(run, plan, source.Origin);
        var columns = source.Columns;
        var corrects = columns.ToList().IndexOf(CorrectsColumn);
        var batchSize = plan.Spec.BatchSize;
        await using var loader = await target.BeginEntityAsync(runId, plan, cancellationToken).ConfigureAwait(false);
        var number = 0;
        var rows = new List<BatchRow>(batchSize);
        while (true)
        {
            rows.Clear();
            while (rows.Count < batchSize && await source.ReadAsync(cancellationToken).ConfigureAwait(false) is { } record)
                rows.Add(Prepare(plan, record, corrects));
            if (rows.Count == 0)
                break;
            number++;
            if (rows.Find(r => r.Issues.Exists(i => i.Severity == Severity.Fatal)) is { } fatal)
            {
                var issue = fatal.Issues.First(i => i.Severity == Severity.Fatal);
                throw new FatalRowException($"{source.Origin}:{fatal.Line}: {issue} — fatal rule broken, the run stops (batch {number} not written)");
            }
            var batch = new Batch(number, columns, rows);
            var counts = await loader.LoadBatchAsync(batch, cancellationToken).ConfigureAwait(false);
            totals.Add(counts);
            foreach (var row in rows)
                if (row.Action == RowAction.Rejected)
                    observer.RowRejected(run, plan, number, row, source.Origin);
            observer.BatchCommitted(run, plan, number, counts, totals, source.Progress);
        }
        await loader.CompleteAsync(totals, cancellationToken).ConfigureAwait(false);
        observer.EntityFinished(run, plan, totals);
    }

    /// <summary>Validates and maps one source row; a row with a rejecting issue gets no values.</summary>
    private static BatchRow Prepare(EntityPlan plan, SourceRow record, int correctsColumn)
    {
        var row = new BatchRow(record.Line, record.Values);
        if (correctsColumn >= 0 && long.TryParse(record.Values[correctsColumn], NumberStyles.Integer, CultureInfo.InvariantCulture, out var stageId))
            row.CorrectsStageId = stageId;
        if (record.Problem is { } problem)
        {
            row.Issues.Add(new Contracts.ValidationIssue(Severity.Error, problem.Rule, problem.Column, problem.Message));
            return row;
        }
        plan.Validator.Validate(record.Values, record.Line, row.Issues);
        if (row.Issues.Exists(i => i.RejectsRow))
            return row;
        var values = new object?[plan.Mapper.Columns.Count];
        var key = plan.Mapper.Map(record.Values, values, row.Issues);
        if (key is not null && !row.Issues.Exists(i => i.RejectsRow))
        {
            row.Key = key;
            row.Values = values;
        }
        return row;
    }
}
