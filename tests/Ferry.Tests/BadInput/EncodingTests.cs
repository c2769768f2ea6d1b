using System.Text;
using Ferry.Tests.Support;
using static Ferry.Tests.BadInput.BadInputKit;

namespace Ferry.Tests.BadInput;

public class EncodingTests
{
    private static byte[] Bytes(params object[] parts) =>
        parts.SelectMany(p => p is string s ? Encoding.ASCII.GetBytes(s) : p is byte b ? [b] : (byte[])p).ToArray();

    [Fact]
    public async Task A_byte_invalid_in_utf8_rejects_only_its_row_naming_line_column_and_rule()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws, manifestText: ManifestYaml(CsvSource(extra: "  encoding: utf-8")));
        ws.WriteBytes("data.csv", Bytes("id,name,city\n11,Ann,Leeds\n12,Bob,York\n13,Ch", (byte)0xFF, "loe,Hull\n14,Dan,Bath\n"));

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 3, run.ToString());
        var reject = Assert.Single(Rejects(ws, 2));
        Assert.Equal((4L, "encoding", "name"), (reject.Line, reject.Rule, reject.Column));
        Assert.Contains("utf-8", reject.Message, StringComparison.Ordinal);
        Assert.Contains("data.csv:4: column name: encoding", run.Output, StringComparison.Ordinal);
        Assert.Equal(["1|Ada|London", "2|Brian|Leeds", "3|Chloe|York", "11|Ann|Leeds", "12|Bob|York", "14|Dan|Bath"], People(ws));
        Assert.Equal([(2L, "imported"), (3L, "imported"), (4L, "error"), (5L, "imported")], Staged(ws, 2));
    }

    [Fact]
    public async Task A_byte_invalid_in_utf8_is_caught_behind_a_byte_order_mark_too()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        ws.WriteBytes("data.csv", Bytes(new byte[] { 0xEF, 0xBB, 0xBF }, "id,name,city\n11,Ann,Leeds\n12,Bob,Yo", (byte)0xC3, "rk\n13,Cy,Hull\n"));

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 3, run.ToString());
        var reject = Assert.Single(Rejects(ws, 2));
        Assert.Equal((3L, "encoding", "city"), (reject.Line, reject.Rule, reject.Column));
        Assert.Equal(["1|Ada|London", "2|Brian|Leeds", "3|Chloe|York", "11|Ann|Leeds", "13|Cy|Hull"], People(ws));
    }

    [Fact]
    public async Task Windows_1252_text_reads_correctly_when_the_manifest_names_it()
    {
        using var ws = new Workspace();
        var manifest = ManifestYaml(CsvSource(extra: "  encoding: windows-1252"));
        await GoodCsvRunAsync(ws, manifestText: manifest);
        ws.WriteBytes("data.csv", Bytes("id,name,city\n11,Ren", (byte)0xE9, ",Orl", (byte)0xE9, "ans\n12,Bob,York\n"));

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("René", ws.Scalar(Db, "SELECT name FROM person WHERE id = 11"));
        Assert.Equal("Orléans", ws.Scalar(Db, "SELECT city FROM person WHERE id = 11"));
    }

    [Fact]
    public async Task The_same_windows_1252_bytes_read_as_utf8_are_rejected_not_garbled()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        ws.WriteBytes("data.csv", Bytes("id,name,city\n11,Ren", (byte)0xE9, ",Paris\n12,Bob,York\n"));

        var run = await ws.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 3, run.ToString());
        var reject = Assert.Single(Rejects(ws, 2));
        Assert.Equal((2L, "encoding", "name"), (reject.Line, reject.Rule, reject.Column));
        Assert.Null(ws.Scalar(Db, "SELECT name FROM person WHERE id = 11"));
        Assert.Equal("Bob", ws.Scalar(Db, "SELECT name FROM person WHERE id = 12"));
    }

    [Fact]
    public async Task An_unknown_encoding_name_is_a_manifest_error_on_its_line()
    {
        using var ws = new Workspace();
        await GoodCsvRunAsync(ws);
        var before = ws.Fingerprint(Db);
        var bad = ManifestYaml(CsvSource(extra: "  encoding: klingon-8"));
        ws.Write("bad.yaml", bad);

        foreach (var command in new[] { "check", "run" })
        {
            var result = await ws.Ferry(command, "bad.yaml");
            Assert.True(result.ExitCode == 2, result.ToString());
            Assert.Contains($"bad.yaml:{LineOf(bad, "klingon-8")}:", result.Error, StringComparison.Ordinal);
            Assert.Contains("unknown encoding 'klingon-8'", result.Error, StringComparison.Ordinal);
        }
        Assert.Equal(before, ws.Fingerprint(Db));
    }
}
