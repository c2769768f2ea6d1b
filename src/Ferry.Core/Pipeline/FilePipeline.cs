using System.Diagnostics;
using Ferry.Diagnostics;
using Ferry.Engine;
using Ferry.Manifest;
using Ferry.Sources;
using Ferry.Targets;

namespace Ferry.Pipeline;

/// <summary>How a pipeline run ended: where it stopped (the file and why), and how many files each step took.</summary>
/// <param name="Status">Succeeded; Partial when a loaded file had rows rejected; Failed when a step failed (the pipeline stopped there).</param>
public sealed record PipelineResult(
    RunStatus Status, IngestResult? Ingest, IReadOnlyList<RegisteredFile> Loaded, RegisteredFile? StoppedAt, string? Error, bool Published);

/// <summary>
/// The file-fed pipeline of a manifest with <c>landing</c>: ingest → validate → history → publish,
/// for every new file in order (file date, then name), stopping at the first failure so that no
/// later file is processed before an earlier one. Every step writes an audit event.
/// </summary>
public sealed class FilePipeline(MigrationManifest manifest, Action<string>? log = null, IRunObserver? observer = null)
{
    /// <summary>Called as the history step's run binds its entities (<see cref="RunOptions.BeforeLoad"/>): the CLI sizes its heap there.</summary>
    public Action<IReadOnlyList<EntityPlan>, int>? BeforeLoad { get; init; }

    /// <summary>Told how much memory the history step's batch being read holds (<see cref="RunOptions.BatchBytes"/>).</summary>
    public Action<long>? BatchBytes { get; init; }

    private readonly Action<string> log = log ?? (_ => { });
    private readonly IRunObserver observer = observer ?? new RunObservers();
    private PipelineLock? held; // while a public step runs; the steps it calls run under it

    /// <summary>Runs <paramref name="step"/> holding the manifest's pipeline lock (taken once, by the outermost step).</summary>
    private async Task<T> LockedAsync<T>(string what, Func<Task<T>> step)
    {
        if (held is not null)
            return await step().ConfigureAwait(false);
        held = PipelineLock.Acquire(manifest, what);
        try
        {
            return await step().ConfigureAwait(false);
        }
        finally
        {
            held.Dispose();
            held = null;
        }
    }

    public Task<IngestResult> IngestAsync(CancellationToken cancellationToken) =>
        LockedAsync("ingest", () => IngestCoreAsync(cancellationToken));

    /// <summary>The validate step for one registered file: it becomes <c>validated</c> (its stage file written) or <c>rejected</c>.</summary>
    public Task<ValidationReport> ValidateAsync(long version, CancellationToken cancellationToken) =>
        LockedAsync("validate", () => ValidateCoreAsync(version, cancellationToken));

    /// <summary>
    /// The history step for one validated file: its entities are run from its stage file (not the
    /// landed file), as of the file's date. A run that ends succeeded or partial marks it <c>loaded</c>.
    /// </summary>
    public Task<RunResult> LoadHistoryAsync(long version, CancellationToken cancellationToken) =>
        LockedAsync("the history step", () => LoadHistoryCoreAsync(version, cancellationToken));

    /// <summary>The publish step: the mart's SQL files in one transaction. Audited whether it succeeds or not.</summary>
    public Task<int> PublishAsync(CancellationToken cancellationToken, long? fileId = null) =>
        LockedAsync("publish", () => PublishCoreAsync(cancellationToken, fileId));

    /// <summary>
    /// Ingest, then every registered or validated file in order: validate (unless validated), load its
    /// history; publish once when files were loaded. Stops at the first file that is rejected or
    /// fails to load; the registry shows where (a rejected file with its report, or a file left
    /// <c>registered</c>/<c>validated</c> to retry). A later run continues from there.
    /// </summary>
    public Task<PipelineResult> RunAsync(CancellationToken cancellationToken) =>
        LockedAsync("the pipeline run", () => RunCoreAsync(cancellationToken));

    /// <summary>
    /// Undoes version <paramref name="version"/>'s load: rolls back its run, marks it <c>rolled_back</c> and
    /// republishes the mart. Refused while a version loaded after it is still loaded (newest first).
    /// </summary>
    public Task RollbackVersionAsync(long version, CancellationToken cancellationToken) =>
        LockedAsync("the version's rollback", async () =>
        {
            await RollbackVersionCoreAsync(version, cancellationToken).ConfigureAwait(false);
            return true;
        });

    private async Task<IngestResult> IngestCoreAsync(CancellationToken cancellationToken)
    {
        await using var ledger = await PipelineLedger.OpenAsync(manifest, cancellationToken).ConfigureAwait(false);
        var result = await Ingest.RunAsync(manifest, ledger, cancellationToken).ConfigureAwait(false);
        foreach (var file in result.Registered)
            log($"{file.Name}: registered as version {file.Id} ({file.FileType}, {file.FileDate:yyyy-MM-dd})");
        foreach (var message in result.Skipped.Concat(result.Problems))
            log(message);
        return result;
    }

    private async Task<ValidationReport> ValidateCoreAsync(long version, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var file = await RequireAsync(version, [FileStatus.Registered, FileStatus.Validated], cancellationToken).ConfigureAwait(false);
        ValidationReport report;
        try
        {
            report = await FileValidation.ValidateAsync(manifest, file, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not ManifestException and not OperationCanceledException)
        {
            await AuditAsync("validate", file.Id, null, null, clock.Elapsed, "failed", null, ex.Message, cancellationToken).ConfigureAwait(false);
            throw;
        }
        await using (var ledger = await PipelineLedger.OpenAsync(manifest, cancellationToken).ConfigureAwait(false))
        {
            await ledger.SetStatusAsync(file.Id, report.Rejected ? FileStatus.Rejected : FileStatus.Validated, null, report.ToJson(), cancellationToken).ConfigureAwait(false);
            await ledger.AuditAsync("validate", file.Id, null,
                Ingest.Counts(("rows", report.Rows), ("fatal", report.Fatal), ("rows_with_errors", report.RowsWithErrors), ("warnings", report.Warnings), ("missing_columns", report.MissingColumns.Count)),
                clock.Elapsed, report.Rejected ? "rejected" : "validated", report.Summary(), report.Rejected ? report.Summary() : null, cancellationToken).ConfigureAwait(false);
        }
        log(report.Summary());
        foreach (var problem in report.Rejected ? report.Problems.Take(20) : [])
            log($"  {file.Name}:{problem.Line}: {ValidationReport.Describe(problem)}");
        return report;
    }

    private async Task<RunResult> LoadHistoryCoreAsync(long version, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var file = await RequireAsync(version, [FileStatus.Validated], cancellationToken).ConfigureAwait(false);
        var type = FileValidation.FileType(manifest, file);
        var stage = FileValidation.StagePath(manifest, file);
        RunResult result;
        try
        {
            if (!File.Exists(stage))
                throw new SourceException(Path.GetFileName(stage), 0, "stage",
                    $"the stage file of version {file.Id} ({file.Name}) is gone: validate the file again ({stage})");
            result = await RunEngine.RunAsync(FileValidation.ForFileType(manifest, type), new RunOptions
            {
                SourceOverride = stage,
                WholeSource = true,   // the stage file is the whole extract: keys absent from it are gone
                AsOf = file.FileDate.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc),
                BeforeLoad = BeforeLoad,
                BatchBytes = BatchBytes,
            }, observer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not ManifestException and not OperationCanceledException)
        {
            await AuditAsync("history", file.Id, null, null, clock.Elapsed, "failed", null, ex.Message, cancellationToken).ConfigureAwait(false);
            throw;
        }
        var totals = new EntityCounts();
        foreach (var counts in result.Entities.Values)
            totals.Add(counts);
        var loaded = result.Status is RunStatus.Succeeded or RunStatus.Partial;
        await using (var ledger = await PipelineLedger.OpenAsync(manifest, cancellationToken).ConfigureAwait(false))
        {
            await ledger.SetStatusAsync(file.Id, loaded ? FileStatus.Loaded : FileStatus.Validated, result.RunId, null, cancellationToken).ConfigureAwait(false);
            await ledger.AuditAsync("history", file.Id, result.RunId,
                Ingest.Counts(("rows_read", totals.RowsRead), ("inserted", totals.Inserted), ("updated", totals.Updated),
                    ("unchanged", totals.Unchanged), ("rejected", totals.Rejected), ("warnings", totals.Warnings)),
                clock.Elapsed, result.Status.ToString().ToLowerInvariant(),
                $"{file.Name}: run {result.RunId} {result.Status.ToString().ToLowerInvariant()}", result.Error, cancellationToken).ConfigureAwait(false);
        }
        log($"{file.Name}: run {result.RunId} {result.Status.ToString().ToLowerInvariant()}: {totals.RowsRead:N0} read, {totals.Inserted:N0} inserted, {totals.Updated:N0} updated, {totals.Unchanged:N0} unchanged, {totals.Rejected:N0} rejected"
            + (result.Error is null ? "" : $" ({SecretMasker.Scrub(result.Error)})"));
        return result;
    }

    private async Task<int> PublishCoreAsync(CancellationToken cancellationToken, long? fileId)
    {
        var clock = Stopwatch.StartNew();
        int count;
        try
        {
            count = await Publisher.PublishAsync(manifest, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await AuditAsync("publish", fileId, null, Ingest.Counts(("files", manifest.Publish.Count)), clock.Elapsed, "failed", null, ex.Message, cancellationToken).ConfigureAwait(false);
            throw;
        }
        await AuditAsync("publish", fileId, null, Ingest.Counts(("files", count)), clock.Elapsed, count == 0 ? "skipped" : "succeeded",
            count == 0 ? "the manifest has no publish files" : $"published {string.Join(", ", manifest.Publish)}", null, cancellationToken).ConfigureAwait(false);
        log(count == 0 ? "nothing to publish (the manifest has no publish files)" : $"mart published ({count} SQL file(s), one transaction)");
        return count;
    }

    private async Task<PipelineResult> RunCoreAsync(CancellationToken cancellationToken)
    {
        var ingest = await IngestAsync(cancellationToken).ConfigureAwait(false);
        if (ingest.Problems.Count > 0)
            return new PipelineResult(RunStatus.Failed, ingest, [], null,
                $"ingest could not place {ingest.Problems.Count} file(s); no file was processed, so none is loaded out of order", false);
        List<RegisteredFile> pending, all;
        await using (var ledger = await PipelineLedger.OpenAsync(manifest, cancellationToken).ConfigureAwait(false))
        {
            pending = await ledger.PendingAsync(cancellationToken).ConfigureAwait(false);
            all = await ledger.ListAsync(cancellationToken).ConfigureAwait(false);
        }
        if (pending.Count == 0)
            log("no new file to load");
        var loaded = new List<RegisteredFile>();
        var partial = false;
        foreach (var file in pending)
        {
            // History is built in date order: a file older than a loaded one of its type would rewrite the past.
            var newer = all.Where(f => f.Status == FileStatus.Loaded && f.FileType == file.FileType && f.FileDate > file.FileDate).MaxBy(f => f.FileDate);
            if (newer is not null)
            {
                var error = $"{file.Name} (version {file.Id}, {file.FileDate:yyyy-MM-dd}) is older than version {newer.Id} ({newer.Name}, {newer.FileDate:yyyy-MM-dd}), which is loaded: roll back the newer version(s) first ('ferry rollback --version'), newest first";
                await AuditAsync("history", file.Id, null, null, TimeSpan.Zero, "refused", null, error, cancellationToken).ConfigureAwait(false);
                return await StopAsync(file, error, loaded, partial, ingest, cancellationToken).ConfigureAwait(false);
            }
            if (file.Status == FileStatus.Registered)
            {
                ValidationReport report;
                try
                {
                    report = await ValidateAsync(file.Id, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is SourceException or IOException or TargetException)
                {
                    return await StopAsync(file, SecretMasker.Scrub(ex.Message), loaded, partial, ingest, cancellationToken).ConfigureAwait(false);
                }
                if (report.Rejected)
                    return await StopAsync(file, report.Summary(), loaded, partial, ingest, cancellationToken).ConfigureAwait(false);
            }
            RunResult run;
            try
            {
                run = await LoadHistoryAsync(file.Id, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SourceException or IOException or TargetException)
            {
                return new PipelineResult(RunStatus.Failed, ingest, loaded, file, SecretMasker.Scrub(ex.Message), false);
            }
            if (run.Status == RunStatus.Failed)
                // Part of the file may be loaded already (batches commit one by one): the mart is not republished.
                return new PipelineResult(RunStatus.Failed, ingest, loaded, file, run.Error ?? $"run {run.RunId} failed", false);
            partial |= run.Status == RunStatus.Partial;
            loaded.Add(file);
        }
        var published = loaded.Count > 0 && await PublishAsync(cancellationToken, loaded[^1].Id).ConfigureAwait(false) > 0;
        return new PipelineResult(partial ? RunStatus.Partial : RunStatus.Succeeded, ingest, loaded, null, null, published);
    }

    /// <summary>Stops before <paramref name="file"/> loaded anything: the files loaded before it are published.</summary>
    private async Task<PipelineResult> StopAsync(RegisteredFile file, string error, List<RegisteredFile> loaded, bool partial, IngestResult ingest, CancellationToken cancellationToken)
    {
        var published = loaded.Count > 0 && await PublishAsync(cancellationToken, loaded[^1].Id).ConfigureAwait(false) > 0;
        return new PipelineResult(RunStatus.Failed, ingest, loaded, file, error, published);
    }

    private async Task RollbackVersionCoreAsync(long version, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        RegisteredFile file;
        List<RegisteredFile> later;
        await using (var ledger = await PipelineLedger.OpenAsync(manifest, cancellationToken).ConfigureAwait(false))
        {
            file = await ledger.GetAsync(version, cancellationToken).ConfigureAwait(false)
                ?? throw new TargetException($"there is no version {version} in the file registry of this manifest");
            later = (await ledger.ListAsync(cancellationToken).ConfigureAwait(false))
                .Where(f => f.Status == FileStatus.Loaded && f.RunId > file.RunId).ToList();
        }
        if (file.Status != FileStatus.Loaded || file.RunId is not { } runId)
            throw new TargetException($"version {version} ({file.Name}) is {file.Status}, not loaded: there is nothing to roll back");
        if (later.Count > 0)
        {
            var error = $"version {version} ({file.Name}) cannot be rolled back while later version(s) {string.Join(", ", later.Select(f => $"{f.Id} ({f.Name})"))} are loaded: roll back newest first";
            await AuditAsync("rollback", file.Id, runId, null, clock.Elapsed, "refused", null, error, cancellationToken).ConfigureAwait(false);
            throw new TargetException(error);
        }
        try
        {
            await RollbackRunAsync(runId, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await AuditAsync("rollback", file.Id, runId, null, clock.Elapsed, "failed", null, ex.Message, cancellationToken).ConfigureAwait(false);
            throw;
        }
        await using (var ledger = await PipelineLedger.OpenAsync(manifest, cancellationToken).ConfigureAwait(false))
        {
            await ledger.SetStatusAsync(file.Id, FileStatus.RolledBack, null, null, cancellationToken).ConfigureAwait(false);
            await ledger.AuditAsync("rollback", file.Id, runId, null, clock.Elapsed, "succeeded",
                $"version {file.Id} ({file.Name}): run {runId} rolled back", null, cancellationToken).ConfigureAwait(false);
        }
        log($"version {file.Id} ({file.Name}): run {runId} rolled back");
        await PublishAsync(cancellationToken, file.Id).ConfigureAwait(false);
    }

    /// <summary>Undoes the history run that loaded a version.</summary>
    private Task RollbackRunAsync(long runId, CancellationToken cancellationToken) =>
        Rollback.RollBackRunAsync(manifest, runId, cancellationToken);

    private async Task<RegisteredFile> RequireAsync(long version, string[] statuses, CancellationToken cancellationToken)
    {
        await using var ledger = await PipelineLedger.OpenAsync(manifest, cancellationToken).ConfigureAwait(false);
        var file = await ledger.GetAsync(version, cancellationToken).ConfigureAwait(false)
            ?? throw new TargetException($"there is no version {version} in the file registry of this manifest");
        if (!statuses.Contains(file.Status))
            throw new TargetException($"version {version} ({file.Name}) is {file.Status}; this step takes a file that is {string.Join(" or ", statuses)}");
        return file;
    }

    private async Task AuditAsync(string step, long? fileId, long? runId, string? counts, TimeSpan duration, string outcome, string? message, string? error, CancellationToken cancellationToken)
    {
        await using var ledger = await PipelineLedger.OpenAsync(manifest, cancellationToken).ConfigureAwait(false);
        await ledger.AuditAsync(step, fileId, runId, counts, duration, outcome, message, error, cancellationToken).ConfigureAwait(false);
    }
}
