using System.Reflection;
using System.Runtime.Loader;
using System.Text;
using Ferry.Manifest;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Ferry.Mapping;

/// <summary>
/// An expression to compile: a value (mapping) or a condition (rule), over <paramref name="Columns"/>
/// (its entity's source columns, when entities read different tables) or the columns given to Compile.
/// </summary>
public sealed record ExpressionRequest(SourceText Source, bool IsCondition, IReadOnlyList<string>? Columns = null);

/// <summary>
/// Compiles every C# expression of a run into one in-memory assembly, once. Each expression sits
/// under a <c>#line</c> directive naming its manifest line, so a compiler error points at the
/// manifest, not at generated code. Source columns are <c>string?</c> locals named after them.
/// </summary>
public static class ExpressionCompiler
{
    private static readonly Lazy<MetadataReference[]> References = new(() =>
    {
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        return paths
            .Where(p => Path.GetFileName(p) is var n && (n.StartsWith("System.", StringComparison.Ordinal) || n is "netstandard.dll" or "mscorlib.dll"))
            .Append(typeof(ExpressionFunctions).Assembly.Location)
            .Distinct()
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToArray();
    });

    /// <summary>Returns one delegate per request, in order: Func&lt;string?[], object?&gt; or Func&lt;string?[], bool&gt;.</summary>
    public static IReadOnlyList<Delegate> Compile(string manifestFile, IReadOnlyList<string> columns, IReadOnlyList<ExpressionRequest> requests)
    {
        if (requests.Count == 0)
            return [];
        var code = Generate(manifestFile, columns, requests);
        var tree = CSharpSyntaxTree.ParseText(code, new CSharpParseOptions(LanguageVersion.Latest), path: "ferry-expressions.cs", encoding: Encoding.UTF8);
        var compilation = CSharpCompilation.Create(
            "FerryExpressions_" + Guid.NewGuid().ToString("N"),
            [tree],
            References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, optimizationLevel: OptimizationLevel.Release, nullableContextOptions: NullableContextOptions.Disable));
        using var image = new MemoryStream();
        var result = compilation.Emit(image);
        if (!result.Success)
        {
            var errors = result.Diagnostics
                .Where(d => d.Severity == DiagnosticSeverity.Error)
                .Select(d => ToManifestError(d, manifestFile, requests))
                .Distinct()
                .ToList();
            throw new ManifestException(errors);
        }
        image.Position = 0;
        var assembly = new AssemblyLoadContext("ferry-expressions", isCollectible: true).LoadFromStream(image);
        var type = assembly.GetType("FerryGenerated.Expressions")!;
        return requests.Select((r, i) =>
        {
            var method = type.GetMethod("E" + i, BindingFlags.Public | BindingFlags.Static)!;
            return r.IsCondition
                ? method.CreateDelegate<Func<string?[], bool>>()
                : (Delegate)method.CreateDelegate<Func<string?[], object?>>();
        }).ToList();
    }

    /// <summary>The C# identifier a source column goes by in expressions.</summary>
    public static string Identifier(string column)
    {
        var sb = new StringBuilder(column.Length + 1);
        foreach (var c in column)
            sb.Append(char.IsLetterOrDigit(c) || c == '_' ? c : '_');
        if (sb.Length == 0 || char.IsDigit(sb[0]))
            sb.Insert(0, '_');
        var name = sb.ToString();
        return SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None ? "@" + name : name;
    }

    private static string Generate(string manifestFile, IReadOnlyList<string> columns, IReadOnlyList<ExpressionRequest> requests)
    {
        var sb = new StringBuilder();
        sb.AppendLine("#pragma warning disable CS0168, CS0219, CS8321");
        sb.AppendLine("using System; using System.Linq; using System.Globalization; using System.Text.RegularExpressions;");
        sb.AppendLine("using static Ferry.Mapping.ExpressionFunctions;");
        sb.AppendLine("namespace FerryGenerated {");
        sb.AppendLine("public static class Expressions {");
        // Entities of one source share their column list, and so its locals.
        var localsOf = new Dictionary<IReadOnlyList<string>, string>(ReferenceEqualityComparer.Instance);
        string Locals(IReadOnlyList<string> names)
        {
            if (localsOf.TryGetValue(names, out var known))
                return known;
            var locals = new StringBuilder();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < names.Count; i++)
                if (seen.Add(Identifier(names[i])))
                    locals.Append("string ").Append(Identifier(names[i])).Append(" = __s[").Append(i).Append("]; ");
            return localsOf[names] = locals.ToString();
        }
        var file = manifestFile.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
        for (var i = 0; i < requests.Count; i++)
        {
            var r = requests[i];
            sb.Append("public static ").Append(r.IsCondition ? "bool" : "object").Append(" E").Append(i).Append("(string[] __s) { ");
            sb.Append(Locals(r.Columns ?? columns)).AppendLine();
            sb.AppendLine("return (");
            sb.Append("#line ").Append(r.Source.Line).Append(" \"").Append(file).AppendLine("\"");
            sb.AppendLine(r.Source.Text);
            sb.AppendLine("#line hidden");
            sb.AppendLine("); }");
        }
        sb.AppendLine("}}");
        return sb.ToString();
    }

    private static ManifestError ToManifestError(Diagnostic diagnostic, string manifestFile, IReadOnlyList<ExpressionRequest> requests)
    {
        var span = diagnostic.Location.GetMappedLineSpan();
        var line = span.StartLinePosition.Line + 1;
        var request = requests.FirstOrDefault(r => r.Source.Line == line) ?? requests.FirstOrDefault(r => line >= r.Source.Line);
        // On the expression's first line the text starts where the YAML scalar does.
        var column = span.StartLinePosition.Character + 1 + (request is not null && line == request.Source.Line ? request.Source.Column - 1 : 0);
        var message = diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture);
        return new ManifestError(manifestFile, span.HasMappedPath ? line : 0, column, $"C# expression does not compile: {diagnostic.Id}: {message}");
    }
}
