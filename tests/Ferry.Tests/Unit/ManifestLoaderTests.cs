using Ferry.Diagnostics;
using Ferry.Manifest;
using Ferry.Tests.Support;
using ValueType = Ferry.Manifest.ValueType;

namespace Ferry.Tests.Unit;

public class ManifestLoaderTests
{
    private const string Path = UnitPlans.ManifestPath;

    // A valid manifest; each error case below changes one line of it in place, so line numbers hold.
    private const string Template = """
        name: t
        source:
          type: csv
          path: a.csv
          header: true
        target:
          type: sqlite
          connection: "Data Source=t.db"
        entities:
          - name: e
            key: [a]
            mode: upsert
            batch_size: 10
            rules:
              - { column: a, required: true }
              - { column: b, type: int, severity: warning }
            columns:
              a: { from: a }
              b: { from: b, type: int }
        """;

    private static string Edit(string find, string replace)
    {
        Assert.Contains(find, Template, StringComparison.Ordinal);
        return Template.Replace(find, replace, StringComparison.Ordinal);
    }

    [Fact]
    public void Template_is_valid()
    {
        var manifest = ManifestLoader.Parse(Template, Path);
        Assert.Equal("e", Assert.Single(manifest.Entities).Name);
    }

    [Fact]
    public void Valid_manifest_parses_into_the_expected_model()
    {
        const string yaml = """
            name: foi-import
            source:
              type: csv
              path: data/foi.csv
              delimiter: ";"
              header: true
              encoding: iso-8859-1
            target:
              type: sqlite
              connection: "Data Source=foi.db"
            entities:
              - name: foi_request
                table: foi_tbl
                key: [reference, year]
                mode: upsert
                batch_size: 250
                staging: false
                rules:
                  - { column: reference, required: true }
                  - { column: pages, type: int, range: { min: 0, max: 100 }, severity: warning, message: too many }
                  - { column: status, allowed: [open, closed] }
                  - check: "a != b"
                columns:
                  reference: { from: reference, trim: true }
                  year: { from: yr, type: int, default: 2020 }
                  requester: requester_name
                  id: { uuid: key }
                  origin: { const: legacy }
                  title: { expr: "x.Trim()" }
                  received: { from: rec, type: date, format: dd/MM/yyyy }
              - name: second
                mode: insert
                key: code
                columns: { code: code }
            """;

        var m = ManifestLoader.Parse(yaml, Path);

        Assert.Equal(Path, m.FilePath);
        Assert.Equal("foi-import", m.Name);
        Assert.Equal(SourceKind.Csv, m.Source.Kind);
        Assert.Equal("data/foi.csv", m.Source.Path);
        Assert.Equal(';', m.Source.Delimiter);
        Assert.Equal('"', m.Source.Quote);
        Assert.True(m.Source.Header);
        Assert.Null(m.Source.Columns);
        Assert.Equal("iso-8859-1", m.Source.Encoding);
        Assert.Null(m.Source.Sheet);
        Assert.Equal(TargetKind.Sqlite, m.Target.Kind);
        Assert.Equal("Data Source=foi.db", m.Target.Connection.Reveal());
        Assert.Empty(m.Target.Connection.Secrets);
        Assert.Equal(2, m.Entities.Count);

        var e = m.Entities[0];
        Assert.Equal("foi_request", e.Name);
        Assert.Equal("foi_tbl", e.Table);
        Assert.Equal(["reference", "year"], e.Key);
        Assert.Equal(LoadMode.Upsert, e.Mode);
        Assert.Equal(250, e.BatchSize);
        Assert.False(e.Staging);
        Assert.Equal(12, e.Line);

        Assert.Equal(4, e.Rules.Count);
        Assert.Equal(new RuleSpec(RuleKind.Required, "reference", Severity.Error, null, null, null, null, null, null, null, null, null, 19), e.Rules[0]);
        var range = e.Rules[1];
        Assert.Equal((RuleKind.Range, "pages", Severity.Warning, "too many", (ValueType?)ValueType.Int, "0", "100", 20),
            (range.Kind, range.Column, range.Severity, range.Message, range.Type, range.Min, range.Max, range.Line));
        Assert.Equal("range", range.Name);
        Assert.Equal(RuleKind.Allowed, e.Rules[2].Kind);
        Assert.Equal(["open", "closed"], e.Rules[2].Allowed!);
        Assert.Equal(21, e.Rules[2].Line);
        Assert.Equal(RuleKind.Check, e.Rules[3].Kind);
        Assert.Null(e.Rules[3].Column);
        // The expression starts after the opening quote: column 17 of line 22.
        Assert.Equal(new SourceText("a != b", 22, 17), e.Rules[3].Expression);

        Assert.Equal(
            [
                new ColumnSpec("reference", "reference", true, ValueType.Text, null, null, null, false, null, 24),
                new ColumnSpec("year", "yr", false, ValueType.Int, null, "2020", null, false, null, 25),
                new ColumnSpec("requester", "requester_name", false, ValueType.Text, null, null, null, false, null, 26),
                new ColumnSpec("id", null, false, ValueType.Uuid, null, null, null, true, null, 27),
                new ColumnSpec("origin", null, false, ValueType.Text, null, null, "legacy", false, null, 28),
                new ColumnSpec("title", null, false, ValueType.Text, null, null, null, false, new SourceText("x.Trim()", 29, 23), 29),
                new ColumnSpec("received", "rec", false, ValueType.Date, "dd/MM/yyyy", null, null, false, null, 30),
            ],
            e.Columns);

        var second = m.Entities[1];
        Assert.Equal(("second", "second", LoadMode.Insert, 1000, true, 31), (second.Name, second.Table, second.Mode, second.BatchSize, second.Staging, second.Line));
        Assert.Equal(["code"], second.Key);
        Assert.Empty(second.Rules);
    }

    [Fact]
    public void Unknown_keys_at_every_level_are_all_reported_with_their_lines()
    {
        const string yaml = """
            name: x
            colour: red
            source:
              type: csv
              path: a.csv
              sep: ";"
            target:
              type: sqlite
              connection: "Data Source=t.db"
              pasword: hunter2
            entities:
              - name: e
                mode: insert
                batchsize: 10
                rules:
                  - { column: a, required: true, sevrity: warning }
                  - { column: a, range: { min: 1, maxx: 2 } }
                columns:
                  a: { from: a, trimm: true }
            """;

        var errors = UnitPlans.ParseErrors(yaml);

        Assert.All(errors, e => Assert.Equal(Path, e.File));
        Assert.Equal(
            [
                (2, "unknown key 'colour' in manifest (allowed: name, source, target, entities)"),
                (6, "unknown key 'sep' in source (allowed: type, path, delimiter, quote, header, columns, encoding, sheet)"),
                (10, "unknown key 'pasword' in target (allowed: type, connection, schema)"),
                (14, "unknown key 'batchsize' in entity (allowed: name, table, key, mode, scd2, batch_size, staging, rules, columns)"),
                (16, "unknown key 'sevrity' in rule (allowed: column, severity, message, format, required, type, regex, range, allowed, unique, max_length, check)"),
                (17, "unknown key 'maxx' in range (allowed: min, max)"),
                (19, "unknown key 'trimm' in column 'a' (allowed: from, trim, type, format, default, const, uuid, expr, references)"),
            ],
            errors.Select(e => (e.Line, e.Message)).OrderBy(x => x.Line));
        Assert.Equal(1, errors.Single(e => e.Line == 2).Column);
        Assert.Equal(3, errors.Single(e => e.Line == 6).Column);
    }

    [Theory]
    [InlineData("header: true", "header: maybe", 5, "'header' must be true or false, not 'maybe'")]
    [InlineData("batch_size: 10", "batch_size: abc", 13, "'batch_size' must be a whole number, not 'abc'")]
    [InlineData("batch_size: 10", "batch_size: 0", 13, "batch_size must be between 1 and 1000000")]
    [InlineData("batch_size: 10", "batch_size: 1048576", 13, "batch_size must be between 1 and 1000000")] // a stage id holds a row's place in its batch in 20 bits
    [InlineData("batch_size: 10", "batch_size: [10]", 13, "'batch_size' must be a single value")]
    [InlineData("mode: upsert", "mode: merge", 12, "unknown mode 'merge' (expected insert, upsert, replace or scd2)")]
    [InlineData("type: csv", "type: json", 3, "unknown source type 'json' (expected csv, xlsx, sqlite, postgres, mysql or sqlserver)")]
    [InlineData("type: sqlite", "type: oracle", 7, "unknown target type 'oracle' (expected sqlite or postgres)")]
    [InlineData("b, type: int, severity", "b, type: money, severity", 16, "unknown type 'money' (expected text, int, decimal, real, bool, date, datetime or uuid)")]
    [InlineData("b: { from: b, type: int }", "b: { from: b, type: float }", 19, "unknown type 'float' (expected text, int, decimal, real, bool, date, datetime or uuid)")]
    [InlineData("severity: warning", "severity: critical", 16, "unknown severity 'critical' (expected fatal, error, warning or information)")]
    [InlineData("{ column: a, required: true }", "{ column: a, required: true, unique: true }", 15, "a rule has exactly one kind, found: required, unique")]
    [InlineData("{ column: a, required: true }", "{ column: a, regex: x, allowed: [y] }", 15, "a rule has exactly one kind, found: regex, allowed")]
    [InlineData("{ column: a, required: true }", "{ column: a, message: hm }", 15, "a rule needs one of: required, type, regex, range, allowed, unique, max_length, check")]
    [InlineData("{ column: a, required: true }", "{ required: true }", 15, "a 'required' rule needs 'column'")]
    [InlineData("{ column: a, required: true }", "{ column: a, unique: false }", 15, "'unique: false' is not a rule; remove it")]
    [InlineData("{ column: a, required: true }", "{ column: a, range: { } }", 15, "'range' needs min, max or both")]
    [InlineData("a: { from: a }", "a: { from: a, const: x }", 18, "column 'a' needs exactly one of: from, const, uuid, expr")]
    [InlineData("a: { from: a }", "a: { trim: true }", 18, "column 'a' needs exactly one of: from, const, uuid, expr")]
    [InlineData("b: { from: b, type: int }", "b: { uuid: other }", 19, "'uuid' takes the value 'key' (a deterministic UUID from the business key)")]
    [InlineData("key: [a]", "key: [a, c]", 11, "entity 'e': key column 'c' is not one of its columns")]
    [InlineData("key: [a]", "key: c", 11, "entity 'e': key column 'c' is not one of its columns")]
    [InlineData("key: [a]", "key: []", 10, "entity 'e': mode upsert needs a business 'key'")]
    [InlineData("key: [a]", "table: tbl", 10, "entity 'e': mode upsert needs a business 'key'")]
    [InlineData("- name: e", "- name: 9e", 10, "entity name '9e' must be letters, digits and underscores")]
    [InlineData("b: { from: b, type: int }", "b-x: { from: b, type: int }", 19, "column name 'b-x' must be letters, digits and underscores")]
    [InlineData("header: true", "delimiter: ab", 5, "'delimiter' must be one character, not 'ab'")]
    [InlineData("header: true", "header: false", 3, "a CSV source with 'header: false' needs 'columns'")]
    [InlineData("header: true", "encoding: klingon", 5, "unknown encoding 'klingon'")]
    public void A_wrong_value_is_an_error_on_its_line(string find, string replace, int line, string message)
    {
        var error = Assert.Single(UnitPlans.ParseErrors(Edit(find, replace)));
        Assert.Equal((Path, line, message), (error.File, error.Line, error.Message));
    }

    [Fact]
    public void Uuid_from_key_needs_a_business_key()
    {
        // Without a key every row would get the same UUID.
        const string yaml = """
            source: { type: csv, path: a.csv }
            target: { type: sqlite, connection: x }
            entities:
              - name: e
                mode: insert
                columns:
                  a: a
                  id: { uuid: key }
            """;
        var error = Assert.Single(UnitPlans.ParseErrors(yaml));
        Assert.Equal((Path, 8, "column 'id': 'uuid: key' needs the entity's business 'key'"), (error.File, error.Line, error.Message));
    }

    [Fact]
    public void A_key_column_cannot_be_the_uuid_made_from_the_key()
    {
        var error = Assert.Single(UnitPlans.ParseErrors(Edit("b: { from: b, type: int }", "b: { uuid: key }").Replace("key: [a]", "key: [a, b]", StringComparison.Ordinal)));
        Assert.Equal((Path, 19, "entity 'e': key column 'b' cannot be 'uuid: key', which is made from the key"), (error.File, error.Line, error.Message));
    }

    [Fact]
    public void Missing_source_target_and_entities_are_each_reported()
    {
        var errors = UnitPlans.ParseErrors("name: only\n");
        Assert.Equal(
            [
                (Path, 1, "missing required key 'source'"),
                (Path, 1, "missing required key 'target'"),
                (Path, 1, "missing required key 'entities'"),
            ],
            errors.Select(e => (e.File, e.Line, e.Message)));
    }

    [Fact]
    public void Missing_keys_inside_a_section_name_the_section_line()
    {
        var yaml = Edit("  path: a.csv\n", "").Replace("  connection: \"Data Source=t.db\"\n", "", StringComparison.Ordinal)
            .Replace("    columns:\n      a: { from: a }\n      b: { from: b, type: int }", "    staging: true", StringComparison.Ordinal);
        var errors = UnitPlans.ParseErrors(yaml);
        Assert.Equal(
            [
                (3, "missing required key 'path'"),
                (6, "missing required key 'connection'"),
                (8, "missing required key 'columns'"),
            ],
            errors.Select(e => (e.Line, e.Message)).OrderBy(x => x.Line));
    }

    [Fact]
    public void Empty_entities_list_is_an_error()
    {
        const string yaml = """
            source: { type: csv, path: a.csv }
            target: { type: sqlite, connection: x }
            entities: []
            """;
        var error = Assert.Single(UnitPlans.ParseErrors(yaml));
        Assert.Equal((3, "'entities' must be a non-empty list"), (error.Line, error.Message));
    }

    [Fact]
    public void An_entity_defined_twice_is_reported_on_the_second_definition()
    {
        const string yaml = """
            source: { type: csv, path: a.csv }
            target: { type: sqlite, connection: x }
            entities:
              - { name: e, mode: insert, columns: { a: a } }
              - { name: E, mode: insert, columns: { a: a } }
            """;
        var error = Assert.Single(UnitPlans.ParseErrors(yaml));
        Assert.Equal((5, "entity 'e' is defined more than once"), (error.Line, error.Message));
    }

    [Fact]
    public void Invalid_yaml_is_reported_with_its_line()
    {
        var error = Assert.Single(UnitPlans.ParseErrors("source:\n  type: csv\ntarget: a: b\nentities: []\n"));
        Assert.StartsWith("invalid YAML: ", error.Message, StringComparison.Ordinal);
        Assert.Equal(Path, error.File);
        Assert.Equal(3, error.Line);
    }

    [Fact]
    public void A_document_that_is_not_a_mapping_is_an_error()
    {
        var error = Assert.Single(UnitPlans.ParseErrors("- just\n- a list\n"));
        Assert.Equal((1, "the manifest must be a YAML mapping with source, target and entities"), (error.Line, error.Message));
    }

    [Fact]
    public void Several_different_errors_in_one_manifest_are_all_reported()
    {
        var yaml = Template
            .Replace("header: true", "header: maybe", StringComparison.Ordinal)
            .Replace("key: [a]", "key: [a, zz]", StringComparison.Ordinal)
            .Replace("batch_size: 10", "batch_size: abc", StringComparison.Ordinal)
            .Replace("severity: warning", "severity: critical", StringComparison.Ordinal)
            .Replace("a: { from: a }", "a: { from: a, const: k }", StringComparison.Ordinal);

        var ex = Assert.Throws<ManifestException>(() => ManifestLoader.Parse(yaml, Path));

        Assert.Equal(
            [
                (5, "'header' must be true or false, not 'maybe'"),
                (11, "entity 'e': key column 'zz' is not one of its columns"),
                (13, "'batch_size' must be a whole number, not 'abc'"),
                (16, "unknown severity 'critical' (expected fatal, error, warning or information)"),
                (18, "column 'a' needs exactly one of: from, const, uuid, expr"),
            ],
            ex.Errors.Select(e => (e.Line, e.Message)).OrderBy(x => x.Line));
        // The exception's own message lists every error as file:line:column.
        Assert.Contains($"{Path}:5:11: 'header' must be true or false, not 'maybe'", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"{Path}:13:", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_of_a_missing_file_is_an_error()
    {
        var missing = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "ferry-no-such-" + Guid.NewGuid().ToString("N"), "ferry.yaml");
        var error = Assert.Single(Assert.Throws<ManifestException>(() => ManifestLoader.Load(missing)).Errors);
        Assert.Equal((missing, 0, "manifest file not found"), (error.File, error.Line, error.Message));
    }

    // ---- ${ENV} and ${file:…} ----------------------------------------------------------------

    private static string UniqueVariable(string? value)
    {
        var name = "FERRY_UNIT_" + Guid.NewGuid().ToString("N").ToUpperInvariant();
        Environment.SetEnvironmentVariable(name, value);
        return name;
    }

    [Fact]
    public void Environment_variables_are_substituted_and_masked()
    {
        var password = "pw-" + Guid.NewGuid().ToString("N");
        var folder = "dir" + Guid.NewGuid().ToString("N")[..10];
        var passwordVar = UniqueVariable(password);
        var folderVar = UniqueVariable(folder);
        try
        {
            var yaml = Template
                .Replace("path: a.csv", $"path: \"${{{folderVar}}}/a.csv\"", StringComparison.Ordinal)
                .Replace("\"Data Source=t.db\"", $"\"Data Source=t.db;Key=${{{passwordVar}}}\"", StringComparison.Ordinal);

            var manifest = ManifestLoader.Parse(yaml, Path);

            Assert.Equal($"{folder}/a.csv", manifest.Source.Path);
            Assert.Equal($"Data Source=t.db;Key={password}", manifest.Target.Connection.Reveal());
            Assert.Equal([password], manifest.Target.Connection.Secrets);
            Assert.Equal("Data Source=t.db;Key=***", manifest.Target.Connection.ToString());
            // Registered on load: every later message is scrubbed, wherever the value turns up.
            Assert.Equal("cannot open *** in ***/a.csv", SecretMasker.Scrub($"cannot open {password} in {folder}/a.csv"));
        }
        finally
        {
            Environment.SetEnvironmentVariable(passwordVar, null);
            Environment.SetEnvironmentVariable(folderVar, null);
        }
    }

    [Fact]
    public void A_missing_environment_variable_is_an_error_on_its_line()
    {
        var name = "FERRY_UNIT_MISSING_" + Guid.NewGuid().ToString("N").ToUpperInvariant();
        var yaml = Template.Replace("\"Data Source=t.db\"", $"\"Data Source=${{{name}}}\"", StringComparison.Ordinal);

        var error = Assert.Single(UnitPlans.ParseErrors(yaml));

        Assert.Equal((Path, 8, $"environment variable '{name}' is not set"), (error.File, error.Line, error.Message));
    }

    [Fact]
    public void A_substituted_value_is_masked_in_errors_even_when_the_manifest_fails()
    {
        var value = "bs" + Guid.NewGuid().ToString("N");
        var name = UniqueVariable(value);
        try
        {
            var yaml = Template.Replace("batch_size: 10", $"batch_size: ${{{name}}}", StringComparison.Ordinal);

            var ex = Assert.Throws<ManifestException>(() => ManifestLoader.Parse(yaml, Path));

            var error = Assert.Single(ex.Errors);
            Assert.Equal(13, error.Line);
            Assert.Equal($"{Path}:13:17: 'batch_size' must be a whole number, not '***'", error.ToString());
            Assert.DoesNotContain(value, ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Fact]
    public void File_references_are_read_relative_to_the_manifest_trimmed_and_masked()
    {
        using var ws = new Workspace();
        var secret = "fs-" + Guid.NewGuid().ToString("N");
        ws.Write("secrets/db.txt", $"  {secret}\n");
        var manifestPath = ws.PathOf("ferry.yaml");
        var yaml = Template.Replace("\"Data Source=t.db\"", "\"Data Source=t.db;Password=${file:secrets/db.txt}\"", StringComparison.Ordinal);

        var manifest = ManifestLoader.Parse(yaml, manifestPath);

        Assert.Equal($"Data Source=t.db;Password={secret}", manifest.Target.Connection.Reveal());
        Assert.Equal("Data Source=t.db;Password=***", manifest.Target.Connection.ToString());
        Assert.Equal("x *** y", SecretMasker.Scrub($"x {secret} y"));

        var missing = yaml.Replace("secrets/db.txt", "secrets/none.txt", StringComparison.Ordinal);
        var error = Assert.Single(Assert.Throws<ManifestException>(() => ManifestLoader.Parse(missing, manifestPath)).Errors);
        Assert.Equal((manifestPath, 8, "secret file 'secrets/none.txt' not found"), (error.File, error.Line, error.Message));
    }
}
