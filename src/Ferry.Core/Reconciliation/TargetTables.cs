using System.Data.Common;
using System.Globalization;
using Ferry.Engine;
using Ferry.Manifest;
using Ferry.Targets;
using Ferry.Targets.Postgres;
using Ferry.Targets.Sqlite;

namespace Ferry.Reconciliation;

/// <summary>
/// The target as reconciliation reads it, over plain ADO.NET: an entity's production rows (mapped
/// columns only, streamed), the lines a run rejected (from its staging table, in line order) and
/// orphan queries. SQLite and PostgreSQL both quote identifiers with double quotes; they differ only
/// in where tables live (PostgreSQL: the manifest's schema, and the ledger in <c>ferry</c>).
/// </summary>
internal sealed partial class TargetTables : IAsyncDisposable
{
    private readonly DbConnection connection;
    private readonly LedgerNames ledger;
    private readonly string? schema;

    private TargetTables(DbConnection connection, LedgerNames ledger, string? schema)
    {
        this.connection = connection;
        this.ledger = ledger;
        this.schema = schema;
    }

    public static async Task<TargetTables> OpenAsync(MigrationManifest manifest, CancellationToken cancellationToken) =>
        manifest.Target.Kind switch
        {
            TargetKind.Postgres => new TargetTables(await PostgresTarget.OpenAsync(manifest, cancellationToken).ConfigureAwait(false),
                PostgresLedgerSchema.Names, manifest.Target.Schema),
            // Only read, but opened read-write: a read-only connection that closes last cannot remove the
            // WAL files of the database, and would leave foi.db-wal and foi.db-shm behind.
            _ => new TargetTables(await SqliteTarget.OpenLedgerAsync(manifest, write: true, cancellationToken).ConfigureAwait(false),
                SqliteLedgerSchema.Names, null),
        };

    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>An entity's production table, qualified as the target needs.</summary>
    public string Table(string table) => schema is null ? Quote(table) : $"{Quote(schema)}.{Quote(table)}";

    public string Describe(string table) => schema is null ? table : $"{schema}.{table}";

    /// <summary>Streams every row of the entity's table: its mapped columns as canonical values, in mapping order, each row in the same array (a caller that keeps a row copies it).</summary>
    public async IAsyncEnumerable<object?[]> RowsAsync(EntityPlan plan, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var columns = plan.Mapper.Columns;
        await using var command = connection.CreateCommand();
        // A history (scd2) holds several versions of a key: its current one is what the source says now.
        // (scd2 is not available with tenants, so no tenant filter meets it.)
        command.CommandText = $"SELECT {string.Join(", ", columns.Select(c => Quote(c.Target)))} FROM {Table(plan.Spec.Table)}" +
            (plan.Spec.Mode == LoadMode.Scd2 ? " WHERE is_current" : TenantFilter(plan, ""));
        AddTenant(command, plan.Tenant);
        command.CommandTimeout = 0;
        DbDataReader reader;
        try
        {
            reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DbException ex)
        {
            throw new TargetException($"cannot read table {Describe(plan.Spec.Table)} of entity '{plan.Spec.Name}': {ex.Message}");
        }
        await using (reader.ConfigureAwait(false))
        {
            // A PostgreSQL character(n) pads its value with blanks, which PostgreSQL itself ignores in comparisons.
            var padded = Enumerable.Range(0, columns.Count).Select(i => reader.GetDataTypeName(i) is var t
                && (t.Equals("bpchar", StringComparison.OrdinalIgnoreCase) || t.StartsWith("character(", StringComparison.OrdinalIgnoreCase)
                    || t.Equals("character", StringComparison.OrdinalIgnoreCase))).ToArray();
            var typed = Enumerable.Range(0, columns.Count).Select(i => TypedRead(reader, i, columns[i].Type)).ToArray();
            var values = new object?[columns.Count];
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                for (var i = 0; i < values.Length; i++)
                {
                    if (typed[i] != Typed.No && ReadTyped(reader, i, typed[i], out var canonical))
                    {
                        values[i] = canonical;
                        continue;
                    }
                    var value = Read(reader, i);
                    if (padded[i] && value is string text)
                        value = text.TrimEnd(' ');
                    values[i] = CanonicalValues.Canon(columns[i].Type, value);
                }
                yield return values;
            }
        }
    }

    private enum Typed { No, Int64, Int32, Int16, Date }

    /// <summary>
    /// A PostgreSQL integer or date column of an <c>int</c> or <c>date</c> mapping is read as its canonical
    /// value itself, in the box of <see cref="Mapping.ValueBoxes"/> (shared by the rows that repeat the
    /// value), instead of a box of the driver's own that <see cref="CanonicalValues.Canon"/> boxes again.
    /// Not SQLite: its column types are only affinities, and a text in an integer column must stay a text.
    /// </summary>
    private static Typed TypedRead(DbDataReader reader, int ordinal, Manifest.ValueType type) => reader is not Npgsql.NpgsqlDataReader ? Typed.No : type switch
    {
        Manifest.ValueType.Int when reader.GetFieldType(ordinal) == typeof(long) => Typed.Int64,
        Manifest.ValueType.Int when reader.GetFieldType(ordinal) == typeof(int) => Typed.Int32,
        Manifest.ValueType.Int when reader.GetFieldType(ordinal) == typeof(short) => Typed.Int16,
        Manifest.ValueType.Date when reader.GetDataTypeName(ordinal) == "date" => Typed.Date,
        _ => Typed.No,
    };

    /// <summary>The value as <see cref="CanonicalValues.Canon"/> would make it; false for one that needs the general reading.</summary>
    private static bool ReadTyped(DbDataReader reader, int ordinal, Typed typed, out object? value)
    {
        value = null;
        if (reader.IsDBNull(ordinal))
            return true;
        try
        {
            value = typed switch
            {
                Typed.Int64 => Mapping.ValueBoxes.Box(reader.GetInt64(ordinal)),
                Typed.Int32 => Mapping.ValueBoxes.Box(reader.GetInt32(ordinal)),
                Typed.Int16 => Mapping.ValueBoxes.Box(reader.GetInt16(ordinal)),
                _ => Mapping.ValueBoxes.Box(reader.GetFieldValue<DateOnly>(ordinal)),
            };
            return true;
        }
        catch (Exception ex) when (ex is InvalidCastException or OverflowException)
        {
            return false;
        }
    }

    private static object? Read(DbDataReader reader, int ordinal)
    {
        if (reader.IsDBNull(ordinal))
            return null;
        try
        {
            return reader.GetValue(ordinal);
        }
        catch (Exception ex) when (ex is InvalidCastException or OverflowException)
        {
            // A PostgreSQL numeric beyond .NET's decimal: compared as its text, so it shows as it is.
            return reader.GetFieldValue<string>(ordinal);
        }
    }

    /// <summary>The lines of a run's rows of this entity that are still rejected, ascending; none without a staging table.</summary>
    public async IAsyncEnumerable<long> RejectedLinesAsync(string entity, string? tenant, long runId, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var staging = ledger.StagingTable(entity);
        await using (var exists = Command(ledger.TableExistsSql, ("name", staging)))
            if (!Convert.ToBoolean(await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture))
                yield break;
        await using var command = Command($"SELECT line FROM {staging} WHERE run_id = @run AND status = 'error'{(tenant is null ? "" : " AND tenant = @tenant")} ORDER BY line",
            ("run", runId), ("tenant", tenant));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            yield return reader.GetInt64(0);
    }

    /// <summary>
    /// Rows of <paramref name="child"/> whose <paramref name="column"/> is set but equals no value of
    /// the parent's column: their count and the first <paramref name="examples"/> (key, value).
    /// </summary>
    public async Task<(long Count, List<OrphanRow> Examples)> OrphansAsync(EntityPlan child, string column, EntitySpec parent, string parentColumn,
        int examples, CancellationToken cancellationToken)
    {
        var keys = child.Spec.Key.Count > 0 ? child.Spec.Key : [column];
        await using var command = Command($"""
            SELECT {string.Join(", ", keys.Select(k => "c." + Quote(k)))}, c.{Quote(column)}
            FROM {Table(child.Spec.Table)} c
            WHERE c.{Quote(column)} IS NOT NULL{TenantFilter(child, "c.")}
              AND NOT EXISTS (SELECT 1 FROM {Table(parent.Table)} p WHERE p.{Quote(parentColumn)} = c.{Quote(column)}
                              {(child.TenantColumn is null ? "" : $"AND p.{Quote(child.TenantColumn)} = c.{Quote(child.TenantColumn)}")})
            """);
        AddTenant(command, child.Tenant);
        command.CommandTimeout = 0;
        var list = new List<OrphanRow>();
        long count = 0;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (count++ >= examples)
                continue;
            var key = string.Join(" | ", Enumerable.Range(0, keys.Count).Select(i => Text(reader, i)));
            list.Add(new OrphanRow(key, Text(reader, keys.Count)));
        }
        return (count, list);
    }

    /// <summary>With tenants, only the plan's tenant's rows (its tenant column holds the id).</summary>
    private static string TenantFilter(EntityPlan plan, string alias) =>
        plan.TenantColumn is null ? "" : $" {(alias.Length == 0 ? "WHERE" : "AND")} {alias}{Quote(plan.TenantColumn)} = @tenant";

    private static void AddTenant(DbCommand command, string? tenant)
    {
        if (tenant is null)
            return;
        var parameter = command.CreateParameter();
        parameter.ParameterName = "tenant";
        parameter.Value = tenant;
        command.Parameters.Add(parameter);
    }

    private static string Text(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? "" : CanonicalValues.Show(reader.GetValue(ordinal)) ?? "";

    private DbCommand Command(string sql, params (string Name, object? Value)[] parameters) => LedgerReader.Command(connection, sql, parameters);

    public ValueTask DisposeAsync() => connection.DisposeAsync();
}
