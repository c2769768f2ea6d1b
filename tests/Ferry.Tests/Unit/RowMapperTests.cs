using Ferry.Contracts;
using Ferry.Engine;
using Ferry.Manifest;
using Ferry.Mapping;

namespace Ferry.Tests.Unit;

public class RowMapperTests
{
    private static EntityPlan Columns(string columns, string? key = null, params string[] sources) =>
        UnitPlans.Plan((key is null ? "" : $"key: [{key}]\n") + "columns:\n" + string.Join("\n", columns.Split('\n').Select(c => "  " + c.TrimEnd('\r'))), sources);

    [Fact]
    public void From_copies_and_trim_trims()
    {
        var plan = Columns("""
            raw: { from: n }
            trimmed: { from: n, trim: true }
            short: n
            """, null, "n");

        var (key, values, issues) = plan.Map("  Ann Lee \t");

        Assert.Empty(issues);
        Assert.Equal("", key);
        Assert.Equal(["  Ann Lee \t", "Ann Lee", "  Ann Lee \t"], values);
    }

    [Fact]
    public void Types_are_parsed_with_their_format()
    {
        var plan = Columns("""
            i: { from: a, type: int }
            m: { from: b, type: decimal }
            r: { from: c, type: real }
            t: { from: d, type: bool }
            d: { from: e, type: date, format: dd/MM/yyyy }
            iso: { from: f, type: date }
            dt: { from: g, type: datetime }
            u: { from: h, type: uuid }
            """, null, "a", "b", "c", "d", "e", "f", "g", "h");

        var (_, values, issues) = plan.Map(" 42 ", "1234.50", "2.5e3", "Y", "31/01/2024", "20240229", "2024-03-01T10:20:30", "2ED6657D-E927-568B-95E1-2665A8AEA6A2");

        Assert.Empty(issues);
        Assert.Equal(42L, values[0]);
        Assert.Equal(1234.50m, values[1]);
        Assert.Equal(2500d, values[2]);
        Assert.Equal(true, values[3]);
        Assert.Equal(new DateOnly(2024, 1, 31), values[4]);
        Assert.Equal(new DateOnly(2024, 2, 29), values[5]);
        Assert.Equal(new DateTime(2024, 3, 1, 10, 20, 30, DateTimeKind.Utc), values[6]);
        Assert.Equal(DateTimeKind.Utc, ((DateTime)values[6]!).Kind);
        Assert.Equal(new Guid("2ed6657d-e927-568b-95e1-2665a8aea6a2"), values[7]);
    }

    [Fact]
    public void Default_fills_a_blank_value()
    {
        var plan = Columns("""
            pages: { from: p, type: int, default: 0 }
            status: { from: s, default: open }
            kept: { from: s }
            """, null, "p", "s");

        Assert.Equal([0L, "open", null], plan.Map("", null).Values);
        Assert.Equal(0L, plan.Map("   ", "x").Values[0]);
        Assert.Equal([7L, "closed", "closed"], plan.Map("7", "closed").Values);
    }

    [Fact]
    public void Const_is_converted_to_the_column_type()
    {
        var plan = Columns("""
            origin: { const: legacy-foi }
            version: { const: "7", type: int }
            on: { const: 2024-05-01, type: date }
            """, null, "a");

        Assert.Equal(["legacy-foi", 7L, new DateOnly(2024, 5, 1)], plan.Map("ignored").Values);
    }

    [Fact]
    public void Uuid_key_is_the_deterministic_uuid_of_entity_and_business_key()
    {
        var plan = Columns("""
            id: { uuid: key }
            code: { from: c, trim: true }
            """, "code", "c");

        var (key, values, issues) = plan.Map(" K1 ");

        Assert.Empty(issues);
        Assert.Equal("K1", key);
        // Independently computed (Python uuid5): uuid5(uuid5(NAMESPACE_URL, "ferry"), "e\x1fK1").
        Assert.Equal(new Guid("c9c15d83-8eab-5d13-9ed0-252c01826baa"), values[0]);
        Assert.Equal(values[0], plan.Map("K1").Values[0]);
        Assert.NotEqual(values[0], plan.Map("K2").Values[0]);
    }

    [Fact]
    public void Composite_key_is_formatted_invariantly_and_joined_with_unit_separator()
    {
        var plan = Columns("""
            code: { from: a }
            n: { from: b, type: int }
            on: { from: c, type: date, format: dd/MM/yyyy }
            amount: { from: d, type: decimal }
            flag: { from: e, type: bool }
            id: { uuid: key }
            """, "code, n, on, amount, flag", "a", "b", "c", "d", "e");

        var (key, values, issues) = plan.Map("A7", "042", "01/03/2024", "12.50", "yes");

        Assert.Empty(issues);
        Assert.Equal("A7\u001F42\u001F2024-03-01\u001F12.50\u001Ftrue", key);
        Assert.Equal([0, 1, 2, 3, 4], plan.Mapper.KeyColumns);
        Assert.Equal(DeterministicUuid.ForKey("e", "A7\u001F42\u001F2024-03-01\u001F12.50\u001Ftrue"), values[5]);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void A_blank_key_value_is_rejected(string? value)
    {
        var plan = Columns("""
            code: { from: c }
            other: { from: d }
            id: { uuid: key }
            """, "other, code", "c", "d");

        var (key, values, issues) = plan.Map(value, "x");

        Assert.Null(key);
        Assert.Equal([new ValidationIssue(Severity.Error, "key", "code", "business key value is empty")], issues);
        Assert.Null(values[2]);
    }

    [Fact]
    public void Values_alone_map_as_Map_does_and_a_blank_key_still_rejects_the_row()
    {
        // Without a uuid: key column the key's text is not needed; the values and the key check are the same.
        var plain = Columns("""
            code: { from: a, trim: true }
            n: { from: b, type: int }
            """, "code", "a", "b");
        var values = new object?[2];
        var issues = new List<ValidationIssue>();
        Assert.True(plain.Mapper.TryMapValues([" K1 ", "7"], values, issues, null));
        Assert.Empty(issues);
        Assert.Equal(plain.Map(" K1 ", "7").Values, values);
        Assert.False(plain.Mapper.TryMapValues(["  ", "7"], values, issues, null));
        Assert.Equal([new ValidationIssue(Severity.Error, "key", "code", "business key value is empty")], issues);

        // With one, the UUID still comes from the key's text.
        var keyed = Columns("""
            id: { uuid: key }
            code: { from: c, trim: true }
            """, "code", "c");
        values = new object?[2];
        Assert.True(keyed.Mapper.TryMapValues([" K1 "], values, [], null));
        Assert.Equal(new Guid("c9c15d83-8eab-5d13-9ed0-252c01826baa"), values[0]);
    }

    [Fact]
    public void A_key_value_blank_after_trim_is_rejected()
    {
        var plan = Columns("code: { from: c, trim: true }", "code", "c");
        var (key, _, issues) = plan.Map(" \t ");
        Assert.Null(key);
        Assert.Equal([new ValidationIssue(Severity.Error, "key", "code", "business key value is empty")], issues);
    }

    [Fact]
    public void A_type_failure_is_an_issue_on_the_target_column()
    {
        var plan = Columns("""
            quantity: { from: qty, type: int }
            received_on: { from: rec, type: date, format: yyyy-MM-dd }
            ok: { from: qty }
            """, null, "qty", "rec");

        var (key, values, issues) = plan.Map("12a", "2024/01/02");

        Assert.Null(key);
        Assert.Equal(
            [
                new ValidationIssue(Severity.Error, "type", "quantity", "'12a' is not a valid int"),
                new ValidationIssue(Severity.Error, "type", "received_on", "'2024/01/02' is not a valid date (yyyy-MM-dd)"),
            ],
            issues);
        Assert.True(issues.TrueForAll(i => i.RejectsRow));
        Assert.Equal("12a", values[2]);
    }

    [Fact]
    public void A_default_that_does_not_parse_is_a_type_issue()
    {
        var plan = Columns("n: { from: a, type: int, default: none }", null, "a");
        var (key, _, issues) = plan.Map("");
        Assert.Null(key);
        Assert.Equal([new ValidationIssue(Severity.Error, "type", "n", "'none' is not a valid int")], issues);
    }

    [Fact]
    public void Expression_results_are_converted_to_the_column_type()
    {
        var plan = Columns("""
            title: { expr: "(a ?? \"\").Trim().ToUpperInvariant()" }
            doubled: { expr: "Int(b) * 2", type: int }
            quarter: { expr: "Dec(b) / 8", type: decimal }
            on: { expr: "Date(c, \"dd.MM.yyyy\")", type: date }
            at: { expr: "new DateTime(2024, 1, 2, 3, 4, 5)", type: date }
            parsed: { expr: "b + \"0\"", type: int }
            text: { expr: "Dec(b) / 8" }
            nothing: { expr: "Int(a)", type: int, default: 5 }
            """, null, "a", "b", "c");

        var (_, values, issues) = plan.Map(" mixed Case ", "21", "05.03.2024");

        Assert.Empty(issues);
        Assert.Equal(
            ["MIXED CASE", 42L, 2.625m, new DateOnly(2024, 3, 5), new DateOnly(2024, 1, 2), 210L, "2.625", 5L],
            values);
    }

    [Fact]
    public void A_null_expression_result_gets_the_default_like_a_blank_one()
    {
        var plan = Columns("""
            name: { expr: "Coalesce(a, b)", default: unknown }
            n: { expr: "Int(a)", type: int, default: -1 }
            """, null, "a", "b");
        Assert.Equal(["unknown", -1L], plan.Map(" ", null).Values);
        Assert.Equal(["7", 7L], plan.Map("7", null).Values);
    }

    [Fact]
    public void An_expression_string_result_gets_trim_and_default()
    {
        var plan = Columns("""
            t: { expr: "a + \"  \"", trim: true }
            d: { expr: "Blank(a) ? \"\" : a", default: none }
            """, null, "a");
        Assert.Equal(["x", "x"], plan.Map("x").Values);
        Assert.Equal([null, "none"], plan.Map("").Values);
    }

    [Fact]
    public void An_expression_result_of_the_wrong_type_is_a_type_issue()
    {
        var plan = Columns("""
            on: { expr: "Int(a)", type: date }
            n: { expr: "a", type: int }
            """, null, "a");

        var (key, _, issues) = plan.Map("5");
        Assert.Null(key);
        Assert.Equal([new ValidationIssue(Severity.Error, "type", "on", "expression gave 5, not a date")], issues);

        (key, _, issues) = plan.Map("five");
        Assert.Null(key);
        // Int("five") is null, which any column accepts; "five" is text that must parse as an int.
        Assert.Equal([new ValidationIssue(Severity.Error, "type", "n", "'five' is not a valid int")], issues);
    }

    [Fact]
    public void An_expression_that_throws_is_an_issue()
    {
        var plan = Columns("n: { expr: \"int.Parse(a)\", type: int }", null, "a");
        var (key, values, issues) = plan.Map("x");
        Assert.Null(key);
        var issue = Assert.Single(issues);
        Assert.Equal((Severity.Error, "expr", "n"), (issue.Severity, issue.Rule, issue.Column));
        Assert.StartsWith("expression threw FormatException: ", issue.Message, StringComparison.Ordinal);
        Assert.Equal(7L, plan.Map("7").Values[0]);
        Assert.Null(values[0]);
    }

    [Fact]
    public void Format_is_invariant()
    {
        Assert.Equal("2024-03-01", RowMapper.Format(new DateOnly(2024, 3, 1)));
        Assert.Equal("2024-03-01 10:20:30", RowMapper.Format(new DateTime(2024, 3, 1, 10, 20, 30)));
        Assert.Equal("2024-03-01 10:20:30.5", RowMapper.Format(new DateTime(2024, 3, 1, 10, 20, 30, 500)));
        Assert.Equal("1234.5", RowMapper.Format(1234.5m));
        Assert.Equal("0.1", RowMapper.Format(0.1d));
        Assert.Equal("-3", RowMapper.Format(-3L));
        Assert.Equal("false", RowMapper.Format(false));
        Assert.Equal("2ed6657d-e927-568b-95e1-2665a8aea6a2", RowMapper.Format(new Guid("2ED6657D-E927-568B-95E1-2665A8AEA6A2")));
    }
}
