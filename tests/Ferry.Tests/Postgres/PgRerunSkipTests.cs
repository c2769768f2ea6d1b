using Ferry.Tests.EndToEnd;

namespace Ferry.Tests.Postgres;

/// <summary>
/// A re-run skips rows by the content hashes the previous run's batch records keep, without a
/// target write. These tests prove the skip never leaves a row different from what the source says.
/// </summary>
public class PgRerunSkipTests
{
    private static string Summary(PgScope pg, int i) =>
        (string)Pg.Scalar($"SELECT summary FROM \"{pg.Schema}\".foi_request WHERE reference = @r", ("r", Foi.Reference(i)))!;

    private static List<string> Versions(PgScope pg) =>
        Pg.Query($"SELECT reference, xmin::text AS x FROM \"{pg.Schema}\".foi_request ORDER BY reference").Select(r => $"{r["reference"]}:{r["x"]}").ToList();

    [Fact]
    public async Task Re_runs_of_the_same_file_write_nothing_run_after_run_and_their_records_keep_the_row_versions()
    {
        using var pg = new PgScope("skip");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 10)));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 4, check: false));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var versions = Versions(pg);
        var first = Pg.Runs(pg.Manifest())[^1].RunId;

        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
            var run = Pg.Runs(pg.Manifest())[^1].RunId;
            Assert.Equal(new LedgerCounts(10, 0, 0, 10, 0, 0), Pg.Counts(run));
            Assert.Equal(versions, Versions(pg));
            Assert.Equal(0, Pg.Count("SELECT count(*) FROM ferry.undo WHERE run_id = @r", ("r", run)));
            // Each record names the versions the rows still have: the ones the first run wrote.
            Assert.Equal(
                Pg.Query("SELECT version_set::text AS v FROM ferry.batches WHERE run_id = @r ORDER BY batch_no", ("r", first)).Select(r => r["v"]),
                Pg.Query("SELECT version_set::text AS v FROM ferry.batches WHERE run_id = @r ORDER BY batch_no", ("r", run)).Select(r => r["v"]));
        }
    }

    // A record's digest is its own or, for a batch taken unchanged, the one of the record it refers to.
    private static List<string> Records(long run) =>
        Pg.Query("""
            SELECT b.batch_no, b.first_line, b.last_line, b.lines::text AS lines, b.keys::text AS keys, encode(coalesce(b.digest, o.digest), 'hex') AS digest,
                   b.version_set::text AS versions, b.rows_read, b.unchanged, b.updated
            FROM ferry.batches b
            LEFT JOIN ferry.batches o ON o.run_id = b.digest_run AND o.entity = b.digest_entity AND o.batch_no = b.batch_no
            WHERE b.run_id = @r ORDER BY b.batch_no
            """, ("r", run)).Select(r => string.Join("|", r.Values)).ToList();

    private static List<string> DigestsHeld(long run) =>
        Pg.Query("SELECT coalesce(digest_run::text, 'own:' || length(digest)) AS d FROM ferry.batches WHERE run_id = @r ORDER BY batch_no", ("r", run))
            .Select(r => (string)r["d"]!).ToList();

    private static List<(long Line, string? Key, string Status)> Staged(long run) =>
        Pg.Stage(run).Select(s => (s.Line, s.BusinessKey, s.Status)).ToList();

    [Fact]
    public async Task An_unchanged_batch_on_the_same_lines_gets_the_previous_record_and_one_on_other_lines_or_with_a_change_its_own()
    {
        using var pg = new PgScope("skcopy");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 16)));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 4, check: false));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var runs = Pg.Runs(pg.Manifest());
        var (first, second) = (runs[^2].RunId, runs[^1].RunId);
        static List<string> Kept(long run) => Records(run).Select(r => string.Join("|", r.Split('|')[..7])).ToList();
        // Every batch unchanged: the re-run's records keep what the first run's do (the server copies
        // them), the digest by reference to the record that holds it.
        Assert.Equal(Kept(first), Kept(second));
        Assert.Equal(Enumerable.Repeat("own:96", 4), DigestsHeld(first));
        Assert.Equal(Enumerable.Repeat($"{first}", 4), DigestsHeld(second));
        Assert.Equal(Enumerable.Repeat("4|4|0", 4), Records(second).Select(r => string.Join("|", r.Split('|')[7..])));
        Assert.Equal(new LedgerCounts(16, 0, 0, 16, 0, 0), Pg.Counts(second));
        var staged = Enumerable.Range(1, 16).Select(i => ((long)i + 1, (string?)Foi.Reference(i), "imported")).ToList();
        Assert.Equal(staged, Staged(second));

        // Request 8 (the end of batch 2) gets a summary over two lines and request 14 (batch 4) another
        // one: batch 1 is copied again; batch 3 is unchanged but a line further down, so it gets its own
        // record with its new lines, as batches 2 and 4 do.
        var lines = Foi.Rows(1, 16).ToList();
        lines[7] = Foi.Row(8, summary: "\"over\ntwo lines\"");
        lines[13] = Foi.Row(14, summary: "changed");
        ws.Write("data/requests.csv", Foi.Csv(lines));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var third = Pg.Runs(pg.Manifest())[^1].RunId;
        Assert.Equal(new LedgerCounts(16, 0, 2, 14, 0, 0), Pg.Counts(third));
        Assert.Equal(Records(second)[0], Records(third)[0]);
        Assert.Equal($"{first}", DigestsHeld(third)[0]); // the record that holds the digest, not the one that referred to it
        Assert.Equal("over\ntwo lines", Summary(pg, 8));
        Assert.Equal("changed", Summary(pg, 14));
        Assert.Equal(staged.Select(s => (s.Item1 <= 9 ? s.Item1 : s.Item1 + 1, s.Item2, s.Item3)), Staged(third));

        // A fourth run of that file copies all four records of the third.
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var fourth = Pg.Runs(pg.Manifest())[^1].RunId;
        Assert.Equal(Kept(third), Kept(fourth));
        Assert.Equal(new LedgerCounts(16, 0, 0, 16, 0, 0), Pg.Counts(fourth));
        Assert.Equal(Staged(third), Staged(fourth));
    }

    [Fact]
    public async Task A_key_the_previous_run_wrote_twice_is_not_skipped_by_the_record_of_its_first_place()
    {
        using var pg = new PgScope("skdup");
        var ws = pg.Workspace;
        // Request 2 twice (no unique rule): in batch 1 as "first", in batch 3 as "second"; the table ends "second".
        var lines = Foi.Rows(1, 8).ToList();
        lines[1] = Foi.Row(2, summary: "first");
        lines.Add(Foi.Row(2, summary: "second"));
        ws.Write("data/requests.csv", Foi.Csv(lines));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 4, unique: false, check: false));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        Assert.Equal("second", Summary(pg, 2));

        // The same file but for its last line: the table must end as the file says, "first".
        lines[^1] = Foi.Row(9);
        ws.Write("data/requests.csv", Foi.Csv(lines));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);

        Assert.Equal("first", Summary(pg, 2));
        Assert.Equal(new LedgerCounts(9, 1, 1, 7, 0, 0), Pg.Counts(Pg.Runs(pg.Manifest())[^1].RunId));
    }

    [Fact]
    public async Task A_row_this_run_changed_in_an_earlier_batch_is_not_skipped_later_by_the_previous_record()
    {
        using var pg = new PgScope("skearly");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 8)));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 4, unique: false, check: false));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);

        // Request 6 (batch 2, as before) is also in batch 1 with another summary: the later line wins,
        // and it is exactly what the previous run's record of batch 2 holds.
        var lines = Foi.Rows(1, 8).ToList();
        lines[0] = Foi.Row(6, summary: "changed early");
        ws.Write("data/requests.csv", Foi.Csv(lines));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);

        Assert.Equal(Foi.Row(6).Split(',')[^1], Summary(pg, 6));
        Assert.Equal(Foi.Row(1).Split(',')[^1], Summary(pg, 1));
    }

    [Fact]
    public async Task After_a_rollback_the_same_file_is_written_again_not_skipped()
    {
        using var pg = new PgScope("skrb");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 6)));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 4, check: false));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 6).Select((l, i) => i == 4 ? Foi.Row(5, summary: "new") : l)));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        var second = Pg.Runs(pg.Manifest())[^1].RunId;
        Assert.Equal("new", Summary(pg, 5));

        var rollback = await ws.Ferry("rollback", second.ToString(System.Globalization.CultureInfo.InvariantCulture), "ferry.yaml");
        Assert.True(rollback.ExitCode == 0, rollback.ToString());
        Assert.Equal(Foi.Row(5).Split(',')[^1], Summary(pg, 5));

        // The file of the rolled-back run again: its change is made again, by comparison with the table.
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        Assert.Equal("new", Summary(pg, 5));
        Assert.Equal(new LedgerCounts(6, 0, 1, 5, 0, 0), Pg.Counts(Pg.Runs(pg.Manifest())[^1].RunId));
    }
}

/// <summary>Batch records keep every row's business key, whatever characters it holds.</summary>
public class PgBatchRecordKeyTests
{
    private static string Manifest(string schema, string key) => $$"""
        source: { type: csv, path: data/codes.csv }
        target: { type: postgres, connection: "${FERRY_TEST_PG}", schema: {{schema}} }
        entities:
          - name: code
            table: code
            {{key}}
            mode: {{(key.Length == 0 ? "insert" : "upsert")}}
            batch_size: 10
            columns: { code: code, label: label }
        """;

    [Theory]
    [InlineData("key: [code]")]
    [InlineData("")]
    public async Task Keys_with_separators_brackets_or_none_at_all_come_back_exactly_from_the_staging_view(string key)
    {
        using var pg = new PgScope("keys");
        var ws = pg.Workspace;
        string[] codes = ["[1]", "a\u001Eb", "x\u001F\u001Fy", "plain"];
        ws.Write("data/codes.csv", "code,label\n" + string.Join("\n", codes.Select((c, i) => $"\"{c}\",label {i}")) + "\n");
        ws.Write("ferry.yaml", Manifest(pg.Schema, key));

        var result = await ws.Ferry("run", "ferry.yaml");

        Assert.True(result.ExitCode == 0, result.ToString());
        var run = Pg.Runs(pg.Manifest())[^1].RunId;
        var staged = Pg.Query("""SELECT business_key, status FROM ferry."stage_code" WHERE run_id = @r ORDER BY line""", ("r", run));
        Assert.Equal(key.Length == 0 ? codes.Select(_ => "") : codes, staged.Select(r => (string)r["business_key"]!));
        Assert.All(staged, r => Assert.Equal("imported", r["status"]));
        if (key.Length == 0)
            return;
        // The same file again skips every row by the record's digest.
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);
        Assert.Equal(new LedgerCounts(4, 0, 0, 4, 0, 0), Pg.Counts(Pg.Runs(pg.Manifest())[^1].RunId, "code"));
    }
}

public class PgRerunAfterEmptyingTests
{
    [Fact]
    public async Task A_table_emptied_behind_Ferrys_back_is_loaded_again_in_full_not_skipped()
    {
        using var pg = new PgScope("skempty");
        var ws = pg.Workspace;
        ws.Write("data/requests.csv", Foi.Csv(Foi.Rows(1, 9)));
        ws.Write("ferry.yaml", PgFoi.Manifest(pg.Schema, batchSize: 4, check: false));
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);

        Pg.Execute($"TRUNCATE \"{pg.Schema}\".foi_request");
        Assert.Equal(0, (await ws.Ferry("run", "ferry.yaml")).ExitCode);

        Assert.Equal(9, pg.Count());
        Assert.Equal(new LedgerCounts(9, 9, 0, 0, 0, 0), Pg.Counts(Pg.Runs(pg.Manifest())[^1].RunId));
    }
}
