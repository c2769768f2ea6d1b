namespace Ferry.Manifest;

/// <summary>A parsed, validated manifest: what to read, where to write, and how.</summary>
public sealed record MigrationManifest(
    string FilePath,
    string? Name,
    SourceSpec Source,
    TargetSpec Target,
    IReadOnlyList<EntitySpec> Entities)
{
    public string Directory => Path.GetDirectoryName(Path.GetFullPath(FilePath))!;
}

public enum SourceKind { Csv, Xlsx }

public sealed record SourceSpec(
    SourceKind Kind,
    string Path,
    char Delimiter,
    char Quote,
    bool Header,
    IReadOnlyList<string>? Columns,
    string Encoding,
    string? Sheet,
    int Line);

public enum TargetKind { Sqlite, Postgres }

/// <param name="Schema">PostgreSQL: the schema of the production tables (the ledger is always in <c>ferry</c>).</param>
public sealed record TargetSpec(TargetKind Kind, SecretString Connection, string Schema, int Line);

public enum LoadMode { Insert, Upsert, Replace }

public sealed record EntitySpec(
    string Name,
    string Table,
    IReadOnlyList<string> Key,
    LoadMode Mode,
    int BatchSize,
    bool Staging,
    IReadOnlyList<RuleSpec> Rules,
    IReadOnlyList<ColumnSpec> Columns,
    int Line);

public enum Severity { Information, Warning, Error, Fatal }

public enum RuleKind { Required, Type, Regex, Range, Allowed, Unique, MaxLength, Check }

public enum ValueType { Text, Int, Decimal, Real, Bool, Date, DateTime, Uuid }

public sealed record RuleSpec(
    RuleKind Kind,
    string? Column,
    Severity Severity,
    string? Message,
    ValueType? Type,
    string? Format,
    string? Pattern,
    string? Min,
    string? Max,
    IReadOnlyList<string>? Allowed,
    int? MaxLength,
    SourceText? Expression,
    int Line)
{
    /// <summary>The rule as a person names it in an error: "required", "regex", "check" …</summary>
    public string Name => Kind switch
    {
        RuleKind.MaxLength => "max_length",
        _ => Kind.ToString().ToLowerInvariant(),
    };
}

public sealed record ColumnSpec(
    string Target,
    string? From,
    bool Trim,
    ValueType Type,
    string? Format,
    string? Default,
    string? Const,
    bool UuidFromKey,
    SourceText? Expression,
    int Line);

/// <summary>Text from the manifest with where it starts, so compile errors can point at it.</summary>
public sealed record SourceText(string Text, int Line, int Column);
