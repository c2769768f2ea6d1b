using Ferry.Tests.Support;
using Microsoft.Data.Sqlite;
using static Ferry.Tests.BadInput.BadInputKit;

namespace Ferry.Tests.BadInput;

public class TargetTests
{
    /// <summary>The files in the workspace (relative paths), to prove a failed command left nothing behind.</summary>
    private static List<string> Files(Workspace ws) =>
        Directory.EnumerateFileSystemEntries(ws.Root, "*", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(ws.Root, p)).Order(StringComparer.Ordinal).ToList();

    [Fact]
    public async Task A_target_in_a_folder_that_does_not_exist_is_refused_and_nothing_is_created()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        var before = ws.Fingerprint(Db);
        ws.Write("bad.yaml", ManifestYaml(CsvSource(), database: "nowhere/target.db"));
        var files = Files(ws);

        foreach (var command in new[] { "check", "run" })
        {
            var result = await ws.Ferry(command, "bad.yaml");
            Assert.True(result.ExitCode == 1, $"{command}: {result}");
            Assert.Contains("target.db", result.Error, StringComparison.Ordinal);
            Assert.Contains(ws.PathOf("nowhere"), result.Error, StringComparison.Ordinal);
            Assert.Contains("does not exist", result.Error, StringComparison.Ordinal);
        }
        Assert.False(Directory.Exists(ws.PathOf("nowhere")));
        Assert.Equal(files, Files(ws));
        Assert.Equal(before, ws.Fingerprint(Db));
    }

    [Fact]
    public async Task A_target_path_that_is_a_folder_is_refused_and_the_folder_is_left_as_it_was()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        Directory.CreateDirectory(ws.PathOf("store.db"));
        ws.Write("store.db/keep.txt", "mine");
        ws.Write("bad.yaml", ManifestYaml(CsvSource(), database: "store.db"));
        var files = Files(ws);

        foreach (var command in new[] { "check", "run", "status" })
        {
            var result = await ws.Ferry(command, "bad.yaml");
            Assert.True(result.ExitCode == 1, $"{command}: {result}");
            Assert.Contains("store.db", result.Error, StringComparison.Ordinal);
            Assert.Contains("folder", result.Error, StringComparison.Ordinal);
            Assert.DoesNotContain("ready to run", result.Output, StringComparison.Ordinal);
        }
        Assert.Equal(files, Files(ws));
        Assert.Equal("mine", File.ReadAllText(ws.PathOf("store.db/keep.txt")));
    }

    [Fact]
    public async Task A_target_file_that_is_not_a_database_is_refused_and_left_byte_for_byte()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        var junk = new byte[64 * 1024];
        new Random(42).NextBytes(junk);
        ws.WriteBytes("junk.db", junk);
        ws.Write("bad.yaml", ManifestYaml(CsvSource(), database: "junk.db"));
        var files = Files(ws);

        foreach (var command in new[] { "check", "run", "status", "runs" })
        {
            var result = await ws.Ferry(command, "bad.yaml");
            Assert.True(result.ExitCode == 1, $"{command}: {result}");
            Assert.Contains("cannot open the SQLite target junk.db", result.Error, StringComparison.Ordinal);
            Assert.Contains("not a database", result.Error, StringComparison.Ordinal);
        }
        Assert.Equal(junk, File.ReadAllBytes(ws.PathOf("junk.db")));
        Assert.Equal(files, Files(ws)); // no -wal, -shm, -journal or lock file left behind
    }

    [Fact]
    public async Task Ledger_commands_on_a_database_without_a_ledger_fail_clearly_and_change_nothing()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        using (var connection = new SqliteConnection($"Data Source={ws.PathOf("other.db")};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO person VALUES (1, 'Ada');";
            command.ExecuteNonQuery();
        }
        var before = ws.Fingerprint("other.db");
        ws.Write("other.yaml", ManifestYaml(CsvSource(), database: "other.db"));
        var files = Files(ws);

        foreach (var args in new[] { new[] { "status", "other.yaml" }, ["runs", "other.yaml"], ["rejects", "list", "other.yaml"], ["rejects", "export", "other.yaml", "--out", "out.csv"] })
        {
            var result = await ws.Ferry(args);
            Assert.True(result.ExitCode == 1, $"{string.Join(' ', args)}: {result}");
            Assert.Contains("no ferry ledger", result.Error, StringComparison.Ordinal);
        }
        Assert.Equal(before, ws.Fingerprint("other.db"));
        Assert.Equal(files, Files(ws));
    }

    [Fact]
    public async Task Ledger_commands_on_a_target_that_does_not_exist_fail_clearly_and_do_not_create_it()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        ws.Write("fresh.yaml", ManifestYaml(CsvSource(), database: "fresh.db"));

        foreach (var args in new[] { new[] { "status", "fresh.yaml" }, ["runs", "fresh.yaml"], ["rejects", "list", "fresh.yaml"] })
        {
            var result = await ws.Ferry(args);
            Assert.True(result.ExitCode == 1, $"{string.Join(' ', args)}: {result}");
            Assert.Contains("fresh.db does not exist", result.Error, StringComparison.Ordinal);
        }
        Assert.False(File.Exists(ws.PathOf("fresh.db")));
    }

    [Fact]
    public async Task Asking_for_a_run_that_does_not_exist_is_bad_usage()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        var before = ws.Fingerprint(Db);

        var export = await ws.Ferry("rejects", "export", "ferry.yaml", "--run", "999", "--out", "rejects.csv");
        Assert.True(export.ExitCode == 2, export.ToString());
        Assert.Contains("there is no run 999", export.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(ws.PathOf("rejects.csv")), "nothing is written for a run that does not exist");

        foreach (var args in new[] { new[] { "status", "ferry.yaml", "--run", "999" }, ["rejects", "list", "ferry.yaml", "--run", "999"] })
        {
            var result = await ws.Ferry(args);
            Assert.True(result.ExitCode == 2, $"{string.Join(' ', args)}: {result}");
            Assert.Contains("there is no run 999", result.Error, StringComparison.Ordinal);
        }
        Assert.Equal(before, ws.Fingerprint(Db));
    }

    [Theory]
    [InlineData("--bogus", "run", "ferry.yaml", "--bogus")]
    [InlineData("--batch-size", "run", "ferry.yaml", "--batch-size", "5")]
    [InlineData("--frobnicate", "status", "ferry.yaml", "--frobnicate")]
    [InlineData("--out", "rejects", "export", "ferry.yaml")] // --out is required
    [InlineData("teleport", "teleport", "ferry.yaml")]
    public async Task Unknown_options_and_commands_are_bad_usage_and_touch_nothing(string named, params string[] args)
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        var before = ws.Fingerprint(Db);

        var result = await ws.Ferry(args);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains(named, result.Error, StringComparison.Ordinal);
        Assert.Contains("ferry --help", result.Error, StringComparison.Ordinal);
        Assert.Equal(before, ws.Fingerprint(Db));
        Assert.Equal(1, Runs(ws));
    }
}
