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

    /// <summary>The tenants, each with its own source, in place of one top-level source (empty without tenants).</summary>
    public IReadOnlyList<TenantSpec> Tenants { get; init; } = [];

    /// <summary>The target column that receives the tenant id (with tenants).</summary>
    public string TenantColumn { get; init; } = "tenant_id";

    /// <summary>The tenant this manifest is bound to (see <see cref="ForTenant"/>); null for the manifest as written.</summary>
    public string? Tenant { get; init; }

    /// <summary>
    /// The manifest as one tenant runs it: the tenant's source, and every entity writing the tenant
    /// id into <see cref="TenantColumn"/>, which leads its business key.
    /// </summary>
    public MigrationManifest ForTenant(TenantSpec tenant) => this with
    {
        Source = tenant.Source,
        Tenant = tenant.Id,
        Entities = Tenant is null ? Entities.Select(e => e.WithTenantColumn(TenantColumn, tenant.Id)).ToList() : throw new InvalidOperationException("bound to a tenant already"),
    };

    /// <summary>One manifest per tenant (<see cref="ForTenant"/>), or this one alone without tenants.</summary>
    public IReadOnlyList<MigrationManifest> PerTenant() => Tenants.Count == 0 ? [this] : Tenants.Select(ForTenant).ToList();

    /// <summary>The source as the ledger names a run's input: the source, or the tenants' sources.</summary>
    public string DescribeSource() => Tenants.Count == 0
        ? Source.Describe()
        : "tenants " + string.Join(", ", Tenants.Select(t => $"{t.Id} ({t.Source.Describe()})"));
}

/// <summary>One tenant of a consolidation: its id (written into every target row) and its own source.</summary>
public sealed record TenantSpec(string Id, SourceSpec Source, int Line);

/// <summary>Files (csv, xlsx), or a database read over ADO.NET (sqlite, postgres, mysql, sqlserver).</summary>
public enum SourceKind { Csv, Xlsx, Sqlite, Postgres, MySql, SqlServer }

/// <summary>What a MySQL zero date (<c>0000-00-00</c>, or a date with a zero month or day) becomes.</summary>
public enum ZeroDateRule { Null, Error }

/// <param name="Path">A file source's file, relative to the manifest; null for a database.</param>
/// <param name="Connection">A database source's connection string; null for a file.</param>
/// <param name="Encoding">csv: the file's encoding; a database: how the bytes of <c>decode</c> columns are read.</param>
/// <param name="ZeroDates">mysql: what a zero date becomes.</param>
public sealed record SourceSpec(
    SourceKind Kind,
    string? Path,
    SecretString? Connection,
    char Delimiter,
    char Quote,
    bool Header,
    IReadOnlyList<string>? Columns,
    string Encoding,
    string? Sheet,
    ZeroDateRule ZeroDates,
    int Line)
{
    /// <summary>A database, whose entities each read their own table or query (<see cref="EntitySpec.From"/>).</summary>
    public bool IsDatabase => Kind is SourceKind.Sqlite or SourceKind.Postgres or SourceKind.MySql or SourceKind.SqlServer;

    /// <summary>The source as the ledger and logs name it: the file, or the kind of database (never its connection).</summary>
    public string Describe() => Path ?? $"{Kind.ToString().ToLowerInvariant()} database";
}

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
    int Line,
    EntitySource? From = null,
    LegacyKeySpec? LegacyKey = null)
{
    /// <summary>Entities loaded before this one within a tenant (<c>depends_on</c>; <c>references</c> add theirs).</summary>
    public IReadOnlyList<string> DependsOn { get; init; } = [];

    /// <summary>
    /// The entity as a tenant loads it: a text column holding the tenant id comes first, and leads the
    /// business key (an entity without a key keeps none).
    /// </summary>
    public EntitySpec WithTenantColumn(string column, string tenant) => this with
    {
        Columns = [new ColumnSpec(column, null, false, ValueType.Text, null, null, tenant, false, null, Line), .. Columns],
        Key = Key.Count == 0 || Key.Contains(column) ? Key : [column, .. Key],
    };
}

/// <summary>
/// <c>legacy_key</c>: the source columns that identify a row in the legacy system. Each loaded row's
/// legacy key is recorded in the ledger's key map with a UUID made from the entity, tenant and key.
/// </summary>
public sealed record LegacyKeySpec(IReadOnlyList<string> Columns, int Line);

/// <summary>
/// Where an entity of a database source reads its rows: a table (all its columns, or those listed)
/// or a query, in the order of <see cref="Key"/>, a page at a time.
/// </summary>
/// <param name="Table">The table, <c>name</c> or <c>schema.name</c>.</param>
/// <param name="Key">The source columns that identify a row: the order rows are read in and the pagination cursor. Unique and never NULL.</param>
/// <param name="Convert">Source column → how its values become text, where the default rules will not do.</param>
public sealed record EntitySource(
    string? Table,
    IReadOnlyList<string>? Columns,
    string? Query,
    IReadOnlyList<string> Key,
    IReadOnlyDictionary<string, ValueRule> Convert,
    int Line);

/// <summary>
/// How a database value becomes text, overriding the default for its type (see docs/manifest.md):
/// <c>bool</c> turns 0/1 into false/true; <c>date</c> and <c>datetime</c> write ISO 8601; <c>hex</c> and
/// <c>base64</c> write bytes; <c>decode</c> reads the column's stored bytes in the source's encoding.
/// </summary>
public enum ValueRule { Bool, Date, DateTime, Hex, Base64, Decode }

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
    int Line,
    ColumnReference? References = null,
    bool UuidFromLegacy = false,
    string? Lookup = null);

/// <summary>
/// A column that refers to a row of another entity (a foreign key): reconciliation reports target
/// rows whose value has no row with that value in the parent's <paramref name="Column"/> (orphans).
/// </summary>
/// <param name="Entity">The parent entity, by name (its table is the one searched).</param>
/// <param name="Column">A target column of the parent entity.</param>
public sealed record ColumnReference(string Entity, string Column, int Line);

/// <summary>Text from the manifest with where it starts, so compile errors can point at it.</summary>
public sealed record SourceText(string Text, int Line, int Column);
