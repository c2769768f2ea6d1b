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
        Write(run, run.Resumed ? "run_resumed" : "run_started", null, null, new { dry_run = run.DryRun, entities = run.Entities.Select(e => e.Spec.Name).Distinct(), tenants = run.Entities.Select(e => e.Tenant).OfType<string>().Distinct() });

    public void EntityStarted(RunContext run, EntityPlan entity, string origin, Targets.EntityCheckpoint? resumedFrom) =>
        WriteEntity(run, "entity_started", entity, null, new
        {
            source = origin,
            table = entity.Spec.Table,
            mode = entity.Spec.Mode.ToString().ToLowerInvariant(),
            resume_after_line = resumedFrom?.LastLine,
            resume_after_batch = resumedFrom?.LastBatch,
        });

    public void RowRejected(RunContext run, EntityPlan entity, int batch, BatchRow row, string origin) =>
        WriteEntity(run, "row_rejected", entity, batch, new
        {
            source = origin,
            line = row.Line,
            errors = row.Issues.Where(i => i.RejectsRow).Select(i => new { rule = i.Rule, column = i.Column, severity = i.Severity.ToString().ToLowerInvariant(), message = SecretMasker.Scrub(i.Message) }),
        });

    public void BatchCommitted(RunContext run, EntityPlan entity, int batch, EntityCounts batchCounts, EntityCounts totals, double? progress) =>
        WriteEntity(run, "batch_committed", entity, batch, new { counts = batchCounts, progress });

    public void EntityFinished(RunContext run, EntityPlan entity, EntityCounts totals) =>
        WriteEntity(run, "entity_finished", entity, null, new { counts = totals, would_be = run.DryRun });

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
            tenants = result.Tenants.Count == 0 ? null : result.Tenants.Select(t => new { entity = t.Entity, tenant = t.Tenant, counts = t.Counts }),
        });
        writer.Flush();
    }

    private void Write(RunContext run, string name, string? entity, int? batch, object details) => Write(run, name, entity, null, batch, details);

    private void WriteEntity(RunContext run, string name, EntityPlan entity, int? batch, object details) => Write(run, name, entity.Spec.Name, entity.Tenant, batch, details);

    private void Write(RunContext run, string name, string? entity, string? tenant, int? batch, object details)
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
        if (tenant is not null)
            line["tenant"] = tenant;
        if (batch is not null)
            line["batch"] = batch;
        foreach (var property in JsonSerializer.SerializeToElement(details).EnumerateObject())
            line[property.Name] = property.Value;
        // Every value (a source name, a message) passes the masker, not only the messages.
        writer.WriteLine(SecretMasker.Scrub(JsonSerializer.Serialize(line)));
    }

    public void Dispose() => writer.Dispose();
}
