using System.Globalization;
using System.Text.RegularExpressions;
using Ferry.Diagnostics;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Ferry.Manifest;

/// <summary>
/// Reads a manifest from YAML. The YAML node tree is walked by hand (rather than deserialised) so
/// that every unknown key, wrong type and missing value is reported with its line, all at once.
/// </summary>
public sealed partial class ManifestLoader
{
    private readonly string file;
    private readonly List<ManifestError> errors = [];
    private readonly List<string> secrets = [];
    /// <summary>The source's type names a database (even if the rest of the source is broken): its entities read 'from'.</summary>
    private bool databaseSource;
    /// <summary>The lines of the entities that have a 'from' (parsed or not), so a broken one is not called missing.</summary>
    private readonly HashSet<int> withFrom = [];

    /// <summary>The line of each entity's 'depends_on', for errors about it.</summary>
    private readonly Dictionary<string, int> dependsOnLines = new(StringComparer.Ordinal);

    private ManifestLoader(string file) => this.file = file;

    public static MigrationManifest Load(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new ManifestException([new ManifestError(path, 0, 0, "manifest file not found")]);
        return Parse(File.ReadAllText(full), full);
    }

    public static MigrationManifest Parse(string yaml, string filePath)
    {
        var loader = new ManifestLoader(filePath);
        var manifest = loader.ParseDocument(yaml);
        // Registered before any error is reported: an error message may quote a substituted value.
        foreach (var secret in loader.secrets)
            SecretMasker.Register(secret);
        if (loader.errors.Count > 0 || manifest is null)
            throw new ManifestException(loader.errors);
        return manifest;
    }

    private MigrationManifest? ParseDocument(string yaml)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            Error(ex.Start, $"invalid YAML: {ex.InnerException?.Message ?? ex.Message}");
            return null;
        }
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            errors.Add(new ManifestError(file, 1, 1, "the manifest must be a YAML mapping with source, target and entities"));
            return null;
        }

        var map = Fields(root, "manifest", "name", "source", "tenants", "tenant_column", "target", "entities", "landing", "stage", "publish");
        var name = OptionalString(map, "name");
        // Files that come through 'landing' are read with their own file type's source.
        var landing = map.TryGetValue("landing", out var l) ? ParseLanding(l) : null;
        var tenants = map.TryGetValue("tenants", out var tenantsNode) ? ParseTenants(tenantsNode, map.ContainsKey("source")) : null;
        var source = map.TryGetValue("source", out var s) ? ParseSource(s)
            : tenants is not null ? tenants.FirstOrDefault()?.Source
            : landing is not null ? LandingPlaceholder(landing)
            : tenantsNode is null ? Missing<SourceSpec>(root, "source") : null;
        var tenantColumn = OptionalString(map, "tenant_column") ?? "tenant_id";
        if (map.TryGetValue("tenant_column", out var tenantColumnNode))
        {
            if (!IdentifierPattern().IsMatch(tenantColumn))
                Error(tenantColumnNode.Start, $"tenant_column '{tenantColumn}' must be letters, digits and underscores");
            if (tenantsNode is null)
                Error(tenantColumnNode.Start, "'tenant_column' applies only to a manifest with 'tenants'");
        }
        var target = map.TryGetValue("target", out var t) ? ParseTarget(t) : Missing<TargetSpec>(root, "target");
        var entities = ParseNamedList(map, root, "entities", "", "entity", ParseEntity, x => x.Name, x => x.Line);
        // A reference names another entity and one of its target columns.
        foreach (var entity in entities)
            foreach (var column in entity.Columns)
                if (column.References is { } reference)
                {
                    var parent = entities.FirstOrDefault(x => x.Name == reference.Entity);
                    if (parent is null)
                        errors.Add(new ManifestError(file, reference.Line, 1,
                            $"column '{column.Target}' references entity '{reference.Entity}', which the manifest does not have (it has: {string.Join(", ", entities.Select(x => x.Name))})"));
                    else if (!parent.Columns.Any(c => c.Target == reference.Column))
                        errors.Add(new ManifestError(file, reference.Line, 1,
                            $"column '{column.Target}' references column '{reference.Column}' of entity '{reference.Entity}', which has no such column (it has: {string.Join(", ", parent.Columns.Select(c => c.Target))})"));
                }
        // Lookups set their columns' references first: a reference is a dependency.
        CheckLookups(entities);
        if (tenantsNode is not null)
            CheckTenantEntities(entities, tenantColumn);
        var ordered = OrderByDependencies(entities);

        // A database gives each entity the table or query it names.
        foreach (var entity in entities)
            if (databaseSource && entity.From is null && !withFrom.Contains(entity.Line))
                errors.Add(new ManifestError(file, entity.Line, 1, $"entity '{entity.Name}' needs 'from' (the table or query it reads): the source is a database"));

        CheckLanding(landing, entities);
        var stage = map.TryGetValue("stage", out var st) ? ParseStage(st) : null;
        var publish = map.TryGetValue("publish", out var p) ? ParsePublish(p) : [];

        if (source is null || target is null || errors.Count > 0)
            return null;
        return new MigrationManifest(file, name, source, target, ordered) { Landing = landing, StageFolder = stage, Publish = publish, Tenants = tenants ?? [], TenantColumn = tenantColumn };
    }

    /// <summary>
    /// <c>lookup: X</c> rewrites a legacy key of entity X to X's UUID: X must record legacy keys and
    /// carry them as a <c>uuid: legacy</c> column, which the lookup column then references.
    /// </summary>
    private void CheckLookups(List<EntitySpec> entities)
    {
        for (var e = 0; e < entities.Count; e++)
        {
            var columns = entities[e].Columns.ToList();
            for (var i = 0; i < columns.Count; i++)
            {
                var column = columns[i];
                if (column.Lookup is not { } name)
                    continue;
                var parent = entities.FirstOrDefault(x => x.Name == name);
                string? problem = null;
                if (parent is null)
                    problem = $"looks up entity '{name}', which the manifest does not have (it has: {string.Join(", ", entities.Select(x => x.Name))})";
                else if (parent == entities[e])
                    problem = "looks up its own entity; a lookup finds rows of an entity loaded before this one";
                else if (parent.LegacyKey is null)
                    problem = $"looks up entity '{name}', which has no 'legacy_key'";
                else if (parent.LegacyKey.Columns.Count != 1)
                    problem = $"looks up entity '{name}', whose 'legacy_key' has {parent.LegacyKey.Columns.Count} columns; a lookup reads one";
                else if (parent.Columns.FirstOrDefault(c => c.UuidFromLegacy) is not { } uuid)
                    problem = $"looks up entity '{name}', which has no 'uuid: legacy' column";
                else
                    columns[i] = column with { References = new ColumnReference(name, uuid.Target, column.Line) };
                if (problem is not null)
                    errors.Add(new ManifestError(file, column.Line, 1, $"column '{column.Target}' {problem}"));
            }
            entities[e] = entities[e] with { Columns = columns };
        }
    }

    private static readonly string[] FileSourceKeys = ["type", "path", "delimiter", "quote", "header", "columns", "encoding", "sheet"];
    private static readonly string[] DatabaseSourceKeys = ["type", "connection", "encoding", "zero_dates"];

    private static SourceKind? SourceKindOf(string? type) => type?.ToLowerInvariant() switch
    {
        "csv" => SourceKind.Csv,
        "xlsx" => SourceKind.Xlsx,
        "sqlite" => SourceKind.Sqlite,
        "postgres" or "postgresql" => SourceKind.Postgres,
        "mysql" or "mariadb" => SourceKind.MySql,
        "sqlserver" or "mssql" => SourceKind.SqlServer,
        "parquet" => SourceKind.Parquet,
        _ => null,
    };

    /// <param name="landing">A landing file type's source: the files give the path, so it has none.</param>
    private SourceSpec? ParseSource(YamlNode node, bool landing = false)
    {
        // A file and a database take different keys; the type says which (an unknown type allows all).
        var typeNode = (node as YamlMappingNode)?.Children.FirstOrDefault(p => (p.Key as YamlScalarNode)?.Value == "type").Value as YamlScalarNode;
        var known = SourceKindOf(typeNode?.Value);
        var database = known is SourceKind.Sqlite or SourceKind.Postgres or SourceKind.MySql or SourceKind.SqlServer;
        if (!landing)
            databaseSource = database;
        var map = Fields(node, "source", known is null ? [.. FileSourceKeys.Union(DatabaseSourceKeys)] : database ? DatabaseSourceKeys
            : landing ? FileSourceKeys.Where(k => k != "path").ToArray() : FileSourceKeys);
        var type = RequiredString(map, node, "type");
        var kind = type is null ? (SourceKind?)null
            : SourceKindOf(type) ?? Invalid<SourceKind>(map["type"], $"unknown source type '{type}' (expected csv, xlsx, parquet, sqlite, postgres, mysql or sqlserver)");
        if (landing && database)
            Error(map["type"].Start, $"a landing file type is read as a file (csv, xlsx or parquet), not as a {type} database");
        string? path = null;
        SecretString? connection = null;
        if (database)
            connection = map.TryGetValue("connection", out var c) ? Secret(c) : Missing<SecretString>(node, "connection");
        else if (kind is not null && !landing)
            path = RequiredString(map, node, "path");
        var delimiter = Char(map, "delimiter", ',');
        var quote = Char(map, "quote", '"');
        var header = Bool(map, "header", true);
        var columns = StringList(map, "columns");
        var encoding = OptionalString(map, "encoding") ?? "utf-8";
        if (map.TryGetValue("encoding", out var encNode) && !EncodingKnown(encoding))
            Error(encNode.Start, $"unknown encoding '{encoding}'");
        if (!header && columns is null && kind == SourceKind.Csv)
            Error(node.Start, "a CSV source with 'header: false' needs 'columns'");
        var sheet = OptionalString(map, "sheet");
        var zeroText = OptionalString(map, "zero_dates") ?? "null";
        var zeroDates = zeroText.ToLowerInvariant() switch
        {
            "null" => ZeroDateRule.Null,
            "error" => ZeroDateRule.Error,
            _ => Invalid<ZeroDateRule>(map["zero_dates"], $"'zero_dates' must be null or error, not '{zeroText}'"),
        };
        if (kind is null || (database ? connection is null : path is null && !landing))
            return null;
        return new SourceSpec(kind.Value, path, connection, delimiter, quote, header, columns, encoding, sheet, zeroDates, (int)node.Start.Line);
    }

    /// <summary>
    /// An entity's <c>from</c>: the table (and optionally its columns) or the query a database source
    /// reads for it, the key it is read in the order of, and per-column value rules.
    /// </summary>
    private EntitySource? ParseFrom(YamlNode node)
    {
        var map = Fields(node, "from", "table", "columns", "query", "key", "convert");
        var table = OptionalString(map, "table");
        var query = OptionalString(map, "query");
        if ((table is null) == (query is null))
            Error(node.Start, "'from' needs exactly one of: table, query");
        if (table is not null && (table.Length == 0 || table.Split('.') is var parts && (parts.Length > 2 || parts.Any(p => p.Length == 0))))
            Error(map["table"].Start, $"table '{table}' must be a name or schema.name");
        if (query is not null && string.IsNullOrWhiteSpace(query))
            Error(map["query"].Start, "'query' must be a SELECT statement");
        var columns = StringList(map, "columns");
        if (columns is not null && query is not null)
            Error(map["columns"].Start, "'columns' applies to a table; a query names its own columns");
        if (columns is { Count: 0 })
            Error(map["columns"].Start, "'columns' must list at least one column");
        IReadOnlyList<string> key = map.TryGetValue("key", out var keyNode) && keyNode is YamlScalarNode single
            ? [Scalar(single)]
            : StringList(map, "key") ?? [];
        if (keyNode is null)
            Missing<object>(node, "key");
        else if (key.Count == 0)
            Error(keyNode.Start, "'key' must name at least one column");
        foreach (var k in key)
            if (columns is not null && !columns.Contains(k, StringComparer.Ordinal))
                Error(keyNode!.Start, $"key column '{k}' must be one of 'columns'");
        var convert = new Dictionary<string, ValueRule>(StringComparer.Ordinal);
        if (map.TryGetValue("convert", out var convertNode))
        {
            if (convertNode is not YamlMappingNode convertMap)
                Error(convertNode.Start, "'convert' must map source columns to a rule (bool, date, datetime, hex, base64, decode)");
            else
                foreach (var (k, v) in convertMap.Children)
                {
                    var column = (k as YamlScalarNode)?.Value ?? "";
                    var text = (v as YamlScalarNode)?.Value;
                    ValueRule? rule = text?.ToLowerInvariant() switch
                    {
                        "bool" or "boolean" => ValueRule.Bool,
                        "date" => ValueRule.Date,
                        "datetime" => ValueRule.DateTime,
                        "hex" => ValueRule.Hex,
                        "base64" => ValueRule.Base64,
                        "decode" => ValueRule.Decode,
                        _ => null,
                    };
                    if (rule is null)
                        Error(v.Start, $"unknown rule '{text}' for column '{column}' (expected bool, date, datetime, hex, base64 or decode)");
                    else if (!convert.TryAdd(column, rule.Value))
                        Error(k.Start, $"column '{column}' appears twice in 'convert'");
                    else if (rule == ValueRule.Decode && key.Contains(column, StringComparer.Ordinal))
                        // The key is compared by the database in its own collation; its bytes would sort differently.
                        Error(v.Start, $"key column '{column}' cannot be 'decode'd");
                    else if (columns is not null && !columns.Contains(column, StringComparer.Ordinal))
                        Error(k.Start, $"'convert' names column '{column}', which is not one of 'columns'");
                }
        }
        if ((table is null) == (query is null) || key.Count == 0)
            return null;
        return new EntitySource(table, columns, query, key, convert, (int)node.Start.Line);
    }

    private static bool EncodingKnown(string name)
    {
        try
        {
            Sources.TextEncodings.Get(name);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private TargetSpec? ParseTarget(YamlNode node)
    {
        var map = Fields(node, "target", "type", "connection", "schema");
        var type = RequiredString(map, node, "type");
        var connection = map.TryGetValue("connection", out var c) ? Secret(c) : Missing<SecretString>(node, "connection");
        TargetKind? kind = type?.ToLowerInvariant() switch
        {
            null => null,
            "sqlite" => TargetKind.Sqlite,
            "postgres" or "postgresql" => TargetKind.Postgres,
            _ => Invalid<TargetKind>(map["type"], $"unknown target type '{type}' (expected sqlite or postgres)"),
        };
        var schema = OptionalString(map, "schema");
        if (schema is not null && !IdentifierPattern().IsMatch(schema))
            Error(map["schema"].Start, $"schema name '{schema}' must be letters, digits and underscores");
        if (schema is not null && kind == TargetKind.Sqlite)
            Error(map["schema"].Start, "'schema' applies to a postgres target only");
        if (kind is null || connection is null)
            return null;
        return new TargetSpec(kind.Value, connection, schema ?? "public", (int)node.Start.Line);
    }

    private EntitySpec? ParseEntity(YamlNode node)
    {
        // Only a database source gives each entity its own rows ('from'); a file gives every entity the same.
        var map = Fields(node, "entity", databaseSource
            ? ["name", "from", "table", "key", "legacy_key", "mode", "scd2", "batch_size", "staging", "depends_on", "rules", "columns"]
            : ["name", "table", "key", "legacy_key", "mode", "scd2", "batch_size", "staging", "depends_on", "rules", "columns"]);
        var name = RequiredString(map, node, "name");
        if (name is not null && !IdentifierPattern().IsMatch(name))
            Error(map["name"].Start, $"entity name '{name}' must be letters, digits and underscores");
        var table = OptionalString(map, "table") ?? name;
        if (table is not null && map.ContainsKey("table") && !IdentifierPattern().IsMatch(table))
            Error(map["table"].Start, $"table name '{table}' must be letters, digits and underscores");
        var key = map.TryGetValue("key", out var keyNode) && keyNode is YamlScalarNode single
            ? [Scalar(single)]
            : StringList(map, "key") ?? [];
        var legacyKey = ParseLegacyKey(map);
        var modeText = OptionalString(map, "mode") ?? "upsert";
        var mode = modeText.ToLowerInvariant() switch
        {
            "insert" => LoadMode.Insert,
            "upsert" => LoadMode.Upsert,
            "replace" => LoadMode.Replace,
            "scd2" => LoadMode.Scd2,
            _ => Invalid<LoadMode>(map["mode"], $"unknown mode '{modeText}' (expected insert, upsert, replace or scd2)"),
        };
        if (mode == LoadMode.Upsert && key.Count == 0)
            Error(node.Start, $"entity '{name}': mode upsert needs a business 'key'");
        // At most 1,000,000: a stage id holds a row's place in its batch in 20 bits (up to 1,048,575).
        var batchSize = Int(map, "batch_size", 1000);
        if (batchSize is < 1 or > 1_000_000)
            Error(map["batch_size"].Start, "batch_size must be between 1 and 1000000");
        var staging = Bool(map, "staging", true);
        EntitySource? from = null;
        if (map.TryGetValue("from", out var fromNode))
        {
            withFrom.Add((int)node.Start.Line);
            from = ParseFrom(fromNode);
        }

        var rules = new List<RuleSpec>();
        if (map.TryGetValue("rules", out var rulesNode))
        {
            if (rulesNode is YamlSequenceNode ruleList)
                rules.AddRange(ruleList.Children.Select(ParseRule).OfType<RuleSpec>());
            else
                Error(rulesNode.Start, "'rules' must be a list");
        }

        var columns = new List<ColumnSpec>();
        if (!map.TryGetValue("columns", out var columnsNode))
            Missing<object>(node, "columns");
        else if (columnsNode is not YamlMappingNode columnMap || columnMap.Children.Count == 0)
            Error(columnsNode.Start, "'columns' must map target columns to their source");
        else
            foreach (var (k, v) in columnMap.Children)
                if (ParseColumn((YamlScalarNode)k, v) is { } column)
                    columns.Add(column);

        foreach (var k in key)
            if (columns.Count > 0 && !columns.Any(c => c.Target == k))
                Error(keyNode!.Start, $"entity '{name}': key column '{k}' is not one of its columns");
        // 'uuid: key' is made from the business key: without one every row would get the same UUID,
        // and a key column made that way would have no value when the key is computed.
        foreach (var c in columns.Where(c => c.UuidFromKey))
            if (key.Count == 0)
                errors.Add(new ManifestError(file, c.Line, 1, $"column '{c.Target}': 'uuid: key' needs the entity's business 'key'"));
            else if (key.Contains(c.Target))
                errors.Add(new ManifestError(file, c.Line, 1, $"entity '{name}': key column '{c.Target}' cannot be 'uuid: key', which is made from the key"));

        foreach (var c in columns.Where(c => c.UuidFromLegacy && legacyKey is null))
            errors.Add(new ManifestError(file, c.Line, 1, $"column '{c.Target}': 'uuid: legacy' needs the entity's 'legacy_key'"));

        var history = ParseHistory(map, node, name, mode, key, columns, staging);
        IReadOnlyList<string> dependsOn = map.TryGetValue("depends_on", out var dependsNode) && dependsNode is YamlScalarNode oneDependency
            ? [Scalar(oneDependency)]
            : StringList(map, "depends_on") ?? [];
        if (name is null || table is null)
            return null;
        if (dependsNode is not null)
            dependsOnLines[name] = (int)dependsNode.Start.Line;
        return new EntitySpec(name, table, key, mode, batchSize, staging, rules, columns, (int)node.Start.Line, from, legacyKey, history) { DependsOn = dependsOn };
    }

    /// <summary><c>legacy_key: [columns]</c> (or one column): source columns, checked against the source when the plan is built.</summary>
    private LegacyKeySpec? ParseLegacyKey(Dictionary<string, YamlNode> map)
    {
        if (!map.TryGetValue("legacy_key", out var node))
            return null;
        IReadOnlyList<string> columns = node is YamlScalarNode single ? [Scalar(single)] : StringList(map, "legacy_key") ?? [];
        if (columns.Count == 0)
        {
            Error(node.Start, "'legacy_key' must name at least one source column");
            return null;
        }
        foreach (var group in columns.GroupBy(c => c, StringComparer.Ordinal).Where(g => g.Count() > 1))
            Error(node.Start, $"'legacy_key' names column '{group.Key}' twice");
        return new LegacyKeySpec(columns, (int)node.Start.Line);
    }

    private static readonly string[] RuleKinds = ["required", "type", "regex", "range", "allowed", "unique", "max_length", "check"];

    private RuleSpec? ParseRule(YamlNode node)
    {
        var map = Fields(node, "rule", ["column", "severity", "message", "format", .. RuleKinds]);
        var kinds = RuleKinds.Where(map.ContainsKey).ToList();
        // 'type' may accompany 'range' (it says how to compare); otherwise one kind per rule.
        if (kinds.Count == 2 && kinds.Contains("type") && kinds.Contains("range"))
            kinds.Remove("type");
        if (kinds.Count != 1)
        {
            Error(node.Start, kinds.Count == 0
                ? $"a rule needs one of: {string.Join(", ", RuleKinds)}"
                : $"a rule has exactly one kind, found: {string.Join(", ", kinds)}");
            return null;
        }
        var kindName = kinds[0];
        var kind = kindName switch
        {
            "required" => RuleKind.Required,
            "type" => RuleKind.Type,
            "regex" => RuleKind.Regex,
            "range" => RuleKind.Range,
            "allowed" => RuleKind.Allowed,
            "unique" => RuleKind.Unique,
            "max_length" => RuleKind.MaxLength,
            _ => RuleKind.Check,
        };
        var column = OptionalString(map, "column");
        if (kind != RuleKind.Check && column is null)
            Error(node.Start, $"a '{kindName}' rule needs 'column'");
        var severityText = OptionalString(map, "severity") ?? "error";
        var severity = ParseSeverity(severityText) ?? Invalid<Severity>(map["severity"],
            $"unknown severity '{severityText}' (expected fatal, error, warning or information)");
        var message = OptionalString(map, "message");
        var format = OptionalString(map, "format");
        ValueType? type = map.TryGetValue("type", out var typeNode) ? ParseType(typeNode) : null;
        string? pattern = null, min = null, max = null;
        IReadOnlyList<string>? allowed = null;
        int? maxLength = null;
        SourceText? expression = null;
        switch (kind)
        {
            case RuleKind.Required or RuleKind.Unique:
                if (!Bool(map, kindName, true))
                    Error(map[kindName].Start, $"'{kindName}: false' is not a rule; remove it");
                break;
            case RuleKind.Regex:
                pattern = OptionalString(map, "regex");
                try
                {
                    _ = new Regex(pattern ?? "", RegexOptions.None, TimeSpan.FromSeconds(1));
                }
                catch (ArgumentException ex)
                {
                    Error(map["regex"].Start, $"invalid regular expression: {ex.Message}");
                }
                break;
            case RuleKind.Range:
                var rangeMap = Fields(map["range"], "range", "min", "max");
                min = OptionalString(rangeMap, "min");
                max = OptionalString(rangeMap, "max");
                if (min is null && max is null)
                    Error(map["range"].Start, "'range' needs min, max or both");
                break;
            case RuleKind.Allowed:
                allowed = StringList(map, "allowed");
                break;
            case RuleKind.MaxLength:
                maxLength = Int(map, "max_length", 0);
                break;
            case RuleKind.Check:
                expression = Text(map["check"]);
                break;
        }
        if (kind == RuleKind.Type && type is null)
            return null;
        return new RuleSpec(kind, column, severity, message, type, format, pattern, min, max, allowed, maxLength, expression, (int)node.Start.Line);
    }

    private ColumnSpec? ParseColumn(YamlScalarNode key, YamlNode node)
    {
        var target = key.Value ?? "";
        if (!IdentifierPattern().IsMatch(target))
            Error(key.Start, $"column name '{target}' must be letters, digits and underscores");
        if (node is YamlScalarNode shortForm)
            return new ColumnSpec(target, Scalar(shortForm), false, ValueType.Text, null, null, null, false, null, (int)key.Start.Line);

        var map = Fields(node, $"column '{target}'", "from", "trim", "type", "format", "default", "const", "uuid", "expr", "references", "lookup");
        var from = OptionalString(map, "from");
        var trim = Bool(map, "trim", false);
        var lookup = OptionalString(map, "lookup");
        // A UUID from the key or the key map, or a parent's UUID by lookup, is a uuid column.
        var uuidKey = map.ContainsKey("uuid") || lookup is not null;
        var type = map.TryGetValue("type", out var typeNode) ? ParseType(typeNode) ?? ValueType.Text : uuidKey ? ValueType.Uuid : ValueType.Text;
        var format = OptionalString(map, "format");
        var @default = OptionalString(map, "default");
        var @const = OptionalString(map, "const");
        var uuid = OptionalString(map, "uuid");
        if (uuid is not null && uuid != "key" && uuid != "legacy")
            Error(map["uuid"].Start, "'uuid' takes the value 'key' (a deterministic UUID from the business key) or 'legacy' (the key map's UUID for the row's legacy key)");
        var expr = map.TryGetValue("expr", out var exprNode) ? Text(exprNode) : null;
        var sources = new[] { from is not null, @const is not null, uuid is not null, expr is not null }.Count(x => x);
        if (sources != 1)
            Error(node.Start, $"column '{target}' needs exactly one of: from, const, uuid, expr");
        var references = map.TryGetValue("references", out var referencesNode) ? ParseReference(referencesNode, target) : null;
        if (lookup is not null)
        {
            if (from is null)
                Error(map["lookup"].Start, $"column '{target}': 'lookup' needs 'from', the source column holding the parent's legacy key");
            if (type != ValueType.Uuid)
                Error(map["type"].Start, $"column '{target}': a 'lookup' column holds the parent's UUID; its type is uuid");
            if (@default is not null)
                Error(map["default"].Start, $"column '{target}': a 'lookup' column takes no 'default' (a blank value stays NULL)");
            if (references is not null)
                Error(map["references"].Start, $"column '{target}': 'lookup' implies 'references' to the parent's 'uuid: legacy' column; remove 'references'");
        }
        return new ColumnSpec(target, from, trim, type, format, @default, @const, uuid == "key", expr, (int)key.Start.Line, references,
            UuidFromLegacy: uuid == "legacy", Lookup: lookup);
    }

    /// <summary><c>references: { entity: parent, column: id }</c>: the parent row a column's value names.</summary>
    private ColumnReference? ParseReference(YamlNode node, string target)
    {
        var map = Fields(node, $"column '{target}': references", "entity", "column");
        var entity = OptionalString(map, "entity");
        var column = OptionalString(map, "column");
        if (entity is null || column is null)
        {
            Error(node.Start, $"column '{target}': 'references' needs 'entity' and 'column' (references: {{ entity: parent, column: id }})");
            return null;
        }
        return new ColumnReference(entity, column, (int)node.Start.Line);
    }

    private ValueType? ParseType(YamlNode node)
    {
        var text = node is YamlScalarNode s ? s.Value : null;
        ValueType? type = text?.ToLowerInvariant() switch
        {
            "text" or "string" => ValueType.Text,
            "int" or "integer" => ValueType.Int,
            "decimal" => ValueType.Decimal,
            "real" or "double" => ValueType.Real,
            "bool" or "boolean" => ValueType.Bool,
            "date" => ValueType.Date,
            "datetime" => ValueType.DateTime,
            "uuid" => ValueType.Uuid,
            _ => null,
        };
        if (type is null)
            Error(node.Start, $"unknown type '{text}' (expected text, int, decimal, real, bool, date, datetime or uuid)");
        return type;
    }

    private static Severity? ParseSeverity(string text) => text.ToLowerInvariant() switch
    {
        "fatal" => Severity.Fatal,
        "error" => Severity.Error,
        "warning" => Severity.Warning,
        "information" or "info" => Severity.Information,
        _ => null,
    };

    // ---- node helpers -------------------------------------------------------------------------

    private Dictionary<string, YamlNode> Fields(YamlNode node, string what, params string[] allowed)
    {
        var result = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        if (node is not YamlMappingNode map)
        {
            Error(node.Start, $"{what} must be a mapping of keys to values");
            return result;
        }
        foreach (var (k, v) in map.Children)
        {
            var key = (k as YamlScalarNode)?.Value ?? "";
            if (!allowed.Contains(key))
                Error(k.Start, $"unknown key '{key}' in {what} (allowed: {string.Join(", ", allowed)})");
            else if (!result.TryAdd(key, v))
                Error(k.Start, $"key '{key}' appears twice in {what}");
        }
        return result;
    }

    private string? RequiredString(Dictionary<string, YamlNode> map, YamlNode parent, string key)
    {
        if (map.TryGetValue(key, out _))
            return OptionalString(map, key);
        Missing<object>(parent, key);
        return null;
    }

    private string? OptionalString(Dictionary<string, YamlNode> map, string key)
    {
        if (!map.TryGetValue(key, out var node))
            return null;
        if (node is YamlScalarNode scalar)
            return Scalar(scalar);
        Error(node.Start, $"'{key}' must be a single value");
        return null;
    }

    private SourceText? Text(YamlNode node)
    {
        if (node is not YamlScalarNode scalar || string.IsNullOrWhiteSpace(scalar.Value))
        {
            Error(node.Start, "an expression must be a non-empty text");
            return null;
        }
        // A quoted or plain scalar starts at its mark; a block scalar ('|' or '>') on the next line.
        var block = scalar.Style is ScalarStyle.Literal or ScalarStyle.Folded;
        var quoted = scalar.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted;
        return new SourceText(scalar.Value, (int)scalar.Start.Line + (block ? 1 : 0),
            block ? 1 : (int)scalar.Start.Column + (quoted ? 1 : 0));
    }

    private IReadOnlyList<string>? StringList(Dictionary<string, YamlNode> map, string key)
    {
        if (!map.TryGetValue(key, out var node))
            return null;
        if (node is YamlSequenceNode seq && seq.Children.All(c => c is YamlScalarNode))
            return seq.Children.Select(c => Scalar((YamlScalarNode)c)).ToList();
        Error(node.Start, $"'{key}' must be a list of values");
        return null;
    }

    private bool Bool(Dictionary<string, YamlNode> map, string key, bool fallback)
    {
        var text = OptionalString(map, key);
        if (text is null)
            return fallback;
        if (bool.TryParse(text, out var value))
            return value;
        Error(map[key].Start, $"'{key}' must be true or false, not '{text}'");
        return fallback;
    }

    private int Int(Dictionary<string, YamlNode> map, string key, int fallback)
    {
        var text = OptionalString(map, key);
        if (text is null)
            return fallback;
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
            return value;
        Error(map[key].Start, $"'{key}' must be a whole number, not '{text}'");
        return fallback;
    }

    private char Char(Dictionary<string, YamlNode> map, string key, char fallback)
    {
        var text = OptionalString(map, key);
        if (text is null)
            return fallback;
        if (text == "\\t")
            return '\t';
        if (text.Length == 1)
            return text[0];
        Error(map[key].Start, $"'{key}' must be one character, not '{text}'");
        return fallback;
    }

    private SecretString? Secret(YamlNode node)
    {
        if (node is not YamlScalarNode scalar)
        {
            Error(node.Start, "must be a single value");
            return null;
        }
        var found = new List<string>();
        var value = Substitute(scalar, found);
        return new SecretString(value, found);
    }

    /// <summary>The scalar's text with <c>${ENV}</c> and <c>${file:PATH}</c> substituted.</summary>
    private string Scalar(YamlScalarNode node) => Substitute(node, []);

    private string Substitute(YamlScalarNode node, List<string> found)
    {
        var text = node.Value ?? "";
        return Reference().Replace(text, m =>
        {
            var name = m.Groups[1].Value;
            string? value;
            if (name.StartsWith("file:", StringComparison.Ordinal))
            {
                var path = Path.Combine(Path.GetDirectoryName(file)!, name[5..]);
                value = File.Exists(path) ? File.ReadAllText(path).Trim() : null;
                if (value is null)
                    Error(node.Start, $"secret file '{name[5..]}' not found");
            }
            else
            {
                value = Environment.GetEnvironmentVariable(name);
                if (value is null)
                    Error(node.Start, $"environment variable '{name}' is not set");
            }
            if (value is null)
                return "";
            found.Add(value);
            secrets.Add(value);
            return value;
        });
    }

    /// <summary>
    /// A required key holding a non-empty list: each item parsed by <paramref name="parse"/>, and two items
    /// of the same name (in any case) an error at the later one's line.
    /// </summary>
    private List<T> ParseNamedList<T>(Dictionary<string, YamlNode> map, YamlNode parent, string key, string listOf, string noun,
        Func<YamlNode, T?> parse, Func<T, string> name, Func<T, int> line) where T : class
    {
        var items = new List<T>();
        if (!map.TryGetValue(key, out var node))
            Missing<object>(parent, key);
        else if (node is not YamlSequenceNode list || list.Children.Count == 0)
            Error(node.Start, $"'{key}' must be a non-empty list{listOf}");
        else
            foreach (var child in list.Children)
                if (parse(child) is { } item)
                    items.Add(item);
        foreach (var group in items.GroupBy(name, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1))
            errors.Add(new ManifestError(file, line(group.Last()), 1, $"{noun} '{group.Key}' is defined more than once"));
        return items;
    }

    private T? Missing<T>(YamlNode parent, string key)
    {
        Error(parent.Start, $"missing required key '{key}'");
        return default;
    }

    private T Invalid<T>(YamlNode node, string message) where T : struct
    {
        Error(node.Start, message);
        return default;
    }

    private void Error(Mark mark, string message) =>
        errors.Add(new ManifestError(file, (int)mark.Line, (int)mark.Column, message));

    [GeneratedRegex(@"\$\{([^}]+)\}")]
    private static partial Regex Reference();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex IdentifierPattern();
}
