using System.Text.Json;
using Ferry.Manifest;
using Ferry.Reconciliation;
using Ferry.Tests.Support;
using Microsoft.Data.Sqlite;

namespace Ferry.Tests.EndToEnd;

/// <summary>
/// <c>ferry reconcile</c> and the reconciliation at the end of <c>ferry run</c>, on real CSV files and
/// a real SQLite target changed behind Ferry's back.
/// </summary>
public class ReconcileTests
{
    /// <summary>40 valid requests (one with HTML in its summary) and one rejected row.</summary>
    private static Workspace Loaded(out CliResult run, string extraColumns = "", int batchSize = 9)
    {
        var ws = new Workspace();
        var rows = Foi.Rows(1, 40).ToList();
        rows[4] = Foi.Row(5, summary: "<b>bold</b> & more");
        rows.Insert(20, Foi.Row(900, status: "lost"));
        ws.Write("data/requests.csv", Foi.Csv(rows));
        ws.Write("ferry.yaml", Foi.Manifest(batchSize: batchSize) + extraColumns);
        run = ws.Ferry("run", "ferry.yaml").GetAwaiter().GetResult();
        return ws;
    }

    private static void Execute(Workspace ws, string sql)
    {
        using var connection = new SqliteConnection($"Data Source={ws.PathOf(Foi.Db)};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static async Task<(CliResult Result, JsonElement Json, string Html)> Reconcile(Workspace ws, params string[] extra)
    {
        var result = await ws.Ferry(["reconcile", "ferry.yaml", "--json", "r.json", "--html", "r.html", .. extra]);
        Assert.True(File.Exists(ws.PathOf("r.json")), result.ToString());
        var json = JsonDocument.Parse(File.ReadAllText(ws.PathOf("r.json"))).RootElement.Clone();
        return (result, json, File.ReadAllText(ws.PathOf("r.html")));
    }

    private static JsonElement Entity(JsonElement report, string name = "foi_request") =>
        report.GetProperty("entities").EnumerateArray().Single(e => e.GetProperty("entity").GetString() == name);

    [Fact]
    public async Task A_good_run_reconciles_at_its_end_and_ferry_reconcile_reports_counts_and_equal_checksums()
    {
        using var ws = Loaded(out var run);
        Assert.True(run.ExitCode == 3, run.ToString()); // partial: the reconciliation keeps the run's exit code
        Assert.Contains("reconciliation of run 1: ok", run.Output, StringComparison.Ordinal);

        var (result, json, html) = await Reconcile(ws, "--sample", "5");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("reconciliation of run 1: ok", result.Output, StringComparison.Ordinal);
        Assert.True(json.GetProperty("ok").GetBoolean());
        Assert.Equal(0, json.GetProperty("mismatch_count").GetInt32());
        Assert.Equal(1, json.GetProperty("run_id").GetInt64());
        Assert.Equal("partial", json.GetProperty("run_status").GetString());
        var e = Entity(json);
        Assert.Equal(JsonValueKind.Null, e.GetProperty("tenant").ValueKind);
        Assert.True(e.GetProperty("ok").GetBoolean());
        var ledger = e.GetProperty("ledger");
        Assert.Equal((41, 40, 1, true), (ledger.GetProperty("rows_read").GetInt64(), ledger.GetProperty("loaded").GetInt64(),
            ledger.GetProperty("rejected").GetInt64(), ledger.GetProperty("balanced").GetBoolean()));
        var source = e.GetProperty("source");
        Assert.Equal((41, 40, 1), (source.GetProperty("rows_read").GetInt64(), source.GetProperty("accepted").GetInt64(), source.GetProperty("rejected").GetInt64()));
        var checksum = e.GetProperty("checksum");
        Assert.Equal(40, checksum.GetProperty("source_rows").GetInt64());
        Assert.Equal(40, checksum.GetProperty("target_rows").GetInt64());
        Assert.Equal(checksum.GetProperty("source_checksum").GetString(), checksum.GetProperty("target_checksum").GetString());
        Assert.Matches("^[0-9a-f]{16}$", checksum.GetProperty("source_checksum").GetString());
        Assert.True(checksum.GetProperty("equal").GetBoolean());
        Assert.Equal(5, e.GetProperty("samples").GetArrayLength());
        Assert.All(e.GetProperty("samples").EnumerateArray(), s => Assert.True(s.GetProperty("ok").GetBoolean()));
        Assert.Empty(json.GetProperty("mismatches").EnumerateArray());
        Assert.Contains("OK: source, ledger and target agree", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_target_row_deleted_behind_ferrys_back_fails_naming_the_entity_and_the_key()
    {
        using var ws = Loaded(out _);
        Execute(ws, "DELETE FROM foi_request WHERE reference = 'FOI-2024-00017'");

        var (result, json, _) = await Reconcile(ws);
        Assert.True(result.ExitCode == 4, result.ToString());
        Assert.Contains("entity foi_request: key FOI-2024-00017 is missing in table foi_request", result.Output, StringComparison.Ordinal);
        Assert.False(json.GetProperty("ok").GetBoolean());
        var e = Entity(json);
        Assert.Equal(["FOI-2024-00017"], e.GetProperty("missing_keys").EnumerateArray().Select(k => k.GetString()));
        Assert.Equal(1, e.GetProperty("checksum").GetProperty("missing_in_target").GetInt64());
        Assert.NotEqual(e.GetProperty("checksum").GetProperty("source_checksum").GetString(), e.GetProperty("checksum").GetProperty("target_checksum").GetString());
        var m = Assert.Single(json.GetProperty("mismatches").EnumerateArray());
        Assert.Equal(("foi_request", "missing", "FOI-2024-00017"), (m.GetProperty("entity").GetString(), m.GetProperty("kind").GetString(), m.GetProperty("key").GetString()));

        // The next run puts the row back, and its own reconciliation then passes.
        var again = await ws.Ferry("run", "ferry.yaml");
        Assert.True(again.ExitCode == 3, again.ToString());
        Assert.Contains("reconciliation of run 2: ok", again.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_altered_value_is_named_by_key_and_column_and_the_html_report_shows_it_first_and_escaped()
    {
        using var ws = Loaded(out _);
        Execute(ws, "UPDATE foi_request SET summary = '<script>alert(1)</script>' WHERE reference = 'FOI-2024-00005'");
        // The same decimal stored with another scale is the same value: no mismatch.
        Execute(ws, "UPDATE foi_request SET fee = '7.5000' WHERE reference = 'FOI-2024-00007'");

        var (result, json, html) = await Reconcile(ws, "--sample", "40");
        Assert.True(result.ExitCode == 4, result.ToString());
        Assert.Contains("entity foi_request: key FOI-2024-00005, column summary: source <b>bold</b> & more, target <script>alert(1)</script>",
            result.Output, StringComparison.Ordinal);
        var e = Entity(json);
        Assert.Equal(1, e.GetProperty("checksum").GetProperty("differing").GetInt64());
        var d = Assert.Single(e.GetProperty("differences").EnumerateArray());
        Assert.Equal(("FOI-2024-00005", "summary", "<b>bold</b> & more", "<script>alert(1)</script>"),
            (d.GetProperty("key").GetString(), d.GetProperty("column").GetString(), d.GetProperty("source").GetString(), d.GetProperty("target").GetString()));
        // Every row was sampled: the altered one fails field by field, the rescaled fee agrees.
        var samples = e.GetProperty("samples").EnumerateArray().ToList();
        Assert.Equal(40, samples.Count);
        var bad = Assert.Single(samples, s => !s.GetProperty("ok").GetBoolean());
        Assert.Equal("FOI-2024-00005", bad.GetProperty("key").GetString());
        Assert.Equal("summary", Assert.Single(bad.GetProperty("differences").EnumerateArray()).GetProperty("column").GetString());

        // HTML: self-contained, the mismatch before the entity tables, every value escaped.
        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<b>bold", html, StringComparison.Ordinal);
        Assert.DoesNotContain("http", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt;", html, StringComparison.Ordinal);
        Assert.Contains("&lt;b&gt;bold&lt;/b&gt; &amp; more", html, StringComparison.Ordinal);
        var mismatchAt = html.IndexOf("&lt;script&gt;alert(1)", StringComparison.Ordinal);
        Assert.True(mismatchAt < html.IndexOf("<h2>Entities</h2>", StringComparison.Ordinal));
        Assert.True(html.IndexOf("<h2 id=\"mismatches\">", StringComparison.Ordinal) < mismatchAt);
    }

    [Fact]
    public async Task A_source_row_that_was_never_loaded_fails_the_counts_and_names_the_missing_key()
    {
        using var ws = Loaded(out _);
        File.AppendAllText(ws.PathOf("data/requests.csv"), Foi.Row(41) + "\n");

        var (result, json, _) = await Reconcile(ws);
        Assert.True(result.ExitCode == 4, result.ToString());
        Assert.Contains("entity foi_request: the source now has 42 rows; run 1 read 41", result.Output, StringComparison.Ordinal);
        Assert.Contains("entity foi_request: key FOI-2024-00041 is missing in table foi_request", result.Output, StringComparison.Ordinal);
        Assert.Equal(["source-counts", "missing"], json.GetProperty("mismatches").EnumerateArray().Select(m => m.GetProperty("kind").GetString()));
    }

    [Fact]
    public async Task Orphans_of_a_references_column_fail_the_run_with_exit_4_and_no_reconcile_skips_the_check()
    {
        // parent_ref copies the requester's name, which is no reference of any request: every row is an orphan.
        const string orphanColumn = "\n      parent_ref: { from: requester_name, references: { entity: foi_request, column: reference } }\n";
        using var ws = Loaded(out var run, orphanColumn);
        Assert.True(run.ExitCode == 4, run.ToString());
        Assert.Contains("entity foi_request: 40 row(s) of table foi_request have a parent_ref that no row of foi_request (foi_request.reference) has", run.Output, StringComparison.Ordinal);
        Assert.Contains("run 1: partial", run.Output, StringComparison.Ordinal);

        var skipped = await ws.Ferry("run", "ferry.yaml", "--no-reconcile");
        Assert.True(skipped.ExitCode == 3, skipped.ToString());
        Assert.DoesNotContain("reconciliation", skipped.Output, StringComparison.Ordinal);

        var (result, json, html) = await Reconcile(ws);
        Assert.True(result.ExitCode == 4, result.ToString());
        var orphans = Assert.Single(Entity(json).GetProperty("orphans").EnumerateArray());
        Assert.Equal(("parent_ref", "foi_request", "reference", 40), (orphans.GetProperty("column").GetString(), orphans.GetProperty("parent_entity").GetString(),
            orphans.GetProperty("parent_column").GetString(), orphans.GetProperty("count").GetInt64()));
        Assert.Contains("Orphans: parent_ref → foi_request.reference (40)", html, StringComparison.Ordinal);

        // Pointing the column at real parents clears it.
        Execute(ws, "UPDATE foi_request SET parent_ref = reference");
        ws.Write("ferry.yaml", Foi.Manifest(batchSize: 9) + "\n      parent_ref: { from: reference, references: { entity: foi_request, column: reference } }\n");
        var fixedRun = await ws.Ferry("run", "ferry.yaml");
        Assert.True(fixedRun.ExitCode == 3, fixedRun.ToString());
        Assert.Contains("reconciliation of run 3: ok", fixedRun.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reconcile_narrows_to_an_entity_and_refuses_unknown_runs_and_entities()
    {
        using var ws = Loaded(out _);
        var one = await ws.Ferry("reconcile", "ferry.yaml", "--entity", "foi_request", "--run", "1", "--json", "-");
        Assert.True(one.ExitCode == 0, one.ToString());
        Assert.True(JsonDocument.Parse(one.Output).RootElement.GetProperty("ok").GetBoolean());

        var unknownEntity = await ws.Ferry("reconcile", "ferry.yaml", "--entity", "nope");
        Assert.True(unknownEntity.ExitCode == 2, unknownEntity.ToString());
        Assert.Contains("no entity named 'nope'", unknownEntity.Error, StringComparison.Ordinal);
        var unknownRun = await ws.Ferry("reconcile", "ferry.yaml", "--run", "99");
        Assert.True(unknownRun.ExitCode == 1, unknownRun.ToString());
        Assert.Contains("there is no run 99", unknownRun.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_references_entry_naming_an_unknown_entity_or_column_is_a_manifest_error_with_its_line()
    {
        using var ws = new Workspace();
        var yaml = Foi.Manifest() + "\n      parent_ref: { from: reference, references: { entity: school, column: id } }\n" +
            "      other_ref: { from: reference, references: { entity: foi_request, column: nope } }\n";
        var ex = Assert.Throws<ManifestException>(() => ManifestLoader.Parse(yaml, ws.PathOf("ferry.yaml")));
        Assert.Contains(ex.Errors, e => e.Message.Contains("references entity 'school', which the manifest does not have", StringComparison.Ordinal));
        Assert.Contains(ex.Errors, e => e.Message.Contains("references column 'nope' of entity 'foi_request'", StringComparison.Ordinal));
        Assert.All(ex.Errors, e => Assert.True(e.Line > 30));
    }

    [Fact]
    public async Task Partitions_spilled_to_disk_find_the_same_mismatches_as_one()
    {
        using var ws = Loaded(out _, batchSize: 4);
        Execute(ws, "DELETE FROM foi_request WHERE reference IN ('FOI-2024-00003', 'FOI-2024-00033')");
        Execute(ws, "UPDATE foi_request SET pages = pages + 1 WHERE reference IN ('FOI-2024-00011', 'FOI-2024-00022', 'FOI-2024-00039')");
        // Rows not from this source in the shared table are no mismatch.
        Execute(ws, "INSERT INTO foi_request (reference, requester) VALUES ('OTHER-1', 'someone else')");
        var manifest = ManifestLoader.Load(ws.PathOf("ferry.yaml"));

        // Four rows per partition: 41 rows read spread over 11 partition files per side.
        var split = await Reconciler.ReconcileAsync(manifest, new ReconcileOptions { RowsPerPartition = 4, SampleSize = 0 }, CancellationToken.None);
        var whole = await Reconciler.ReconcileAsync(manifest, new ReconcileOptions { SampleSize = 0 }, CancellationToken.None);
        foreach (var report in new[] { split, whole })
        {
            var e = Assert.Single(report.Entities);
            Assert.False(report.Ok);
            Assert.Equal(new ChecksumResult(40, e.Checksum!.SourceChecksum, 38, e.Checksum.TargetChecksum, 2, 3, 1), e.Checksum);
            Assert.Equal(["FOI-2024-00003", "FOI-2024-00033"], e.MissingKeys.Order());
            Assert.Equal(["FOI-2024-00011", "FOI-2024-00022", "FOI-2024-00039"], e.Differences.Select(d => d.Key).Order());
            Assert.All(e.Differences, d => Assert.Equal("pages", d.Column));
        }
        Assert.Equal(whole.Entities[0].Checksum, split.Entities[0].Checksum);

        // Partitions joined side by side list at most the limit, and the same keys every time; all are counted.
        var listed = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var limited = Assert.Single((await Reconciler.ReconcileAsync(manifest,
                new ReconcileOptions { RowsPerPartition = 4, SampleSize = 0, ListLimit = 1 }, CancellationToken.None)).Entities);
            Assert.Equal(split.Entities[0].Checksum, limited.Checksum);
            listed.Add(Assert.Single(limited.MissingKeys) + " " + Assert.Single(limited.Differences).Key);
        }
        Assert.Single(listed.Distinct());
        Assert.Contains(listed[0].Split(' ')[0], split.Entities[0].MissingKeys);
    }

    [Fact]
    public async Task Missing_and_differing_keys_are_listed_with_their_exact_texts_however_long_or_far_from_ASCII()
    {
        // Keys of 130 to 180 characters, 280 to 380 bytes in UTF-8, some with a comma and quotes: their
        // texts are read back from the partition files (each behind a two-byte length) only for the keys
        // a report lists.
        string Code(int i) => $"Ärger-{i:D3}-" + string.Concat(Enumerable.Repeat("ß€ü", 40 + i % 14)) + (i % 3 == 0 ? ", \"quoted\"" : "");
        using var ws = new Workspace();
        ws.Write("data/items.csv", "code,name\n" + string.Concat(Enumerable.Range(1, 60).Select(i => $"\"{Code(i).Replace("\"", "\"\"")}\",item {i}\n")));
        ws.Write("ferry.yaml", $$"""
            name: long-keys
            source:
              type: csv
              path: data/items.csv
            target:
              type: sqlite
              connection: "Data Source={{Foi.Db}}"
            entities:
              - name: item
                table: item
                key: [code]
                mode: upsert
                batch_size: 7
                columns:
                  code: code
                  name: name
            """);
        var run = await ws.Ferry("run", "ferry.yaml");
        Assert.True(run.ExitCode == 0, run.ToString());
        Execute(ws, $"DELETE FROM item WHERE code IN ('{Code(9)}', '{Code(44)}')");
        Execute(ws, $"UPDATE item SET name = 'changed' WHERE code IN ('{Code(12)}', '{Code(57)}')");
        var manifest = ManifestLoader.Load(ws.PathOf("ferry.yaml"));

        foreach (var rowsPerPartition in new[] { 5, 100_000 })
        {
            var e = Assert.Single((await Reconciler.ReconcileAsync(manifest,
                new ReconcileOptions { RowsPerPartition = rowsPerPartition, SampleSize = 3 }, CancellationToken.None)).Entities);
            Assert.Equal(new[] { Code(9), Code(44) }.Order(StringComparer.Ordinal), e.MissingKeys.Order(StringComparer.Ordinal));
            Assert.Equal(new[] { Code(12), Code(57) }.Order(StringComparer.Ordinal), e.Differences.Select(d => d.Key).Order(StringComparer.Ordinal));
            Assert.All(e.Differences, d => Assert.Equal(("name", "changed"), (d.Column, d.Target)));
            Assert.Equal((58L, 2L, 2L), (e.Checksum!.TargetRows, e.Checksum.MissingInTarget, e.Checksum.Differing));
        }
    }

    [Fact]
    public async Task The_sample_finds_its_rows_while_the_target_holds_many_rows_the_source_does_not()
    {
        using var ws = Loaded(out _);
        Execute(ws, "DELETE FROM foi_request WHERE reference = 'FOI-2024-00017'");
        Execute(ws, "UPDATE foi_request SET summary = 'changed' WHERE reference = 'FOI-2024-00005'");
        // 400 rows of another source: more than the target side keeps while it is read beside the source,
        // so that sampled rows it did not keep are read again by key.
        Execute(ws, string.Join(";", Enumerable.Range(1, 400).Select(i => $"INSERT INTO foi_request (reference, requester) VALUES ('OTHER-{i}', 'someone else')")));
        var manifest = ManifestLoader.Load(ws.PathOf("ferry.yaml"));

        // Every accepted row is sampled (40), whatever the seed.
        var report = await Reconciler.ReconcileAsync(manifest, new ReconcileOptions { SampleSize = 40 }, CancellationToken.None);
        var e = Assert.Single(report.Entities);
        Assert.Equal(40, e.Samples.Count);
        Assert.Equal(Enumerable.Range(1, 40).Select(i => $"FOI-2024-{i:00000}"), e.Samples.Select(s => s.Key).Order());
        var gone = Assert.Single(e.Samples, s => !s.FoundInTarget);
        Assert.Equal("FOI-2024-00017", gone.Key);
        var changed = Assert.Single(e.Samples, s => s.Differences.Count > 0);
        Assert.Equal(("FOI-2024-00005", "summary", "changed"), (changed.Key, changed.Differences.Single().Column, changed.Differences.Single().Target));
        Assert.Equal(38, e.Samples.Count(s => s.Ok));
    }
}
