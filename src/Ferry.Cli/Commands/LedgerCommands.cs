using System.CommandLine;
using System.Text;
using System.Text.Json;
using Ferry.Diagnostics;
using Ferry.Manifest;
using Ferry.Targets;
using Spectre.Console;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry status</c>, <c>ferry runs</c> and <c>ferry rejects</c>: reading the run ledger.</summary>
internal static class LedgerCommands
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static Command Status(CliConsole console)
    {
        var manifestArg = FerryCommandLine.ManifestArgument();
        var run = new Option<long?>("--run") { Description = "The run (default: the newest)" };
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var command = new Command("status", "Show one run: its outcome and counts per entity") { manifestArg, run, json };
        command.SetAction((parse, ct) => FerryCommandLine.Guard(console, async () =>
        {
            await using var ledger = await OpenAsync(parse.GetValue(manifestArg)!, ct).ConfigureAwait(false);
            var record = await ledger.GetRunAsync(parse.GetValue(run), ct).ConfigureAwait(false)
                ?? throw new UsageException(parse.GetValue(run) is { } id ? $"there is no run {id}" : "no run has been recorded yet");
            var checks = await ledger.ListReconciliationsAsync(record.RunId, ct).ConfigureAwait(false);
            if (parse.GetValue(json))
                await console.Output.WriteLineAsync(JsonSerializer.Serialize(ToJson(record, checks), Json)).ConfigureAwait(false);
            else
            {
                PrintRuns(console, [record], detailed: true);
                PrintReconciliations(console, checks);
            }
            return ExitCodes.Succeeded;
        }));
        return command;
    }

    public static Command Runs(CliConsole console)
    {
        var manifestArg = FerryCommandLine.ManifestArgument();
        var limit = new Option<int>("--limit") { Description = "How many runs, newest first", DefaultValueFactory = _ => 20 };
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var command = new Command("runs", "List the runs recorded in the target's ledger, newest first") { manifestArg, limit, json };
        command.SetAction((parse, ct) => FerryCommandLine.Guard(console, async () =>
        {
            await using var ledger = await OpenAsync(parse.GetValue(manifestArg)!, ct).ConfigureAwait(false);
            var runs = await ledger.ListRunsAsync(parse.GetValue(limit), ct).ConfigureAwait(false);
            if (parse.GetValue(json))
                await console.Output.WriteLineAsync(JsonSerializer.Serialize(runs.Select(ToJson), Json)).ConfigureAwait(false);
            else
                PrintRuns(console, runs, detailed: false);
            return ExitCodes.Succeeded;
        }));
        return command;
    }

    public static Command Rejects(CliConsole console)
    {
        var command = new Command("rejects", "List or export the rows a run rejected, to correct and feed back with 'ferry run --source'");
        command.Subcommands.Add(RejectsList(console));
        command.Subcommands.Add(RejectsExport(console));
        return command;
    }

    private static Command RejectsList(CliConsole console)
    {
        var manifestArg = FerryCommandLine.ManifestArgument();
        var run = new Option<long?>("--run") { Description = "The run (default: the newest)" };
        var entity = new Option<string?>("--entity") { Description = "Only this entity" };
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var command = new Command("list", "List rejected rows with their line and every message") { manifestArg, run, entity, json };
        command.SetAction((parse, ct) => FerryCommandLine.Guard(console, async () =>
        {
            var (manifest, rejects) = await LoadRejectsAsync(parse.GetValue(manifestArg)!, parse.GetValue(run), parse.GetValue(entity), ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                await console.Output.WriteLineAsync(JsonSerializer.Serialize(rejects.Select(r => new
                {
                    entity = r.Entity,
                    stage_id = r.StageId,
                    run_id = r.RunId,
                    line = r.Line,
                    business_key = r.BusinessKey,
                    raw = r.Raw.ToDictionary(p => p.Key, p => p.Value),
                    // The same lower-case fields as the staging table's errors and the JSON log.
                    errors = r.Errors.Select(e => new { severity = e.Severity, rule = e.Rule, column = e.Column, message = SecretMasker.Scrub(e.Message) }),
                }), Json)).ConfigureAwait(false);
                return ExitCodes.Succeeded;
            }
            foreach (var r in rejects)
                await console.Output.WriteLineAsync(
                    $"{r.Entity} line {r.Line}{(r.BusinessKey is null ? "" : $" (key {r.BusinessKey})")}: " +
                    string.Join("; ", r.Errors.Select(Describe))).ConfigureAwait(false);
            await console.Output.WriteLineAsync($"{rejects.Count} rejected row(s) in {Path.GetFileName(manifest.FilePath)}").ConfigureAwait(false);
            return ExitCodes.Succeeded;
        }));
        return command;
    }

    private static Command RejectsExport(CliConsole console)
    {
        var manifestArg = FerryCommandLine.ManifestArgument();
        var run = new Option<long?>("--run") { Description = "The run (default: the newest)" };
        var entity = new Option<string?>("--entity") { Description = "Only this entity" };
        var output = new Option<string>("--out") { Description = "The CSV file to write", Required = true };
        var command = new Command("export", "Write rejected rows to CSV: their source columns, then _ferry_entity, _ferry_stage_id, _ferry_line and _ferry_errors")
        {
            manifestArg, run, entity, output,
        };
        command.SetAction((parse, ct) => FerryCommandLine.Guard(console, async () =>
        {
            var (_, rejects) = await LoadRejectsAsync(parse.GetValue(manifestArg)!, parse.GetValue(run), parse.GetValue(entity), ct).ConfigureAwait(false);
            var path = parse.GetValue(output)!;
            var columns = rejects.SelectMany(r => r.Raw.Select(p => p.Key)).Distinct().ToList();
            await using (var writer = new StreamWriter(path, append: false, new UTF8Encoding(false)))
            {
                await writer.WriteLineAsync(string.Join(',', columns.Append("_ferry_entity").Append("_ferry_stage_id").Append("_ferry_line").Append("_ferry_errors").Select(Csv))).ConfigureAwait(false);
                foreach (var r in rejects)
                {
                    var raw = r.Raw.ToDictionary(p => p.Key, p => p.Value);
                    var fields = columns.Select(c => raw.GetValueOrDefault(c))
                        .Append(r.Entity)
                        .Append(r.StageId.ToString(System.Globalization.CultureInfo.InvariantCulture))
                        .Append(r.Line.ToString(System.Globalization.CultureInfo.InvariantCulture))
                        .Append(string.Join("; ", r.Errors.Select(Describe)));
                    await writer.WriteLineAsync(string.Join(',', fields.Select(Csv))).ConfigureAwait(false);
                }
            }
            await console.Output.WriteLineAsync($"wrote {rejects.Count} rejected row(s) to {path}").ConfigureAwait(false);
            return ExitCodes.Succeeded;
        }));
        return command;
    }

    private static async Task<(MigrationManifest, IReadOnlyList<RejectRecord>)> LoadRejectsAsync(string manifestPath, long? runId, string? entity, CancellationToken ct)
    {
        var manifest = ManifestLoader.Load(manifestPath);
        if (entity is not null && !manifest.Entities.Any(e => e.Name == entity))
            throw new UsageException($"no entity named '{entity}' in {Path.GetFileName(manifest.FilePath)}");
        await using var ledger = await TargetFactory.OpenLedgerAsync(manifest, ct).ConfigureAwait(false);
        var run = await ledger.GetRunAsync(runId, ct).ConfigureAwait(false)
            ?? throw new UsageException(runId is { } id ? $"there is no run {id}" : "no run has been recorded yet");
        var entities = manifest.Entities.Select(e => e.Name).Where(e => entity is null || e == entity);
        return (manifest, await ledger.ListRejectsAsync(run.RunId, entities, ct).ConfigureAwait(false));
    }

    private static async Task<ILedgerReader> OpenAsync(string manifestPath, CancellationToken ct) =>
        await TargetFactory.OpenLedgerAsync(ManifestLoader.Load(manifestPath), ct).ConfigureAwait(false);

    private static string Describe(RejectMessage m) =>
        SecretMasker.Scrub(m.Column is null ? $"{m.Rule} ({m.Severity}): {m.Message}" : $"column {m.Column}: {m.Rule} ({m.Severity}): {m.Message}");

    private static string Csv(string? value)
    {
        if (value is null)
            return "";
        return value.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }

    /// <summary>The latest reconciliation's checks: passed or failed per entity and tenant.</summary>
    private static void PrintReconciliations(CliConsole console, IReadOnlyList<ReconciliationRecord> checks)
    {
        if (checks.Count == 0)
            return;
        var latest = checks.Where(c => c.CheckedAt == checks[^1].CheckedAt).ToList();
        var failed = latest.Where(c => !c.Passed).ToList();
        console.Ansi.WriteLine(failed.Count == 0
            ? $"reconciled {latest[0].CheckedAt}: every check passed"
            : $"reconciled {latest[0].CheckedAt}: " + string.Join("; ", failed.Select(c => $"{c.Check} failed for {c.Entity}{(c.Tenant is null ? "" : $" (tenant {c.Tenant})")}")));
    }

    private static object ToJson(RunRecord run) => ToJson(run, null);

    private static object ToJson(RunRecord run, IReadOnlyList<ReconciliationRecord>? checks) => new
    {
        run_id = run.RunId,
        name = run.Name,
        status = run.Status,
        started_at = run.StartedAt,
        finished_at = run.FinishedAt,
        source = run.Source,
        error = run.Error,
        entities = run.Entities.Select(e => new
        {
            entity = e.Entity,
            tenant = e.Tenant,
            target = e.Target,
            mode = e.Mode,
            rows_read = e.Counts.RowsRead,
            inserted = e.Counts.Inserted,
            updated = e.Counts.Updated,
            unchanged = e.Counts.Unchanged,
            rejected = e.Counts.Rejected,
            warnings = e.Counts.Warnings,
        }),
        reconciliations = checks?.Select(c => new
        {
            entity = c.Entity,
            tenant = c.Tenant,
            check = c.Check,
            passed = c.Passed,
            checked_at = c.CheckedAt,
            summary = c.Summary is null ? (JsonElement?)null : JsonSerializer.Deserialize<JsonElement>(c.Summary),
        }),
    };

    private static void PrintRuns(CliConsole console, IReadOnlyList<RunRecord> runs, bool detailed)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumns("run", "status", "started", "finished", "entity", "read", "inserted", "updated", "unchanged", "rejected");
        foreach (var run in runs)
        {
            var first = true;
            foreach (var e in run.Entities.DefaultIfEmpty())
            {
                table.AddRow(
                    first ? run.RunId.ToString(System.Globalization.CultureInfo.InvariantCulture) : "",
                    first ? run.Status : "", first ? run.StartedAt : "", first ? run.FinishedAt ?? "" : "",
                    Markup.Escape(e is null ? "" : e.Tenant is null ? e.Entity : $"{e.Entity} ({e.Tenant})"), $"{e?.Counts.RowsRead:N0}", $"{e?.Counts.Inserted:N0}", $"{e?.Counts.Updated:N0}",
                    $"{e?.Counts.Unchanged:N0}", $"{e?.Counts.Rejected:N0}");
                first = false;
            }
        }
        console.Ansi.Write(table);
        if (detailed && runs[0].Error is { } error)
            console.Ansi.WriteLine($"error: {SecretMasker.Scrub(error)}");
    }
}
