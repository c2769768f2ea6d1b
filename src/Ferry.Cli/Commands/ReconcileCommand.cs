using System.CommandLine;
using System.Globalization;
using System.Text;
using Ferry.Diagnostics;
using Ferry.Manifest;
using Ferry.Reconciliation;
using Spectre.Console;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry reconcile</c>: prove a run complete against its source and target; also run at the end of <c>ferry run</c>.</summary>
internal static class ReconcileCommand
{
    private const int Shown = 20;

    public static Command Create(CliConsole console)
    {
        var manifestArg = FerryCommandLine.ManifestArgument();
        var run = new Option<long?>("--run") { Description = "The run whose ledger counts are checked (default: the newest)" };
        var entity = new Option<string?>("--entity") { Description = "Reconcile only this entity" };
        var tenant = new Option<string?>("--tenant") { Description = "Reconcile only this tenant" };
        var json = new Option<string?>("--json") { Description = "Write the report as JSON to this file ('-' for standard output)" };
        var html = new Option<string?>("--html") { Description = "Write the report as a self-contained HTML page to this file" };
        var sample = new Option<int>("--sample") { Description = "Rows per entity compared field by field (default 10)", DefaultValueFactory = _ => 10 };
        var command = new Command("reconcile",
            "Check a run against its source and target: count parity, content checksums, a random sample field by field, orphans. Exit 4 on any mismatch")
        {
            manifestArg, run, entity, tenant, json, html, sample,
        };
        command.SetAction((parse, ct) => FerryCommandLine.Guard(console, async () =>
        {
            if (parse.GetValue(sample) < 0)
                throw new UsageException("--sample must be 0 or more");
            var manifest = ManifestLoader.Load(parse.GetValue(manifestArg)!);
            var options = new ReconcileOptions { RunId = parse.GetValue(run), Entity = parse.GetValue(entity), Tenant = parse.GetValue(tenant), SampleSize = parse.GetValue(sample) };
            var report = await Reconciler.ReconcileAsync(manifest, options, ct).ConfigureAwait(false);
            var toStdout = parse.GetValue(json) == "-";
            await WriteFilesAsync(console, report, toStdout ? null : parse.GetValue(json), parse.GetValue(html), ct).ConfigureAwait(false);
            if (toStdout)
                await console.Output.WriteLineAsync(ReportWriter.ToJson(report)).ConfigureAwait(false);
            else
                Print(console, report);
            return report.Ok ? ExitCodes.Succeeded : ExitCodes.Mismatch;
        }));
        return command;
    }

    internal static async Task WriteFilesAsync(CliConsole console, ReconciliationReport report, string? json, string? html, CancellationToken ct)
    {
        if (json is not null)
        {
            await File.WriteAllTextAsync(json, ReportWriter.ToJson(report), new UTF8Encoding(false), ct).ConfigureAwait(false);
            await console.Error.WriteLineAsync($"wrote {json}").ConfigureAwait(false);
        }
        if (html is not null)
        {
            await File.WriteAllTextAsync(html, ReportWriter.ToHtml(report), new UTF8Encoding(false), ct).ConfigureAwait(false);
            await console.Error.WriteLineAsync($"wrote {html}").ConfigureAwait(false);
        }
    }

    /// <summary>The summary table, then the first mismatches, then the verdict.</summary>
    internal static void Print(CliConsole console, ReconciliationReport report)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("reconciliation")
            .AddColumns("entity ", "ledger read", "= loaded + rejected", "source read", "missing", "differing", "checksum", "sample", "orphans", "result");
        foreach (var column in table.Columns.Skip(1).Take(5))
            column.RightAligned();
        foreach (var e in report.Entities)
        {
            var tenant = e.Tenant is null ? "" : $" [{e.Tenant}]";
            table.AddRow(
                Markup.Escape(e.Entity + tenant),
                Count(e.Ledger?.RowsRead),
                e.Ledger is null ? "" : $"{e.Ledger.Loaded:N0} + {e.Ledger.Rejected:N0}{(e.Ledger.Balanced ? "" : " ✗")}",
                Count(e.Source?.RowsRead),
                Count(e.Checksum?.MissingInTarget),
                Count(e.Checksum?.Differing),
                e.Checksum is null ? "" : e.Checksum.Equal ? "equal" : "differs",
                e.Samples.Count == 0 ? "" : $"{e.Samples.Count(s => s.Ok)}/{e.Samples.Count}",
                e.Orphans.Count == 0 ? "" : $"{e.Orphans.Sum(o => o.Count):N0}",
                e.Skipped is not null ? "skipped" : e.Ok ? "[green]ok[/]" : "[red]MISMATCH[/]");
        }
        console.Ansi.Write(table);
        var mismatches = report.Mismatches.ToList();
        foreach (var m in mismatches.Take(Shown))
            console.Ansi.WriteLine("  " + SecretMasker.Scrub(m.Message));
        if (mismatches.Count > Shown)
            console.Ansi.WriteLine($"  … and {mismatches.Count - Shown:N0} more: ferry reconcile --run {report.RunId} --html report.html");
        foreach (var e in report.Entities.Where(e => e.Skipped is not null))
            console.Ansi.WriteLine("  " + SecretMasker.Scrub(e.Skipped));
        console.Ansi.WriteLine(report.Ok
            ? $"reconciliation of run {report.RunId}: ok"
            : $"reconciliation of run {report.RunId}: {mismatches.Count.ToString(CultureInfo.InvariantCulture)} mismatch(es)");
    }

    private static string Count(long? value) => value is null ? "" : value.Value.ToString("N0", CultureInfo.InvariantCulture);
}
