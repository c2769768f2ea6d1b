using Ferry.Sources;
using Ferry.Sources.Database;

namespace Ferry.Tests.Sources;

/// <summary>
/// Every value rule of docs/manifest.md ("Database values") on the database that has the type:
/// each column read once by default and once under its 'convert' rule.
/// </summary>
public class ValueRuleTests
{
    private static async Task<List<SourceRow>> ReadAsync(LegacyDatabase db, string from, string sourceExtra = "") =>
        (await ReadWithColumnsAsync(db, from, sourceExtra)).Rows;

    private static async Task<(List<SourceRow> Rows, IReadOnlyList<string> Columns)> ReadWithColumnsAsync(LegacyDatabase db, string from, string sourceExtra)
    {
        var manifest = db.Manifest($$"""
            - name: v
              from: {{from}}
              mode: insert
              columns: { id: id }
            """, sourceExtra);
        await using var reader = await DatabaseSourceReader.OpenAsync(manifest, manifest.Entities[0], CancellationToken.None);
        return (await KeysetPaginationTests.ReadAllAsync(reader), reader.Columns);
    }

    /// <summary>The rows as column → text, in key order.</summary>
    private static async Task<List<Dictionary<string, string?>>> ValuesAsync(LegacyDatabase db, string from, string sourceExtra = "")
    {
        var (rows, columns) = await ReadWithColumnsAsync(db, from, sourceExtra);
        return rows.Select(r => columns.Select((c, i) => (c, r.Values[i])).ToDictionary(p => p.c, p => p.Item2)).ToList();
    }

    private static async Task<List<RowProblem?>> ProblemsAsync(LegacyDatabase db, string from, string sourceExtra = "") =>
        (await ReadAsync(db, from, sourceExtra)).Select(r => r.Problem).ToList();

    [Fact]
    public async Task Sqlite_values_and_rules()
    {
        using var db = new LegacyDatabase(LegacyDatabase.Sqlite);
        db.Execute("""
            CREATE TABLE v (id INTEGER NOT NULL PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, flag INTEGER, d TEXT, dt TEXT, l1 TEXT);
            INSERT INTO v VALUES (1, -42, 0.1, 'plain', x'00ff10', 1, '2020-01-02', '2020-01-02 03:04:05.5', CAST(x'4a6f73e9' AS TEXT));
            INSERT INTO v VALUES (2, NULL, 1e20, NULL, x'', 0, '2020-01-02 10:00:00', '2020-01-02T03:04:05Z', NULL);
            INSERT INTO v VALUES (3, 0, NULL, '', NULL, 2, NULL, NULL, NULL);
            INSERT INTO v VALUES (4, 0, NULL, '', NULL, 0, 'not a date', NULL, NULL);
            INSERT INTO v VALUES (5, 0, NULL, '', NULL, 0, NULL, '2020-13-01 00:00:00', NULL)
            """);

        var plain = await ValuesAsync(db, "{ table: v, key: id }");
        Assert.Equal(["1", "-42", "0.1", "plain", "00ff10", "1", "2020-01-02", "2020-01-02 03:04:05.5"], plain[0].Values.Take(8));
        Assert.Equal("Jos\uFFFD", plain[0]["l1"]); // not UTF-8: the driver replaces the byte
        Assert.Equal(["2", null, "1E+20", null, "", "0"], plain[1].Values.Take(6));

        const string rules = "{ table: v, key: id, convert: { b: base64, flag: bool, d: date, dt: datetime, l1: decode } }";
        var converted = await ValuesAsync(db, rules, "encoding: windows-1252");
        Assert.Equal(["AP8Q", "true", "2020-01-02", "2020-01-02T03:04:05.5", "José"], converted[0].Values.Skip(4));
        Assert.Equal(["", "false", "2020-01-02", "2020-01-02T03:04:05Z", null], converted[1].Values.Skip(4));
        Assert.Equal("2", converted[2]["flag"]); // kept as read, with the problem that rejects the row

        var problems = await ProblemsAsync(db, rules, "encoding: windows-1252");
        Assert.Null(problems[0]);
        Assert.Null(problems[1]);
        Assert.Equal(new RowProblem("flag", "bool", "'2' is not a boolean: the column is read as bool, which takes 0 or 1"), problems[2]);
        Assert.Equal(new RowProblem("d", "date", "'not a date' is not a date (yyyy-MM-dd)"), problems[3]);
        Assert.Equal(new RowProblem("dt", "datetime", "'2020-13-01 00:00:00' is not a date and time (yyyy-MM-ddTHH:mm:ss)"), problems[4]);

        // The same bytes in the wrong encoding: the row is rejected, naming the column.
        var utf8 = await ProblemsAsync(db, "{ table: v, key: id, convert: { l1: decode } }");
        Assert.Equal(new RowProblem("l1", "encoding", "bytes invalid in encoding 'utf-8'"), utf8[0]);
    }

    [Fact]
    public async Task Postgres_values_and_rules()
    {
        using var db = new LegacyDatabase(LegacyDatabase.Postgres);
        db.Execute("""
            CREATE TABLE v (id INTEGER NOT NULL PRIMARY KEY, d DATE, ts TIMESTAMP, tstz TIMESTAMPTZ, n NUMERIC(26,10), tiny NUMERIC,
                m DOUBLE PRECISION, flag SMALLINT, b BOOLEAN, u UUID, raw BYTEA, tm TIME, txt TEXT, arr INTEGER[]);
            INSERT INTO v VALUES (1, '2020-01-02', '2020-01-02 03:04:05.123456', '2020-01-02 03:04:05+02', 1234567890123456.1234567890, 0.0000000001,
                0.1, 1, true, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '\x4a6f73e9', '10:11:12.5', 'Grüße', NULL);
            INSERT INTO v (id, n, ts, flag) VALUES (2, 12.5, '2020-01-02 00:00:00', 0);
            INSERT INTO v (id, arr) VALUES (3, '{1,2}')
            """);

        var plain = await ValuesAsync(db, "{ table: v, key: id }");
        Assert.Equal(new Dictionary<string, string?>
        {
            ["id"] = "1", ["d"] = "2020-01-02", ["ts"] = "2020-01-02T03:04:05.123456", ["tstz"] = "2020-01-02T01:04:05Z",
            ["n"] = "1234567890123456.1234567890", ["tiny"] = "0.0000000001", ["m"] = "0.1", ["flag"] = "1", ["b"] = "true",
            ["u"] = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", ["raw"] = "4a6f73e9", ["tm"] = "10:11:12.5", ["txt"] = "Grüße", ["arr"] = null,
        }, plain[0]);
        Assert.Equal("12.5000000000", plain[1]["n"]); // the column's scale, no exponent
        Assert.Equal("2020-01-02T00:00:00", plain[1]["ts"]); // a timestamp stays one at midnight

        var converted = await ValuesAsync(db, "{ table: v, key: id, convert: { ts: date, d: datetime, flag: bool, raw: decode, tstz: date } }",
            "encoding: windows-1252");
        Assert.Equal(["2020-01-02T00:00:00", "2020-01-02", "2020-01-02", "true", "José"],
            new[] { "d", "ts", "tstz", "flag", "raw" }.Select(c => converted[0][c]));
        Assert.Equal("false", converted[1]["flag"]);
        var base64 = await ValuesAsync(db, "{ table: v, key: id, convert: { raw: base64 } }");
        Assert.Equal("Sm9z6Q==", base64[0]["raw"]);

        var problems = await ProblemsAsync(db, "{ table: v, key: id }");
        Assert.Equal(("arr", "type"), (problems[2]!.Column, problems[2]!.Rule));
        Assert.Contains("select the column as text in a 'query'", problems[2]!.Message, StringComparison.Ordinal);
    }

    private const string MySqlTable = """
        CREATE TABLE v (id INT NOT NULL PRIMARY KEY, flag TINYINT(1), d DATE, dt DATETIME(6), amount DECIMAL(65,30), price DECIMAL(10,2),
            tm TIME, bits BIT(1), g CHAR(36), raw VARBINARY(10), l1 VARCHAR(20) CHARACTER SET latin1, moj VARCHAR(20) CHARACTER SET latin1, f DOUBLE);
        INSERT INTO v VALUES (1, 1, '2020-01-02', '2020-01-02 03:04:05.123400', 12345678901234567890123456789012345.123456789012345678901234567890, 12.50,
            '-838:59:59', b'1', '0E984725-C51C-4BF4-9960-E1C80E27ABA0', x'00ff', 'José', CONVERT(x'4a6f73c3a9' USING latin1), 0.1);
        INSERT INTO v (id, flag, d, dt) VALUES (2, 0, '0000-00-00', '0000-00-00 00:00:00');
        INSERT INTO v (id, d) VALUES (3, '2020-00-15')
        """;

    [Fact]
    public async Task MySql_values_and_rules()
    {
        using var db = new LegacyDatabase(LegacyDatabase.MySql);
        db.Execute(MySqlTable);

        var plain = await ValuesAsync(db, "{ table: v, key: id }");
        Assert.Equal(new Dictionary<string, string?>
        {
            ["id"] = "1", ["flag"] = "1", ["d"] = "2020-01-02", ["dt"] = "2020-01-02T03:04:05.1234",
            ["amount"] = "12345678901234567890123456789012345.123456789012345678901234567890", ["price"] = "12.50",
            ["tm"] = "-838:59:59", ["bits"] = "1", ["g"] = "0E984725-C51C-4BF4-9960-E1C80E27ABA0", ["raw"] = "00ff",
            ["l1"] = "José", ["moj"] = "JosÃ©", ["f"] = "0.1",
        }, plain[0]);
        // Zero dates (whole or in part) are NULL by default.
        Assert.Null(plain[1]["d"]);
        Assert.Null(plain[1]["dt"]);
        Assert.Null(plain[2]["d"]);

        var converted = await ValuesAsync(db, "{ table: v, key: id, convert: { flag: bool, moj: decode, raw: base64, dt: date } }");
        Assert.Equal(["true", "José", "AP8=", "2020-01-02"], new[] { "flag", "moj", "raw", "dt" }.Select(c => converted[0][c]));
        Assert.Equal("false", converted[1]["flag"]);

        var strict = await ReadAsync(db, "{ table: v, key: id }", "zero_dates: error");
        Assert.Null(strict[0].Problem);
        Assert.Equal(new RowProblem("d", "zero-date", "'0000-00-00' is a zero date, which is no date (zero_dates: error)"), strict[1].Problem);
        Assert.Equal("0000-00-00 00:00:00", strict[1].Values[3]);
        Assert.Equal(new RowProblem("d", "zero-date", "'2020-00-15' is a zero date, which is no date (zero_dates: error)"), strict[2].Problem);
    }
}
