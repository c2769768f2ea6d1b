using System.Text.Json;
using Ferry.Diagnostics;
using Ferry.Engine;

namespace Ferry.Cli.Output;

/// <summary>
/// JSON-lines events for machines: one object per line, each with the run id, correlation id and
/// (where it applies) entity and batch. Messages pass the secret masker before they are written.
/// </summary>
internal sealed class JsonLogObserver : IRunObserver, IDisposable
{
    private readonly StreamWriter writer;

    private JsonLogObserver(StreamWriter writer) => this.writer = writer;

    public static JsonLogObserver Open(string path)
    {
        try
        {
            return new JsonLogObserver(new StreamWriter(path, append: true) { AutoFlush = false });
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or DirectoryNotFoundException)
        {
            throw new UsageException($"cannot write the JSON log {path}: {ex.Message}");
        }
    }

    public void RunStarted(RunContext run) =>
        Write(run, run.Resumed ? "run_resumed" : "run_started", null, null, new { dry_run = run.DryRun, entities = run.Entities.Select(e => e.Spec.Name) });

    public void EntityStarted(RunContext run, EntityPlan entity, string origin, Targets.EntityCheckpoint? resumedFrom) =>
        Write(run, "entity_started", entity.Spec.Name, null, new
        {
            source = origin,
            table = entity.Spec.Table,
            mode = entity.Spec.Mode.ToString().ToLowerInvariant(),
            resume_after_line = resumedFrom?.LastLine,
            resume_after_batch = resumedFrom?.LastBatch,
        });

    public void RowRejected(RunContext run, EntityPlan entity, int batch, BatchRow row, string origin) =>
        Write(run, "row_rejected", entity.Spec.Name, batch, new
        {
            source = origin,
            line = row.Line,
            errors = row.Issues.Where(i => i.RejectsRow).Select(i => new { rule = i.Rule, column = i.Column, severity = i.Severity.ToString().ToLowerInvariant(), message = SecretMasker.Scrub(i.Message) }),
        });

    public void BatchCommitted(RunContext run, EntityPlan entity, int batch, EntityCounts batchCounts, EntityCounts totals, double? progress) =>
        Write(run, "batch_committed", entity.Spec.Name, batch, new { counts = batchCounts, progress });

    public void EntityFinished(RunContext run, EntityPlan entity, EntityCounts totals) =>
        Write(run, "entity_finished", entity.Spec.Name, null, new { counts = totals, would_be = run.DryRun });

    public void RunFinished(RunContext run, RunResult result)
    {
        Write(run, "run_finished", null, null, new
        {
            status = result.Status.ToString().ToLowerInvariant(),
            dry_run = result.DryRun,
            // In a dry run nothing was written: the counts are what a run would do.
            would_be = result.DryRun,
            error = result.Error is null ? null : SecretMasker.Scrub(result.Error),
            seconds = (result.FinishedAt - result.StartedAt).TotalSeconds,
            entities = result.Entities,
        });
        writer.Flush();
    }

    private void Write(RunContext run, string name, string? entity, int? batch, object details)
    {
        var line = new Dictionary<string, object?>
        {
            ["ts"] = DateTime.UtcNow.ToString("O"),
            ["event"] = name,
            ["run_id"] = run.RunId,
            ["correlation_id"] = run.CorrelationId,
        };
        if (entity is not null)
            line["entity"] = entity;
        if (batch is not null)
            line["batch"] = batch;
        foreach (var property in JsonSerializer.SerializeToElement(details).EnumerateObject())
            line[property.Name] = property.Value;
        // Every value (a source name, a message) passes the masker, not only the messages.
        writer.WriteLine(SecretMasker.Scrub(JsonSerializer.Serialize(line)));
    }

    public void Dispose() => writer.Dispose();
}
