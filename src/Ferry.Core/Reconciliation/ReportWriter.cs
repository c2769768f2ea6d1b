using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Ferry.Diagnostics;

namespace Ferry.Reconciliation;

/// <summary>
/// A reconciliation as JSON (for machines) and as one self-contained HTML page (for people:
/// inline CSS, no scripts or external assets, mismatches first, every value escaped). Both pass
/// <see cref="SecretMasker"/>, so a secret cannot reach a report even through an error message.
/// </summary>
public static class ReportWriter
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        // A file for programs: text as it is (an HTML page escapes its own).
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static string ToJson(ReconciliationReport report)
    {
        var document = new
        {
            ok = report.Ok,
            mismatch_count = report.Mismatches.Count(),
            manifest = report.Manifest,
            name = report.Name,
            run_id = report.RunId,
            run_status = report.RunStatus,
            target = report.Target,
            started_at = report.StartedAt,
            finished_at = report.FinishedAt,
            sample_size = report.SampleSize,
            entities = report.Entities,
            mismatches = report.Mismatches,
        };
        return SecretMasker.Scrub(JsonSerializer.Serialize(document, Json));
    }

    public static string ToHtml(ReconciliationReport report)
    {
        var html = new StringBuilder();
        var mismatches = report.Mismatches.ToList();
        var title = $"Reconciliation of run {report.RunId}{(report.Name is null ? "" : $" of {report.Name}")}";
        html.Append(CultureInfo.InvariantCulture, $"""
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>{E(title)}</title>

            """);
        html.Append(Style);
        html.Append(CultureInfo.InvariantCulture, $"""

            </head>
            <body>
            <h1>{E(title)}</h1>
            <p><span class="verdict {(report.Ok ? "ok" : "bad")}">{(report.Ok ? "OK: source, ledger and target agree" : $"{mismatches.Count} mismatch(es)")}</span></p>
            <p class="meta">Manifest {E(Path.GetFileName(report.Manifest))} · target {E(report.Target)} · run status {E(report.RunStatus)} ·
            reconciled {E(report.FinishedAt.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture))} UTC · sample of {report.SampleSize} row(s) per entity</p>

            """);

        html.Append("<h2 id=\"mismatches\">Mismatches</h2>\n");
        if (mismatches.Count == 0)
        {
            html.Append("<p>None.</p>\n");
        }
        else
        {
            html.Append("<table>\n<tr><th>entity</th><th>tenant</th><th>kind</th><th>key</th><th>column</th><th>source</th><th>target</th><th>what</th></tr>\n");
            foreach (var m in mismatches)
                html.Append(CultureInfo.InvariantCulture,
                    $"<tr class=\"bad\"><td>{E(m.Entity)}</td><td>{E(m.Tenant)}</td><td>{E(m.Kind)}</td><td class=\"v\">{E(m.Key)}</td><td>{E(m.Column)}</td><td class=\"v\">{E(m.Source)}</td><td class=\"v\">{E(m.Target)}</td><td>{E(m.Message)}</td></tr>\n");
            html.Append("</table>\n");
        }

        html.Append("<h2>Entities</h2>\n<table>\n<tr><th>entity</th><th>tenant</th><th>result</th><th>ledger: read</th><th>loaded</th><th>rejected</th>" +
            "<th>source: read</th><th>accepted</th><th>rejected</th><th>source checksum</th><th>target checksum</th><th>missing</th><th>differing</th>" +
            "<th>only in target</th><th>sample</th><th>orphans</th></tr>\n");
        foreach (var e in report.Entities.OrderBy(e => e.Ok ? 1 : 0))
        {
            var result = e.Skipped is not null ? "<span class=\"verdict skip\">skipped</span>"
                : e.Ok ? "<span class=\"verdict ok\">ok</span>" : $"<span class=\"verdict bad\">{e.Mismatches.Count} mismatch(es)</span>";
            html.Append(CultureInfo.InvariantCulture, $"<tr{(e.Ok ? "" : " class=\"bad\"")}><td>{E(e.Entity)}</td><td>{E(e.Tenant)}</td><td>{result}</td>" +
                $"{N(e.Ledger?.RowsRead)}{N(e.Ledger?.Loaded)}{N(e.Ledger?.Rejected)}{N(e.Source?.RowsRead)}{N(e.Source?.Accepted)}{N(e.Source?.Rejected)}" +
                $"<td class=\"v\">{E(e.Checksum?.SourceChecksum)}</td><td class=\"v\">{E(e.Checksum?.TargetChecksum)}</td>" +
                $"{N(e.Checksum?.MissingInTarget)}{N(e.Checksum?.Differing)}{N(e.Checksum?.OnlyInTarget)}" +
                $"<td>{(e.Samples.Count == 0 ? "" : $"{e.Samples.Count(s => s.Ok)}/{e.Samples.Count} agree")}</td>" +
                $"{N(e.Orphans.Count == 0 ? null : e.Orphans.Sum(o => o.Count))}</tr>\n");
        }
        html.Append("</table>\n");

        foreach (var e in report.Entities.OrderBy(e => e.Ok ? 1 : 0))
        {
            html.Append(CultureInfo.InvariantCulture, $"<h2>{E(e.Entity)}{(e.Tenant is null ? "" : $" — tenant {E(e.Tenant)}")}</h2>\n");
            html.Append(CultureInfo.InvariantCulture, $"<p class=\"meta\">table {E(e.Table)} · mode {E(e.Mode)}{(e.Source is null ? "" : $" · source {E(e.Source.Origin)}")}</p>\n");
            if (e.Skipped is not null)
                html.Append(CultureInfo.InvariantCulture, $"<p class=\"note\">{E(e.Skipped)}</p>\n");
            if (e.Error is not null)
                html.Append(CultureInfo.InvariantCulture, $"<p class=\"verdict bad\">{E(e.Error)}</p>\n");
            foreach (var note in e.Notes)
                html.Append(CultureInfo.InvariantCulture, $"<p class=\"note\">{E(note)}</p>\n");
            if (e.Differences.Count > 0)
            {
                html.Append("<h3>Rows that differ</h3>\n<table>\n<tr><th>key</th><th>column</th><th>source (mapped)</th><th>target</th></tr>\n");
                foreach (var d in e.Differences)
                    html.Append(CultureInfo.InvariantCulture, $"<tr class=\"bad\"><td class=\"v\">{E(d.Key)}</td><td>{E(d.Column)}</td><td class=\"v\">{E(d.Source)}</td><td class=\"v\">{E(d.Target)}</td></tr>\n");
                html.Append("</table>\n");
            }
            if (e.MissingKeys.Count > 0)
            {
                html.Append(CultureInfo.InvariantCulture, $"<h3>Keys missing in the target ({e.Checksum?.MissingInTarget ?? e.MissingKeys.Count:N0}; the first {e.MissingKeys.Count} listed)</h3>\n<p class=\"v\">");
                html.AppendJoin(", ", e.MissingKeys.Select(k => E(CanonicalValues.ShowKey(k))));
                html.Append("</p>\n");
            }
            foreach (var o in e.Orphans)
            {
                html.Append(CultureInfo.InvariantCulture, $"<h3>Orphans: {E(o.Column)} → {E(o.ParentEntity)}.{E(o.ParentColumn)} ({o.Count:N0})</h3>\n");
                if (o.Examples.Count > 0)
                {
                    html.Append("<table>\n<tr><th>key</th><th>value with no parent</th></tr>\n");
                    foreach (var x in o.Examples)
                        html.Append(CultureInfo.InvariantCulture, $"<tr class=\"bad\"><td class=\"v\">{E(x.Key)}</td><td class=\"v\">{E(x.Value)}</td></tr>\n");
                    html.Append("</table>\n");
                }
            }
            if (e.Samples.Count > 0)
            {
                html.Append("<h3>Sample</h3>\n<table>\n<tr><th>key</th><th>result</th><th>differences</th></tr>\n");
                foreach (var s in e.Samples.OrderBy(s => s.Ok ? 1 : 0))
                {
                    var what = !s.FoundInTarget ? "missing in the target"
                        : string.Join("; ", s.Differences.Select(d => $"{d.Column}: source {d.Source ?? "NULL"}, target {d.Target ?? "NULL"}"));
                    html.Append(CultureInfo.InvariantCulture, $"<tr{(s.Ok ? "" : " class=\"bad\"")}><td class=\"v\">{E(s.Key)}</td><td>{(s.Ok ? "agrees" : "differs")}</td><td class=\"v\">{E(what)}</td></tr>\n");
                }
                html.Append("</table>\n");
            }
        }
        html.Append("</body>\n</html>\n");
        return html.ToString();
    }

    private const string Style = """
        <style>
        body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem; color: #1f2328; }
        h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; } h3 { font-size: 1.05rem; margin-top: 1.5rem; }
        .verdict { display: inline-block; padding: .3rem .8rem; border-radius: .3rem; font-weight: 600; }
        .ok { background: #dafbe1; color: #116329; } .bad { background: #ffebe9; color: #a40e26; } .skip { background: #eaeef2; color: #57606a; }
        table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
        th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; vertical-align: top; }
        th { background: #f6f8fa; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
        tr.bad td { background: #fff5f5; } code, .v { font-family: ui-monospace, monospace; white-space: pre-wrap; word-break: break-all; }
        .meta { color: #57606a; } .note { color: #57606a; font-style: italic; }
        </style>
        """;

    private static string E(string? text) => WebUtility.HtmlEncode(SecretMasker.Scrub(text));

    private static string N(long? value) => value is null ? "<td></td>" : $"<td class=\"n\">{value.Value.ToString("N0", CultureInfo.InvariantCulture)}</td>";
}
