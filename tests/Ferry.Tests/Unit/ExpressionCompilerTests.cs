using Ferry.Engine;
using Ferry.Manifest;
using Ferry.Mapping;

namespace Ferry.Tests.Unit;

public class ExpressionCompilerTests
{
    private const string Path = UnitPlans.ManifestPath;

    // Line 13 holds a check, line 17 a column expression; tests replace them in place.
    private const string Template = """
        name: t
        source:
          type: csv
          path: a.csv
        target:
          type: sqlite
          connection: "Data Source=t.db"
        entities:
          - name: e
            mode: insert
            rules:
              - { column: a, required: true }
              - check: "Int(a) > 0"
            columns:
              a: a
              b: { from: b, trim: true }
              title: { expr: "a + b" }
        """;

    private static IReadOnlyList<ManifestError> BuildErrors(string yaml, params string[] columns)
    {
        var manifest = ManifestLoader.Parse(yaml, Path);
        return Assert.Throws<ManifestException>(() => EntityPlan.Build(manifest, columns, "a.csv")).Errors;
    }

    private static string Edit(string find, string replace)
    {
        Assert.Contains(find, Template, StringComparison.Ordinal);
        return Template.Replace(find, replace, StringComparison.Ordinal);
    }

    [Fact]
    public void Template_builds()
    {
        var plan = Assert.Single(EntityPlan.Build(ManifestLoader.Parse(Template, Path), ["a", "b"], "a.csv"));
        var values = new object?[3];
        Assert.Equal("", plan.Mapper.Map(["1", " x "], values, []));
        Assert.Equal("1 x ", values[2]);   // expressions see the raw source value, not the trimmed column
    }

    [Fact]
    public void A_compile_error_in_an_expr_names_the_manifest_file_and_line()
    {
        var error = Assert.Single(BuildErrors(Edit("\"a + b\"", "\"nosuch + a\""), "a", "b"));

        Assert.Equal(Path, error.File);
        Assert.Equal(17, error.Line);
        Assert.Equal(23, error.Column);   // where 'nosuch' starts in the manifest line
        Assert.Equal("C# expression does not compile: CS0103: The name 'nosuch' does not exist in the current context", error.Message);
        Assert.Equal($"{Path}:17:23: C# expression does not compile: CS0103: The name 'nosuch' does not exist in the current context", error.ToString());
    }

    [Fact]
    public void A_compile_error_in_a_check_names_the_manifest_line()
    {
        var error = Assert.Single(BuildErrors(Edit("\"Int(a) > 0\"", "\"a > 0\""), "a", "b"));

        Assert.Equal((Path, 13, 17), (error.File, error.Line, error.Column));
        Assert.Equal("C# expression does not compile: CS0019: Operator '>' cannot be applied to operands of type 'string' and 'int'", error.Message);
    }

    [Fact]
    public void A_check_that_is_not_boolean_is_a_compile_error()
    {
        var error = Assert.Single(BuildErrors(Edit("\"Int(a) > 0\"", "\"a\""), "a", "b"));
        Assert.Equal(13, error.Line);
        Assert.Equal("C# expression does not compile: CS0029: Cannot implicitly convert type 'string' to 'bool'", error.Message);
    }

    [Fact]
    public void Compile_errors_in_several_expressions_and_unknown_columns_are_reported_together()
    {
        var yaml = Template
            .Replace("\"Int(a) > 0\"", "\"Int(a) >\"", StringComparison.Ordinal)
            .Replace("\"a + b\"", "\"a.Lenght\"", StringComparison.Ordinal)
            .Replace("b: { from: b, trim: true }", "b: { from: c, trim: true }", StringComparison.Ordinal);

        var errors = BuildErrors(yaml, "a", "b");

        Assert.All(errors, e => Assert.Equal(Path, e.File));
        Assert.Equal([13, 16, 17], errors.Select(e => e.Line).Order());
        Assert.Contains(errors, e => e.Line == 13 && e.Message.StartsWith("C# expression does not compile: CS1525: Invalid expression term ')'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Line == 16 && e.Message == "column 'b' names column 'c', which a.csv does not have (it has: a, b)");
        Assert.Contains(errors, e => e.Line == 17 && e.Message == "C# expression does not compile: CS1061: 'string' does not contain a definition for 'Lenght' and no accessible extension method 'Lenght' accepting a first argument of type 'string' could be found (are you missing a using directive or an assembly reference?)");
    }

    [Fact]
    public void A_compile_error_in_a_block_scalar_points_at_the_line_inside_it()
    {
        var yaml = Edit("      - check: \"Int(a) > 0\"\n", "      - check: |\n          a != null &&\n          a.Lenght > 2\n");
        // The block's text starts on line 14; the error is on its second line.
        var error = Assert.Single(BuildErrors(yaml, "a", "b"));
        Assert.Equal(15, error.Line);
        Assert.StartsWith("C# expression does not compile: CS1061: 'string' does not contain a definition for 'Lenght'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_block_scalar_expression_compiles_and_runs()
    {
        var yaml = Edit("      - check: \"Int(a) > 0\"\n", "      - check: |\n          a != null &&\n          a.Length > 2\n");
        var plan = Assert.Single(EntityPlan.Build(ManifestLoader.Parse(yaml, Path), ["a", "b"], "a.csv"));
        Assert.Empty(plan.Validate(2, "abc", null));
        Assert.Equal("check failed: a != null &&\na.Length > 2\n", Assert.Single(plan.Validate(3, "ab", null)).Message);
    }

    [Theory]
    [InlineData("due date", "due_date")]
    [InlineData("due-date", "due_date")]
    [InlineData("class", "@class")]
    [InlineData("int", "@int")]
    [InlineData("1st", "_1st")]
    [InlineData("a.b/c", "a_b_c")]
    [InlineData("_x9", "_x9")]
    [InlineData("", "_")]
    [InlineData("Name", "Name")]
    [InlineData("value", "value")]
    public void Identifier_sanitises_column_names(string column, string identifier)
    {
        Assert.Equal(identifier, ExpressionCompiler.Identifier(column));
    }

    [Fact]
    public void Columns_with_spaces_dashes_keywords_and_digits_are_usable_in_expressions()
    {
        string[] columns = ["due date", "class", "1st", "e-mail", "static"];
        var body = """
            rules:
              - check: "@static == null"
            columns:
              all: { expr: "due_date + \"|\" + @class + \"|\" + _1st + \"|\" + e_mail" }
              due: { from: "due date" }
            """;
        var plan = UnitPlans.Plan(body, columns);

        var (_, values, issues) = plan.Map("2024-01-02", "A", "first", "x@y.z", null);

        Assert.Empty(issues);
        Assert.Equal(["2024-01-02|A|first|x@y.z", "2024-01-02"], values);
        Assert.Empty(plan.Validate(2, "d", "c", "f", "e", null));
        Assert.Equal("check", Assert.Single(plan.Validate(3, "d", "c", "f", "e", "s")).Rule);
    }

    [Fact]
    public void Compile_returns_one_delegate_per_request_in_order()
    {
        var delegates = ExpressionCompiler.Compile("/m/ferry.yaml", ["x", "y"],
        [
            new ExpressionRequest(new SourceText("x + y", 3, 1), IsCondition: false),
            new ExpressionRequest(new SourceText("x == y", 4, 1), IsCondition: true),
            new ExpressionRequest(new SourceText("(x ?? \"\").Length", 5, 1), IsCondition: false),
        ]);

        Assert.Equal(3, delegates.Count);
        Assert.Equal("ab", Assert.IsType<Func<string?[], object?>>(delegates[0])(["a", "b"]));
        var condition = Assert.IsType<Func<string?[], bool>>(delegates[1]);
        Assert.True(condition(["q", "q"]));
        Assert.False(condition(["q", "r"]));
        Assert.Equal(0, ((Func<string?[], object?>)delegates[2])([null, "b"]));
        Assert.Empty(ExpressionCompiler.Compile("/m/ferry.yaml", ["x"], []));
    }

    [Fact]
    public void Compile_maps_errors_to_the_given_manifest_line_and_column()
    {
        var ex = Assert.Throws<ManifestException>(() => ExpressionCompiler.Compile("/m/ferry.yaml", ["x"],
        [
            new ExpressionRequest(new SourceText("x.Length", 40, 9), IsCondition: false),
            new ExpressionRequest(new SourceText("x + zz", 42, 9), IsCondition: false),
        ]));
        var error = Assert.Single(ex.Errors);
        Assert.Equal(new ManifestError("/m/ferry.yaml", 42, 13, "C# expression does not compile: CS0103: The name 'zz' does not exist in the current context"), error);
    }

    private static object? Eval(string expression, params string?[] values)
    {
        var compiled = ExpressionCompiler.Compile("/m/ferry.yaml", ["a", "b", "c"], [new ExpressionRequest(new SourceText(expression, 1, 1), IsCondition: false)]);
        var args = new string?[3];
        values.CopyTo(args, 0);
        return ((Func<string?[], object?>)compiled[0])(args);
    }

    [Fact]
    public void Title_helper()
    {
        Assert.Equal("Jane Smith", Eval("Title(a)", "jANE  smITH"));
        Assert.Equal("Mary-Ann Smith", Eval("Title(a)", "  mary-ann   SMITH "));
        Assert.Null(Eval("Title(a)", [null]));
    }

    [Fact]
    public void Digits_helper()
    {
        Assert.Equal("02079460018", Eval("Digits(a)", "(020) 7946-0018"));
        Assert.Equal("3", Eval("Digits(a)", "\u0661\u06623x"));   // only ASCII digits
        Assert.Equal("", Eval("Digits(a)", "none"));
        Assert.Null(Eval("Digits(a)", [null]));
    }

    [Fact]
    public void Int_and_Dec_helpers()
    {
        Assert.Equal(42L, Eval("Int(a)", " 42 "));
        Assert.Equal(-7L, Eval("Int(a)", "-7"));
        Assert.Null(Eval("Int(a)", "4.2"));
        Assert.Null(Eval("Int(a)", [null]));
        Assert.Equal(45L, Eval("Int(a) + Int(b)", "40", "5"));
        Assert.Equal(1234.5m, Eval("Dec(a)", "1,234.5"));
        Assert.Equal(0.3m, Eval("Dec(a) + Dec(b)", "0.1", "0.2"));
        Assert.Null(Eval("Dec(a)", "1.2.3"));
    }

    [Fact]
    public void Date_helper()
    {
        Assert.Equal(new DateOnly(2024, 2, 29), Eval("Date(a)", " 2024-02-29 "));
        Assert.Null(Eval("Date(a)", "2023-02-29"));
        Assert.Equal(new DateOnly(2024, 3, 5), Eval("Date(a, \"dd/MM/yyyy\")", "05/03/2024"));
        Assert.Null(Eval("Date(a, \"dd/MM/yyyy\")", "2024-03-05"));
        Assert.Equal(31, Eval("Date(b).Value.DayNumber - Date(a).Value.DayNumber", "2024-01-01", "2024-02-01"));
    }

    [Fact]
    public void Coalesce_and_Blank_helpers()
    {
        Assert.Equal("c", Eval("Coalesce(a, b, c)", " ", null, "c"));
        Assert.Equal("b", Eval("Coalesce(a, b, c)", "", "b", "c"));
        Assert.Equal("a", Eval("Coalesce(a, b, c)", "a", "b", "c"));
        Assert.Null(Eval("Coalesce(a, b)", "", "  "));
        Assert.Equal("fallback", Eval("Coalesce(a, \"fallback\")", [null]));
        Assert.Equal(true, Eval("Blank(a) && !Blank(b)", " \t", "x"));
    }
}
