using Ferry.Contracts;
using Ferry.Engine;
using Ferry.Manifest;

namespace Ferry.Tests.Unit;

public class ContractValidatorTests
{
    /// <summary>A plan over source column <c>a</c> (plus <c>b</c>) with these rules (YAML list items).</summary>
    private static EntityPlan Rules(params string[] rules) =>
        UnitPlans.Plan("rules:\n" + string.Join("\n", rules.Select(r => "  - " + r)) + "\ncolumns: { a: a }", "a", "b");

    private static ValidationIssue Error(string rule, string? column, string message) => new(Severity.Error, rule, column, message);

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void Required_rejects_a_missing_or_blank_value(string? value)
    {
        var plan = Rules("{ column: a, required: true }");
        Assert.Equal([Error("required", "a", "value is missing")], plan.Validate(2, value, "x"));
        Assert.True(plan.Validate(3, value, "x")[0].RejectsRow);
    }

    [Fact]
    public void Required_accepts_a_present_value()
    {
        Assert.Empty(Rules("{ column: a, required: true }").Validate(2, "x", null));
    }

    [Theory]
    [InlineData("int", null, "42", null)]
    [InlineData("int", null, "-7", null)]
    [InlineData("int", null, "1.5", "'1.5' is not a valid int")]
    [InlineData("int", null, "12abc", "'12abc' is not a valid int")]
    [InlineData("decimal", null, "1234.50", null)]
    [InlineData("decimal", null, "1,234.50", "'1,234.50' is not a valid decimal")] // a comma may be a thousands or a decimal separator: refuse to guess
    [InlineData("decimal", null, "-0.25", null)]
    [InlineData("decimal", null, "1.2.3", "'1.2.3' is not a valid decimal")]
    [InlineData("date", null, "2024-02-29", null)]
    [InlineData("date", null, "2023-02-29", "'2023-02-29' is not a valid date")]
    [InlineData("date", "dd/MM/yyyy", "31/01/2024", null)]
    [InlineData("date", "dd/MM/yyyy", "2024-01-31", "'2024-01-31' is not a valid date (dd/MM/yyyy)")]
    [InlineData("date", "dd/MM/yyyy", "31/13/2024", "'31/13/2024' is not a valid date (dd/MM/yyyy)")]
    [InlineData("bool", null, "yes", null)]
    [InlineData("bool", null, "FALSE", null)]
    [InlineData("bool", null, "maybe", "'maybe' is not a valid bool")]
    [InlineData("uuid", null, "2ed6657d-e927-568b-95e1-2665a8aea6a2", null)]
    [InlineData("uuid", null, "2ed6657d-e927-568b-95e1", "'2ed6657d-e927-568b-95e1' is not a valid uuid")]
    [InlineData("int", null, "", null)]
    [InlineData("date", "dd/MM/yyyy", "  ", null)]
    public void Type_rule_checks_non_blank_values(string type, string? format, string value, string? failure)
    {
        var plan = Rules(format is null ? $"{{ column: a, type: {type} }}" : $"{{ column: a, type: {type}, format: \"{format}\" }}");
        var issues = plan.Validate(2, value, null);
        if (failure is null)
            Assert.Empty(issues);
        else
            Assert.Equal([Error("type", "a", failure)], issues);
    }

    [Theory]
    [InlineData("FOI-2024-00001", null)]
    [InlineData("FOI-2024-0001", "'FOI-2024-0001' does not match ^FOI-\\d{4}-\\d{5}$")]
    [InlineData("xFOI-2024-00001", "'xFOI-2024-00001' does not match ^FOI-\\d{4}-\\d{5}$")]
    [InlineData("", null)]
    public void Regex_rule(string value, string? failure)
    {
        var plan = Rules(@"{ column: a, regex: '^FOI-\d{4}-\d{5}$' }");
        var issues = plan.Validate(2, value, null);
        Assert.Equal(failure is null ? [] : [Error("regex", "a", failure)], issues);
    }

    [Theory]
    [InlineData("0", null)]
    [InlineData("10", null)]
    [InlineData("9.99", null)]
    [InlineData("10.01", "10.01 is outside [0, 10]")]
    [InlineData("-1", "-1 is outside [0, 10]")]
    [InlineData("abc", "'abc' is not a decimal")]
    [InlineData(" ", null)]
    public void Range_rule_on_numbers(string value, string? failure)
    {
        var plan = Rules("{ column: a, range: { min: 0, max: 10 } }");
        Assert.Equal(failure is null ? [] : [Error("range", "a", failure)], plan.Validate(2, value, null));
    }

    [Fact]
    public void Range_rule_compares_numbers_as_numbers_not_text()
    {
        var plan = Rules("{ column: a, range: { min: 9 } }");
        Assert.Empty(plan.Validate(2, "10", null));      // "10" < "9" as text
        Assert.Equal([Error("range", "a", "8 is outside [9, …]")], plan.Validate(3, "8", null));
    }

    [Fact]
    public void Range_rule_with_an_int_type_reports_a_non_int()
    {
        var plan = Rules("{ column: a, type: int, range: { max: 100 } }");
        Assert.Equal([Error("range", "a", "'2.5' is not a int")], plan.Validate(2, "2.5", null));
        Assert.Equal([Error("range", "a", "101 is outside […, 100]")], plan.Validate(3, "101", null));
    }

    [Theory]
    [InlineData("01/01/2024", null)]
    [InlineData("31/12/2024", null)]
    [InlineData("15/06/2024", null)]
    [InlineData("02/01/2025", "02/01/2025 is outside [01/01/2024, 31/12/2024]")]  // as text it sorts inside
    [InlineData("31/12/2023", "31/12/2023 is outside [01/01/2024, 31/12/2024]")]  // as text it sorts inside
    [InlineData("2024-06-15", "'2024-06-15' is not a date (dd/MM/yyyy)")]
    public void Range_rule_on_dates_with_a_format(string value, string? failure)
    {
        var plan = Rules("{ column: a, type: date, format: dd/MM/yyyy, range: { min: 01/01/2024, max: 31/12/2024 } }");
        Assert.Equal(failure is null ? [] : [Error("range", "a", failure)], plan.Validate(2, value, null));
    }

    [Fact]
    public void Range_rule_on_iso_dates()
    {
        var plan = Rules("{ column: a, type: date, range: { min: 2024-01-01 } }");
        Assert.Empty(plan.Validate(2, "2024-01-01", null));
        Assert.Equal([Error("range", "a", "2023-12-31 is outside [2024-01-01, …]")], plan.Validate(3, "2023-12-31", null));
    }

    [Fact]
    public void A_range_bound_that_does_not_parse_is_a_manifest_error_on_the_rule_line()
    {
        var ex = Assert.Throws<ManifestException>(() => Rules("{ column: a, required: true }", "{ column: a, type: date, range: { min: soon } }"));
        var error = Assert.Single(ex.Errors);
        Assert.Equal((UnitPlans.ManifestPath, 8, "range bound 'soon' is not a date"), (error.File, error.Line, error.Message));
    }

    [Theory]
    [InlineData("open", null)]
    [InlineData("closed", null)]
    [InlineData("Open", "'Open' is not one of: open, closed")]
    [InlineData("open ", "'open ' is not one of: open, closed")]
    [InlineData("", null)]
    public void Allowed_rule_is_case_sensitive(string value, string? failure)
    {
        var plan = Rules("{ column: a, allowed: [open, closed] }");
        Assert.Equal(failure is null ? [] : [Error("allowed", "a", failure)], plan.Validate(2, value, null));
    }

    [Fact]
    public void Unique_rejects_the_second_occurrence_naming_the_first_line()
    {
        var plan = Rules("{ column: a, unique: true }");
        Assert.Empty(plan.Validate(2, "A", null));
        Assert.Empty(plan.Validate(3, "B", null));
        Assert.Equal([Error("unique", "a", "'A' repeats the value of line 2")], plan.Validate(4, "A", null));
        Assert.Equal([Error("unique", "a", "'B' repeats the value of line 3")], plan.Validate(5, "B", null));
        Assert.Equal([Error("unique", "a", "'A' repeats the value of line 2")], plan.Validate(6, "A", null));
        // Blank values are never duplicates; values differing in case are different values.
        Assert.Empty(plan.Validate(7, "", null));
        Assert.Empty(plan.Validate(8, "", null));
        Assert.Empty(plan.Validate(9, "a", null));
    }

    [Fact]
    public void Unique_state_belongs_to_the_plan()
    {
        var first = Rules("{ column: a, unique: true }");
        Assert.Empty(first.Validate(2, "A", null));
        var second = Rules("{ column: a, unique: true }");
        Assert.Empty(second.Validate(2, "A", null));
    }

    [Fact]
    public void A_rejected_first_occurrence_does_not_block_a_later_valid_one()
    {
        var plan = Rules("{ column: a, unique: true }", "{ column: b, required: true }");
        // Line 2 is rejected (b missing): its key is not taken.
        Assert.Equal([Error("required", "b", "value is missing")], plan.Validate(2, "K", ""));
        // Line 3 is the first valid row with K: accepted, and now owns K.
        Assert.Empty(plan.Validate(3, "K", "x"));
        Assert.Equal([Error("unique", "a", "'K' repeats the value of line 3")], plan.Validate(4, "K", "y"));
    }

    [Fact]
    public void A_warning_does_not_stop_the_value_being_recorded_for_unique()
    {
        var plan = Rules("{ column: a, unique: true }", "{ column: b, max_length: 1, severity: warning }");
        Assert.Equal([new ValidationIssue(Severity.Warning, "max_length", "b", "2 characters, more than 1")], plan.Validate(2, "K", "xx"));
        Assert.Equal([Error("unique", "a", "'K' repeats the value of line 2")], plan.Validate(3, "K", "x"));
    }

    [Theory]
    [InlineData("12345", null)]
    [InlineData("", null)]
    [InlineData("123456", "6 characters, more than 5")]
    [InlineData("      ", "6 characters, more than 5")]
    public void Max_length_rule(string value, string? failure)
    {
        var plan = Rules("{ column: a, max_length: 5 }");
        Assert.Equal(failure is null ? [] : [Error("max_length", "a", failure)], plan.Validate(2, value, null));
    }

    [Fact]
    public void Check_rule_true_false_and_throwing()
    {
        var plan = Rules("check: \"int.Parse(a) < int.Parse(b)\"");
        Assert.Empty(plan.Validate(2, "1", "2"));
        Assert.Equal([Error("check", null, "check failed: int.Parse(a) < int.Parse(b)")], plan.Validate(3, "2", "1"));

        var thrown = Assert.Single(plan.Validate(4, "x", "1"));
        Assert.Equal((Severity.Error, "check", (string?)null), (thrown.Severity, thrown.Rule, thrown.Column));
        Assert.StartsWith("check threw FormatException: ", thrown.Message, StringComparison.Ordinal);
        Assert.True(thrown.RejectsRow);
    }

    [Fact]
    public void Check_rule_with_a_message_and_a_column()
    {
        var plan = Rules("{ check: \"Blank(b) || b.Length == 2\", column: b, message: b must be two letters }");
        Assert.Empty(plan.Validate(2, null, "ab"));
        Assert.Empty(plan.Validate(3, null, null));
        Assert.Equal([Error("check", "b", "b must be two letters")], plan.Validate(4, null, "abc"));
    }

    [Fact]
    public void Message_replaces_the_default_text()
    {
        var plan = Rules("{ column: a, regex: '^\\d+$', message: digits only please }");
        Assert.Equal([Error("regex", "a", "digits only please")], plan.Validate(2, "x1", null));
    }

    [Theory]
    [InlineData("information", Severity.Information, false)]
    [InlineData("info", Severity.Information, false)]
    [InlineData("warning", Severity.Warning, false)]
    [InlineData("error", Severity.Error, true)]
    [InlineData("fatal", Severity.Fatal, true)]
    public void Severity_decides_whether_the_row_is_rejected(string severity, Severity expected, bool rejects)
    {
        var plan = Rules($"{{ column: a, required: true, severity: {severity} }}");
        var issue = Assert.Single(plan.Validate(2, "", null));
        Assert.Equal(new ValidationIssue(expected, "required", "a", "value is missing"), issue);
        Assert.Equal(rejects, issue.RejectsRow);
    }

    [Fact]
    public void A_row_breaking_three_rules_gets_all_three_issues()
    {
        var plan = Rules(
            "{ column: a, regex: '^[A-Z]+$' }",
            "{ column: a, max_length: 3 }",
            "{ column: b, required: true }",
            "{ column: b, allowed: [x, y] }",
            "{ column: a, type: int, severity: warning }");
        var issues = plan.Validate(2, "abcd", "");
        Assert.Equal(
            [
                Error("regex", "a", "'abcd' does not match ^[A-Z]+$"),
                Error("max_length", "a", "4 characters, more than 3"),
                Error("required", "b", "value is missing"),
                new ValidationIssue(Severity.Warning, "type", "a", "'abcd' is not a valid int"),
            ],
            issues);
    }

    [Fact]
    public void Issues_are_appended_to_the_list_given()
    {
        var plan = Rules("{ column: a, required: true }");
        var issues = new List<ValidationIssue> { Error("x", null, "earlier") };
        plan.Validator.Validate([null, null], 2, issues);
        Assert.Equal([Error("x", null, "earlier"), Error("required", "a", "value is missing")], issues);
    }

    [Fact]
    public void Unknown_columns_in_rules_and_mapping_name_the_manifest_line()
    {
        var body = """
            rules:
              - { column: a, required: true }
              - { column: nope, regex: x }
            columns:
              a: a
              b: { from: missing }
            """;
        var ex = Assert.Throws<ManifestException>(() => UnitPlans.Plan(body, "a", "b"));
        Assert.Equal(
            [
                new ManifestError(UnitPlans.ManifestPath, 8, 1, "rule 'regex' names column 'nope', which data.csv does not have (it has: a, b)"),
                new ManifestError(UnitPlans.ManifestPath, 11, 1, "column 'b' names column 'missing', which data.csv does not have (it has: a, b)"),
            ],
            ex.Errors);
    }

    [Fact]
    public void Column_names_are_case_sensitive()
    {
        var ex = Assert.Throws<ManifestException>(() => UnitPlans.Plan("rules: [{ column: A, unique: true }]\ncolumns: { a: a }", "a"));
        var error = Assert.Single(ex.Errors);
        Assert.Equal((6, "rule 'unique' names column 'A', which data.csv does not have (it has: a)"), (error.Line, error.Message));
    }
}
