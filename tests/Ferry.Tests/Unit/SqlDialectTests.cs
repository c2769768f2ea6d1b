using Ferry.Manifest;
using Ferry.Sources.Database;

namespace Ferry.Tests.Unit;

/// <summary>
/// The SQL each dialect writes, character for character. SQL Server's is tested only here (no
/// server runs on these machines); the other three also run against real servers in Sources/.
/// </summary>
public class SqlDialectTests
{
    private static KeysetQuery Query(ISqlDialect dialect, string? table, string? query, string[] key, params string[] decode) =>
        KeysetQuery.Create(dialect, KeysetQuery.Source(dialect, table, query), [.. key, "name", "notes"], key, decode.ToHashSet());

    [Fact]
    public void Sql_server_pages_with_top_and_spells_out_a_composite_key()
    {
        var d = SqlServerDialect.Instance;
        var q = Query(d, "legacy.pupils", null, ["district", "id"], "notes");

        Assert.Equal(
            "SELECT TOP (500) src.[district], src.[id], src.[name], CAST(src.[notes] AS VARBINARY(MAX)) AS [notes] FROM [legacy].[pupils] AS src " +
            "ORDER BY src.[district], src.[id]",
            d.Page(q, afterCursor: false, 500));
        Assert.Equal(
            "SELECT TOP (500) src.[district], src.[id], src.[name], CAST(src.[notes] AS VARBINARY(MAX)) AS [notes] FROM [legacy].[pupils] AS src " +
            "WHERE src.[district] >= @p0 AND (src.[district] > @p0 OR (src.[district] = @p0 AND src.[id] > @p1)) ORDER BY src.[district], src.[id]",
            d.Page(q, afterCursor: true, 500));
        Assert.Equal(
            "SELECT src.[district], src.[id] FROM [legacy].[pupils] AS src ORDER BY src.[district], src.[id] OFFSET 41 ROWS FETCH NEXT 1 ROWS ONLY",
            d.KeyAt(q, 41));
        Assert.Equal(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM [legacy].[pupils] AS src WHERE src.[district] IS NULL OR src.[id] IS NULL) THEN 1 ELSE 0 END",
            q.NullKeyCheck);
    }

    [Fact]
    public void Sql_server_three_part_keys_queries_and_quoting()
    {
        var d = SqlServerDialect.Instance;
        Assert.Equal("[odd]]name]", d.Quote("odd]name"));
        Assert.Equal("@p2", d.Parameter(2));

        var three = Query(d, "t", null, ["a", "b", "c"]);
        Assert.Equal(
            "SELECT TOP (10) src.[a], src.[b], src.[c], src.[name], src.[notes] FROM [t] AS src WHERE src.[a] >= @p0 AND " +
            "(src.[a] > @p0 OR (src.[a] = @p0 AND src.[b] > @p1) OR (src.[a] = @p0 AND src.[b] = @p1 AND src.[c] > @p2)) ORDER BY src.[a], src.[b], src.[c]",
            d.Page(three, afterCursor: true, 10));

        // A query is a derived table; a trailing semicolon would end the statement inside it.
        var query = Query(d, null, "SELECT id, name, notes FROM pupils WHERE active = 1 ;\n", ["id"]);
        Assert.Equal(
            "SELECT TOP (2) src.[id], src.[name], src.[notes] FROM (SELECT id, name, notes FROM pupils WHERE active = 1) AS src WHERE src.[id] > @p0 ORDER BY src.[id]",
            d.Page(query, afterCursor: true, 2));
    }

    [Fact]
    public void Postgres_and_sqlite_compare_rows()
    {
        foreach (ISqlDialect d in new ISqlDialect[] { PostgresDialect.Instance, SqliteDialect.Instance })
        {
            var q = Query(d, "pupils", null, ["district", "id"]);
            Assert.Equal(
                "SELECT src.\"district\", src.\"id\", src.\"name\", src.\"notes\" FROM \"pupils\" AS src " +
                "WHERE (src.\"district\", src.\"id\") > (@p0, @p1) ORDER BY src.\"district\", src.\"id\" LIMIT 1000",
                d.Page(q, afterCursor: true, 1000));
            Assert.Equal("SELECT src.\"district\", src.\"id\" FROM \"pupils\" AS src ORDER BY src.\"district\", src.\"id\" LIMIT 1 OFFSET 9", d.KeyAt(q, 9));
            Assert.Equal("\"a\"\"b\"", d.Quote("a\"b"));
        }
        Assert.Equal("CAST(x AS BLOB)", SqliteDialect.Instance.StoredBytes("x"));
        Assert.Equal("x", PostgresDialect.Instance.StoredBytes("x"));
        Assert.Equal(
            "SELECT src.\"id\", src.\"name\", src.\"notes\" FROM \"pupils\" AS src WHERE src.\"id\" > @p0 ORDER BY src.\"id\" LIMIT 5",
            PostgresDialect.Instance.Page(Query(PostgresDialect.Instance, "pupils", null, ["id"]), afterCursor: true, 5));
    }

    [Fact]
    public void MySql_spells_out_composite_keys_and_reads_stored_bytes()
    {
        var d = MySqlDialect.Instance;
        var q = Query(d, "pupils", null, ["district", "id"], "notes");
        Assert.Equal(
            "SELECT src.`district`, src.`id`, src.`name`, CAST(src.`notes` AS BINARY) AS `notes` FROM `pupils` AS src " +
            "WHERE src.`district` >= @p0 AND (src.`district` > @p0 OR (src.`district` = @p0 AND src.`id` > @p1)) ORDER BY src.`district`, src.`id` LIMIT 3",
            d.Page(q, afterCursor: true, 3));
        Assert.Equal("`a``b`", d.Quote("a`b"));
    }

    [Fact]
    public void Each_database_kind_has_its_dialect()
    {
        Assert.Equal(["sqlite", "postgres", "mysql", "sqlserver"],
            new[] { SourceKind.Sqlite, SourceKind.Postgres, SourceKind.MySql, SourceKind.SqlServer }.Select(k => SqlDialects.For(k).Name));
        Assert.Throws<ArgumentOutOfRangeException>(() => SqlDialects.For(SourceKind.Csv));
    }

    [Fact]
    public void A_sql_server_connection_string_is_accepted_without_a_server()
    {
        using var connection = SqlServerDialect.Instance.CreateConnection("Server=legacy.example;Database=district;User ID=ro;Password=x;Encrypt=true", "/m");
        Assert.Equal("Microsoft.Data.SqlClient.SqlConnection", connection.GetType().FullName);
        Assert.Equal("district", connection.Database);
    }
}
