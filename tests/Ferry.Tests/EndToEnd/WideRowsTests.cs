using System.Text;
using Ferry.Tests.Postgres;
using Ferry.Tests.Support;
using static Ferry.Tests.BadInput.BadInputKit;

namespace Ferry.Tests.EndToEnd;

/// <summary>
/// Rows far wider than the ferry process's heap limit assumes when it sizes it from the batch (about
/// 160 bytes a value): here 200 KB each in memory, a batch of 100 of them 20 MB, five batches in flight
/// 100 MB against a first limit of about 85 MB. The limit must grow as the rows show their size;
/// before it did, such a run stopped with OutOfMemoryException after its first batch.
/// </summary>
public class WideRowsTests
{
    private const int BodyChars = 100_000;

    private static string Body(int id, int version)
    {
        var random = new Random(id * 31 + version);
        var chars = new char[BodyChars];
        for (var i = 0; i < chars.Length; i++)
            chars[i] = (char)('a' + random.Next(26));
        return new string(chars);
    }

    private static void WriteFile(Workspace ws, int rows, int version)
    {
        using var writer = new StreamWriter(ws.PathOf("docs.csv"), false, new UTF8Encoding(false));
        writer.Write("id,title,body\n");
        for (var id = 1; id <= rows; id++)
            writer.Write($"{id},\"Document {id}, version {version}\",{Body(id, version)}\n");
    }

    private static void AssertTargetHolds(List<Dictionary<string, object?>> rows, int count, int version)
    {
        Assert.Equal(count, rows.Count);
        for (var id = 1; id <= count; id++)
        {
            var row = rows[id - 1];
            Assert.Equal((long)id, Convert.ToInt64(row["id"], System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal($"Document {id}, version {version}", row["title"]);
            Assert.True(Body(id, version) == (string)row["body"]!, $"row {id}: body differs from version {version}");
        }
    }

    [Theory]
    [InlineData("sqlite", 400, 100)]
    // On PostgreSQL the re-run reads the file's records unparsed until it has compared them with the
    // first run's batches: the limit must grow by the records' length before they are parsed.
    [InlineData("postgres", 400, 100)]
    // Batches of 10 rows grow the limit little, but the reconciliation at the end reads the source
    // again 1,024 rows at a time (200 MB here): its reading must grow the limit too.
    [InlineData("sqlite", 1100, 10)]
    public async Task Rows_of_200_KB_load_and_load_again_changed_in_a_ferry_process_of_its_own(string target, int rows, int batchSize)
    {
        using var pg = target == "postgres" ? new PgScope("wide") : null;
        using var own = pg is null ? new Workspace() : null;
        var ws = pg?.Workspace ?? own!;
        var targetYaml = pg is null
            ? """{ type: sqlite, connection: "Data Source=target.db" }"""
            : $$"""{ type: postgres, connection: "${FERRY_TEST_PG}", schema: {{pg.Schema}} }""";
        ws.Write("ferry.yaml", $$"""
            name: wide-rows
            source: { type: csv, path: docs.csv }
            target: {{targetYaml}}
            entities:
              - name: doc
                table: doc
                key: [id]
                mode: upsert
                batch_size: {{batchSize}}
                columns:
                  id: { from: id, type: int }
                  title: title
                  body: body
            """);
        List<Dictionary<string, object?>> Target() => pg is null
            ? ws.Query("target.db", "SELECT id, title, body FROM doc ORDER BY id")
            : Pg.Query($"SELECT id, title, body FROM \"{pg.Schema}\".doc ORDER BY id");

        WriteFile(ws, rows, 1);
        var first = await FerryProcessAsync(ws, "run", "ferry.yaml");
        Assert.True(first.ExitCode == 0, first.ToString());
        AssertTargetHolds(Target(), rows, 1);
        Assert.Matches(@"reconciliation of run \d+: ok", first.Output);

        WriteFile(ws, rows, 2);
        var second = await FerryProcessAsync(ws, "run", "ferry.yaml");
        Assert.True(second.ExitCode == 0, second.ToString());
        AssertTargetHolds(Target(), rows, 2);
        Assert.Matches(@"reconciliation of run \d+: ok", second.Output);
    }

    /// <summary>
    /// The file pipeline's history step sizes the heap the same way, late, after validation has read
    /// the file: its batches must grow the limit as the run's do. Monthly CSV files of such rows,
    /// the second with every body changed, go through ingest, validate, history and publish. (Before
    /// the stage file's row groups were bounded in bytes, validation left more memory in use than
    /// the limit, which then could not be applied at all.)
    /// </summary>
    [Fact]
    public async Task Rows_of_200_KB_go_through_the_file_pipeline_in_a_ferry_process_of_its_own()
    {
        const int rows = 400;
        using var ws = new Workspace();
        ws.Write("docs.yaml", """
            name: wide-pipeline
            target: { type: sqlite, connection: "Data Source=target.db" }
            landing:
              folder: landing
              files:
                - name: docs
                  pattern: "docs_*.csv"
                  source: { type: csv }
                  entities: [doc]
            publish: [mart/01_titles.sql]
            entities:
              - name: doc
                table: doc
                key: [id]
                mode: upsert
                batch_size: 100
                columns:
                  id: { from: id, type: int }
                  title: title
                  body: body
            """);
        ws.Write("mart/01_titles.sql", "DROP TABLE IF EXISTS titles;\nCREATE TABLE titles AS SELECT id, title, length(body) AS chars FROM doc;\n");
        Directory.CreateDirectory(ws.PathOf("landing"));
        List<Dictionary<string, object?>> Target() => ws.Query("target.db", "SELECT id, title, body FROM doc ORDER BY id");

        for (var month = 1; month <= 2; month++)
        {
            WriteFile(ws, rows, month);
            File.Move(ws.PathOf("docs.csv"), ws.PathOf(Path.Combine("landing", $"docs_2026-0{month}.csv")));
            var result = await FerryProcessAsync(ws, "pipeline", "run", "docs.yaml");
            Assert.True(result.ExitCode == 0, result.ToString());
            AssertTargetHolds(Target(), rows, month);
            Assert.Equal((long)rows, ws.Scalar("target.db", $"SELECT count(*) FROM titles WHERE chars = {BodyChars} AND title LIKE '%version {month}'"));

            // The stage file's row groups, each written and read again whole, stop at about 16 MB of values
            // (about 80 of these rows), not at 10,000 rows: one group would have held all 400 rows, 80 MB.
            using var stage = File.OpenRead(ws.PathOf(Path.Combine("stage", "docs", $"{month:D6}.parquet")));
            await using var parquet = await Parquet.ParquetReader.CreateAsync(stage);
            Assert.True(parquet.RowGroupCount >= 5, $"{parquet.RowGroupCount} row group(s)");
            for (var g = 0; g < parquet.RowGroupCount; g++)
                Assert.InRange(parquet.OpenRowGroupReader(g).RowCount, 1, 84);
        }
    }

    /// <summary>
    /// A heap limit the user set below what the batches need (here 256 MB against about 540 MB for
    /// five batches of 100,000 rows) is kept, but the run says so before it starts, naming the entity
    /// and its batch_size: a run that then runs short fails partway, or the runtime crashes without a
    /// word of its own. A small file still loads; without the limit nothing is said.
    /// </summary>
    [Fact]
    public async Task A_heap_limit_below_what_the_batches_need_is_named_before_the_run_starts()
    {
        using var ws = new Workspace();
        ws.Write("docs.csv", "id,title,body\n" + string.Concat(Enumerable.Range(1, 20).Select(i => $"{i},Title {i},Body {i}\n")));
        ws.Write("ferry.yaml", """
            name: big-batches
            source: { type: csv, path: docs.csv }
            target: { type: sqlite, connection: "Data Source=target.db" }
            entities:
              - name: doc
                table: doc
                key: [id]
                batch_size: 100000
                columns:
                  id: { from: id, type: int }
                  title: title
                  body: body
            """);

        var limited = await FerryProcessAsync(ws, new Dictionary<string, string> { ["DOTNET_GCHeapHardLimit"] = "0x10000000" }, "run", "ferry.yaml", "--no-reconcile");
        Assert.True(limited.ExitCode == 0, limited.ToString());
        Assert.Matches(@"warning: this run's batches need about \d+ MB of heap .*entity 'doc' has batch_size 100,000.*DOTNET_GCHeapHardLimit sets allows 256 MB", limited.Error);
        Assert.Equal(20L, ws.Scalar("target.db", "SELECT count(*) FROM doc"));

        var unlimited = await FerryProcessAsync(ws, "run", "ferry.yaml", "--no-reconcile");
        Assert.True(unlimited.ExitCode == 0, unlimited.ToString());
        Assert.DoesNotContain("warning: this run's batches need", unlimited.Error + unlimited.Output, StringComparison.Ordinal);
    }
}
