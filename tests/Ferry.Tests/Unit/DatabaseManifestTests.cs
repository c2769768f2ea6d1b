using Ferry.Manifest;

namespace Ferry.Tests.Unit;

/// <summary>The manifest of a database source: its keys, each entity's 'from', and every error with its line.</summary>
public class DatabaseManifestTests
{
    private const string Path = UnitPlans.ManifestPath;

    // Each error case changes one line in place, so line numbers hold.
    private const string Template = """
        source:
          type: mysql
          connection: "Server=legacy;User ID=ro;Password=s3cret-pw"
          encoding: windows-1252
          zero_dates: error
        target:
          type: sqlite
          connection: "Data Source=t.db"
        entities:
          - name: pupil
            from:
              table: legacy.pupils
              columns: [district, id, name, active, photo]
              key: [district, id]
              convert: { active: bool, photo: base64, name: decode }
            key: [district, id]
            columns: { district: district, id: id, name: name }
          - name: school
            from: { query: "SELECT id, name FROM schools WHERE open = 1", key: id }
            key: [id]
            columns: { id: id, name: name }
        """;

    private static string Edit(string find, string replace)
    {
        Assert.Contains(find, Template, StringComparison.Ordinal);
        return Template.Replace(find, replace, StringComparison.Ordinal);
    }

    [Fact]
    public void A_database_source_and_each_entity_from_parse_into_the_model()
    {
        var m = ManifestLoader.Parse(Template, Path);

        Assert.Equal(SourceKind.MySql, m.Source.Kind);
        Assert.True(m.Source.IsDatabase);
        Assert.Null(m.Source.Path);
        Assert.Equal("Server=legacy;User ID=ro;Password=s3cret-pw", m.Source.Connection!.Reveal());
        Assert.DoesNotContain("s3cret", m.Source.Connection.ToString(), StringComparison.Ordinal);
        Assert.Equal("windows-1252", m.Source.Encoding);
        Assert.Equal(ZeroDateRule.Error, m.Source.ZeroDates);
        Assert.Equal("mysql database", m.Source.Describe());

        var pupil = m.Entities[0].From!;
        Assert.Equal("legacy.pupils", pupil.Table);
        Assert.Null(pupil.Query);
        Assert.Equal(["district", "id", "name", "active", "photo"], pupil.Columns);
        Assert.Equal(["district", "id"], pupil.Key);
        Assert.Equal(new Dictionary<string, ValueRule> { ["active"] = ValueRule.Bool, ["photo"] = ValueRule.Base64, ["name"] = ValueRule.Decode }, pupil.Convert);
        Assert.Equal(12, pupil.Line); // where the mapping starts

        var school = m.Entities[1].From!;
        Assert.Equal("SELECT id, name FROM schools WHERE open = 1", school.Query);
        Assert.Equal(["id"], school.Key);
        Assert.Empty(school.Convert);
        Assert.Null(school.Columns);
    }

    [Theory]
    [InlineData("type: mysql", "type: mariadb", SourceKind.MySql)]
    [InlineData("type: mysql", "type: postgresql", SourceKind.Postgres)]
    [InlineData("type: mysql", "type: sqlite", SourceKind.Sqlite)]
    [InlineData("type: mysql", "type: sqlserver", SourceKind.SqlServer)]
    [InlineData("type: mysql", "type: mssql", SourceKind.SqlServer)]
    public void Source_type_names(string find, string replace, SourceKind kind) =>
        Assert.Equal(kind, ManifestLoader.Parse(Edit(find, replace), Path).Source.Kind);

    [Fact]
    public void Zero_dates_default_to_null_and_encoding_to_utf8()
    {
        var m = ManifestLoader.Parse(Edit("  encoding: windows-1252\n  zero_dates: error\n", ""), Path);
        Assert.Equal(ZeroDateRule.Null, m.Source.ZeroDates);
        Assert.Equal("utf-8", m.Source.Encoding);
    }

    [Theory]
    [InlineData("  connection: \"Server=legacy;User ID=ro;Password=s3cret-pw\"", "  path: legacy.db", 3,
        "unknown key 'path' in source (allowed: type, connection, encoding, zero_dates)")]
    [InlineData("  zero_dates: error", "  zero_dates: zero", 5, "'zero_dates' must be null or error, not 'zero'")]
    [InlineData("      table: legacy.pupils", "      table: a.b.c", 12, "table 'a.b.c' must be a name or schema.name")]
    [InlineData("      table: legacy.pupils", "      table: legacy.pupils\n      query: SELECT 1", 12, "'from' needs exactly one of: table, query")]
    [InlineData("      key: [district, id]", "      key: [district, pk]", 14, "key column 'pk' must be one of 'columns'")]
    [InlineData("      key: [district, id]", "      key: []", 14, "'key' must name at least one column")]
    [InlineData("      key: [district, id]", "      kye: [district, id]", 14, "unknown key 'kye' in from (allowed: table, columns, query, key, convert)")]
    [InlineData("photo: base64", "photo: png", 15, "unknown rule 'png' for column 'photo' (expected bool, date, datetime, hex, base64 or decode)")]
    [InlineData("photo: base64", "id: decode", 15, "key column 'id' cannot be 'decode'd")]
    [InlineData("photo: base64", "born: date", 15, "'convert' names column 'born', which is not one of 'columns'")]
    [InlineData("key: id }", "key: id, columns: [id] }", 19, "'columns' applies to a table; a query names its own columns")]
    public void A_wrong_value_is_an_error_on_its_line(string find, string replace, int line, string message)
    {
        var errors = UnitPlans.ParseErrors(Edit(find, replace));
        Assert.Contains(errors, e => e.Line == line && e.Message == message);
    }

    [Fact]
    public void A_database_source_needs_a_connection_and_every_entity_a_from()
    {
        var errors = UnitPlans.ParseErrors(Edit("  connection: \"Server=legacy;User ID=ro;Password=s3cret-pw\"\n", "")
            .Replace("    from: { query: \"SELECT id, name FROM schools WHERE open = 1\", key: id }\n", "", StringComparison.Ordinal));
        Assert.Equal(
            [(2, "missing required key 'connection'"), (17, "entity 'school' needs 'from' (the table or query it reads): the source is a database")],
            errors.Select(e => (e.Line, e.Message)));
    }

    [Fact]
    public void A_from_without_a_key_is_one_error_not_two()
    {
        var errors = UnitPlans.ParseErrors(Edit("from: { query: \"SELECT id, name FROM schools WHERE open = 1\", key: id }",
            "from: { query: \"SELECT id, name FROM schools WHERE open = 1\" }"));
        Assert.Equal([(19, "missing required key 'key'")], errors.Select(e => (e.Line, e.Message)));
    }

    [Fact]
    public void A_file_source_takes_no_from_and_no_connection()
    {
        const string yaml = """
            source:
              type: csv
              path: a.csv
              connection: "Data Source=x.db"
            target:
              type: sqlite
              connection: "Data Source=t.db"
            entities:
              - name: e
                from: { table: t, key: id }
                columns: { a: a }
                mode: insert
            """;
        var errors = UnitPlans.ParseErrors(yaml);
        Assert.Equal(
            [
                (4, "unknown key 'connection' in source (allowed: type, path, delimiter, quote, header, columns, encoding, sheet)"),
                (10, "unknown key 'from' in entity (allowed: name, table, key, mode, scd2, batch_size, staging, rules, columns)"),
            ],
            errors.Select(e => (e.Line, e.Message)));
    }
}
