using Ferry.Pipeline;

namespace Ferry.Tests.Pipeline;

public class SqlStatementsTests
{
    [Fact]
    public void Semicolons_in_quotes_dollar_quotes_and_comments_do_not_end_a_statement()
    {
        var sql = "INSERT INTO t VALUES ('a;b', \"c;d\"); -- one; two\n" +
                  "DO $body$ BEGIN PERFORM 1; END $body$;\n/* x; y */ SELECT $$;$$, $1;\n-- trailing; comment\n";

        var statements = SqlStatements.Split(sql).ToList();

        Assert.Equal(3, statements.Count);
        Assert.Equal("INSERT INTO t VALUES ('a;b', \"c;d\")", statements[0].Text);
        Assert.Equal(" -- one; two\nDO $body$ BEGIN PERFORM 1; END $body$", statements[1].Text);
        Assert.Equal(3, SqlStatements.LineAt(sql, statements[2].Start + statements[2].Text.IndexOf("SELECT", StringComparison.Ordinal)));
    }
}
