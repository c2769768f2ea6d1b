using System.CommandLine;
using System.Text.Json;
using Ferry.Diagnostics;
using Ferry.Engine;
using Ferry.Manifest;
using Ferry.Pipeline;
using Spectre.Console;

namespace Ferry.Cli.Commands;

/// <summary>
/// The file-fed pipeline: <c>ferry ingest</c>, <c>ferry pipeline run</c>, <c>ferry publish</c>,
/// <c>ferry files</c> and <c>ferry audit</c>. (<c>ferry rollback --version</c> is in RollbackCommand.)
/// </summary>
internal static class PipelineCommands
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static Command Ingest(CliConsole console)
    {
        var manifestArg = FerryCommandLine.ManifestArgument();
        var command = new Command("ingest", "Register the files in the landing folder whose content (SHA-256) is new; say which are skipped and why") { manifestArg };
        command.SetAction((parse, ct) => FerryCommandLine.Guard(console, async () =>
        {
            var manifest = ManifestLoader.Load(parse.GetValue(manifestArg)!);
            var result = await new FilePipeline(manifest, Log(console)).IngestAsync(ct).ConfigureAwait(false);
            await console.Output.WriteLineAsync($"{result.Registered.Count} file(s) registered, {result.Skipped.Count} skipped, {result.Known} already registered").ConfigureAwait(false);
            return result.Problems.Count > 0 ? ExitCodes.Failed : ExitCodes.Succeeded;
        }));
        return command;
    }

    /// <param name="limitHeap">Size the process's heap limit from the history step's run (only when ferry owns the process).</param>
    public static Command Pipeline(CliConsole console, bool limitHeap)
    {
        var manifestArg = FerryCommandLine.ManifestArgument();
        var run = new Command("run", "Ingest, then validate, load into history and publish every new file in date order; stop at the first failure") { manifestArg };
        run.SetAction((parse, ct) => FerryCommandLine.Guard(console, async () =>
        {
            var manifest = ManifestLoader.Load(parse.GetValue(manifestArg)!);
            PipelineResult result;
            try
            {
                result = await new FilePipeline(manifest, Log(console))
                {
                    BeforeLoad = limitHeap ? (plans, columns) =>
                    {
                        if (MemoryBudget.Apply(plans, columns) is { } warning)
                            console.Error.WriteLine(warning);
                    } : null,
                    BatchBytes = limitHeap ? MemoryBudget.Grow : null,
                }.RunAsync(ct).ConfigureAwait(false);
            }
            catch (PublishException ex)
            {
                await console.Error.WriteLineAsync($"error: {SecretMasker.Scrub(ex.Message)}").ConfigureAwait(false);
                return ExitCodes.Failed;
            }
            if (result.StoppedAt is { } stopped)
                await console.Error.WriteLineAsync($"error: stopped at version {stopped.Id} ({stopped.Name}): {SecretMasker.Scrub(result.Error ?? "")}; later files were not processed").ConfigureAwait(false);
            else if (result.Error is { } error)
                await console.Error.WriteLineAsync($"error: {SecretMasker.Scrub(error)}").ConfigureAwait(false);
            await console.Output.WriteLineAsync($"{result.Loaded.Count} file(s) loaded{(result.Published ? ", mart published" : "")}").ConfigureAwait(false);
            return result.Status switch
            {
                RunStatus.Succeeded => ExitCodes.Succeeded,
                RunStatus.Partial => ExitCodes.Partial,
                _ => ExitCodes.Failed,
            };
        }));
        return new Command("pipeline", "The file-fed pipeline of a manifest with 'landing'") { run };
    }

    public static Command Publish(CliConsole console)
    {
        var manifestArg = FerryCommandLine.ManifestArgument();
        var command = new Command("publish", "Run the manifest's publish SQL files in order, in one transaction: the mart is rebuilt whole or not at all") { manifestArg };
        command.SetAction((parse, ct) => FerryCommandLine.Guard(console, async () =>
        {
            var manifest = ManifestLoader.Load(parse.GetValue(manifestArg)!);
            try
            {
                await new FilePipeline(manifest, Log(console)).PublishAsync(ct).ConfigureAwait(false);
            }
            catch (PublishException ex)
            {
                await console.Error.WriteLineAsync($"error: {SecretMasker.Scrub(ex.Message)}").ConfigureAwait(false);
                return ExitCodes.Failed;
            }
            return ExitCodes.Succeeded;
        }));
        return command;
    }

    public static Command Files(CliConsole console)
    {
        var manifestArg = FerryCommandLine.ManifestArgument();
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var command = new Command("files", "List the file registry: every version, its status, run and report") { manifestArg, json };
        command.SetAction((parse, ct) => FerryCommandLine.Guard(console, async () =>
        {
            var manifest = ManifestLoader.Load(parse.GetValue(manifestArg)!);
            await using var ledger = await PipelineLedger.OpenAsync(manifest, ct).ConfigureAwait(false);
            var files = await ledger.ListAsync(ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                await console.Output.WriteLineAsync(JsonSerializer.Serialize(files.Select(f => new
                {
                    version = f.Id,
                    file_type = f.FileType,
                    path = f.Path,
                    name = f.Name,
                    sha256 = f.Sha256,
                    size = f.Size,
                    modified_at = f.ModifiedAt,
                    file_date = f.FileDate.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
                    status = f.Status,
                    run_id = f.RunId,
                    report = f.Report is null ? (JsonElement?)null : JsonDocument.Parse(f.Report).RootElement,
                    registered_at = f.RegisteredAt,
                    updated_at = f.UpdatedAt,
                }), Json)).ConfigureAwait(false);
                return ExitCodes.Succeeded;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("version", "type", "file", "date", "status", "run", "sha256");
            foreach (var f in files)
                table.AddRow(f.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), Markup.Escape(f.FileType), Markup.Escape(f.Name),
                    f.FileDate.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), f.Status,
                    f.RunId?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "", f.Sha256[..12]);
            console.Ansi.Write(table);
            return ExitCodes.Succeeded;
        }));
        return command;
    }

    public static Command Audit(CliConsole console)
    {
        var manifestArg = FerryCommandLine.ManifestArgument();
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var limit = new Option<int>("--limit") { Description = "How many events, the newest (default 200)", DefaultValueFactory = _ => 200 };
        var command = new Command("audit", "List the audit trail of the pipeline's steps: ingest, validate, history, publish, rollback") { manifestArg, json, limit };
        command.SetAction((parse, ct) => FerryCommandLine.Guard(console, async () =>
        {
            var manifest = ManifestLoader.Load(parse.GetValue(manifestArg)!);
            await using var ledger = await PipelineLedger.OpenAsync(manifest, ct).ConfigureAwait(false);
            var events = await ledger.ListAuditAsync(Math.Max(1, parse.GetValue(limit)), ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                await console.Output.WriteLineAsync(JsonSerializer.Serialize(events.Select(e => new
                {
                    id = e.Id,
                    at = e.At,
                    step = e.Step,
                    version = e.FileId,
                    run_id = e.RunId,
                    counts = e.Counts is null ? (JsonElement?)null : JsonDocument.Parse(e.Counts).RootElement,
                    duration_ms = e.DurationMs,
                    outcome = e.Outcome,
                    message = e.Message,
                    error = e.Error,
                }), Json)).ConfigureAwait(false);
                return ExitCodes.Succeeded;
            }
            foreach (var e in events)
                await console.Output.WriteLineAsync(
                    $"{e.At:yyyy-MM-dd HH:mm:ss} {e.Step,-8} {e.Outcome,-10} version {e.FileId?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-"} run {e.RunId?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-"} {e.DurationMs} ms {e.Counts} {e.Message} {e.Error}".TrimEnd()).ConfigureAwait(false);
            return ExitCodes.Succeeded;
        }));
        return command;
    }

    private static Action<string> Log(CliConsole console) => line => console.Output.WriteLine(SecretMasker.Scrub(line));
}
