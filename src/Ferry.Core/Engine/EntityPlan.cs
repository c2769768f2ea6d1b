using Ferry.Contracts;
using Ferry.Manifest;
using Ferry.Mapping;
using Ferry.Sources;

namespace Ferry.Engine;

/// <summary>An entity ready to run: its contract and mapping bound to the source's columns.</summary>
public sealed class EntityPlan
{
    private EntityPlan(EntitySpec spec, int position, ContractValidator validator, RowMapper mapper, string? tenant, string? tenantColumn, ulong? sourceSeed)
    {
        SourceSeed = sourceSeed;
        Spec = spec;
        Tenant = tenant;
        TenantColumn = tenantColumn;
        Position = position;
        Validator = validator;
        Mapper = mapper;
        Hasher = new RowHasher(mapper);
    }

    public EntitySpec Spec { get; }

    /// <summary>The tenant this plan loads (its rows carry the id in the tenant column); null without tenants.</summary>
    public string? Tenant { get; }

    /// <summary>The target column holding the tenant id (the first of <see cref="Spec"/>'s columns); null without tenants.</summary>
    public string? TenantColumn { get; }

    /// <summary>The entity and, with tenants, its tenant, as messages name them.</summary>
    public string Describe() => Tenant is null ? Spec.Name : $"{Spec.Name} (tenant {Tenant})";

    /// <summary>How many tenants the run loads this entity for (1 without tenants): the last of them to complete it finishes what they share.</summary>
    public int TenantsInRun { get; set; } = 1;

    /// <summary>The entity's place in the manifest: the order it is loaded and listed in.</summary>
    public int Position { get; }
    public ContractValidator Validator { get; }
    public RowMapper Mapper { get; }

    /// <summary>Hashes mapped rows; used by the one task that maps the entity's rows.</summary>
    public RowHasher Hasher { get; }

    /// <summary>
    /// The seed of the entity's <see cref="SourceHasher"/>, when its mapped values are a function of
    /// the source row alone: a re-run may then skip a batch whose raw rows it has loaded before. Null otherwise.
    /// </summary>
    public ulong? SourceSeed { get; }

    /// <summary>
    /// Binds every entity of every tenant to that tenant's source (or, without tenants, every entity
    /// to the manifest's source), in load order, tenant by tenant.
    /// </summary>
    public static async Task<IReadOnlyList<EntityPlan>> BuildAsync(MigrationManifest manifest, string? sourceOverride, CancellationToken cancellationToken)
    {
        var plans = new List<EntityPlan>();
        foreach (var bound in manifest.PerTenant())
            plans.AddRange(Build(bound, await SourceReaders.ShapesAsync(bound, sourceOverride, cancellationToken).ConfigureAwait(false)));
        return plans;
    }

    /// <summary>
    /// Binds every entity to <paramref name="sourceColumns"/> and compiles all C# expressions at
    /// once. Every unknown column and compile error is reported together, with its manifest line.
    /// </summary>
    public static IReadOnlyList<EntityPlan> Build(MigrationManifest manifest, IReadOnlyList<string> sourceColumns, string sourceOrigin) =>
        Build(manifest, manifest.Entities.ToDictionary(e => e.Name, _ => new SourceShape(sourceColumns, sourceOrigin)));

    /// <summary>Binds each entity to its own source's columns (a database source gives each entity a table or query).</summary>
    public static IReadOnlyList<EntityPlan> Build(MigrationManifest manifest, IReadOnlyDictionary<string, SourceShape> sources)
    {
        var errors = new List<ManifestError>();
        void RequireColumn(SourceShape source, string column, int line, string what)
        {
            if (!source.Columns.Contains(column, StringComparer.Ordinal))
                errors.Add(new ManifestError(manifest.FilePath, line, 1,
                    $"{what} names column '{column}', which {source.Origin} does not have (it has: {string.Join(", ", source.Columns)})"));
        }

        var requests = new List<ExpressionRequest>();
        foreach (var entity in manifest.Entities)
        {
            var source = sources[entity.Name];
            foreach (var column in entity.LegacyKey?.Columns ?? [])
                RequireColumn(source, column, entity.LegacyKey!.Line, "'legacy_key'");
            foreach (var rule in entity.Rules)
            {
                if (rule.Column is not null)
                    RequireColumn(source, rule.Column, rule.Line, $"rule '{rule.Name}'");
                if (rule.Expression is not null)
                    requests.Add(new ExpressionRequest(rule.Expression, IsCondition: true, source.Columns));
            }
            foreach (var column in entity.Columns)
            {
                if (column.From is not null)
                    RequireColumn(source, column.From, column.Line, $"column '{column.Target}'");
                if (column.Expression is not null)
                    requests.Add(new ExpressionRequest(column.Expression, IsCondition: false, source.Columns));
            }
        }
        IReadOnlyList<Delegate> compiled = [];
        try
        {
            // Without expressions the compiler (and Roslyn, which loading costs a run 20 ms) is not touched.
            if (requests.Count > 0)
                compiled = ExpressionCompiler.Compile(manifest.FilePath, [], requests);
        }
        catch (ManifestException ex)
        {
            errors.AddRange(ex.Errors);
        }
        if (errors.Count > 0)
            throw new ManifestException(errors);

        var checks = new Queue<Func<string?[], bool>>(compiled.OfType<Func<string?[], bool>>());
        var expressions = new Queue<Func<string?[], object?>>(compiled.OfType<Func<string?[], object?>>());
        try
        {
            return manifest.Entities.Select((e, i) => new EntityPlan(
                e,
                i,
                ContractValidator.Create(e.Rules, sources[e.Name].Columns, checks),
                RowMapper.Create(e, sources[e.Name].Columns, expressions),
                manifest.Tenant,
                manifest.Tenant is null ? null : manifest.TenantColumn,
                SourceHasher.SeedFor(e, manifest.Tenant, sources[e.Name].Columns, manifest.Source))).ToList();
        }
        catch (ManifestException ex)
        {
            throw new ManifestException(ex.Errors.Select(x => x with { File = manifest.FilePath }).ToList());
        }
    }
}
