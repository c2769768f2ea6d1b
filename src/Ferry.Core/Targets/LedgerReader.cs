using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using Ferry.Engine;

namespace Ferry.Targets;

/// <summary>Where a target keeps its ledger: SQLite prefixes the table names, PostgreSQL uses a schema.</summary>
/// <param name="Table">The full name of a ledger table ("runs" → ferry_runs or ferry.runs).</param>
/// <param name="StagingTable">The full name of an entity's staging table.</param>
/// <param name="TableExistsSql">A query with parameter @name (a full table name) returning whether it exists.</param>
/// <param name="RowsTable">The full name of an entity's table of staged rows with a record of their own.</param>
internal sealed record LedgerNames(Func<string, string> Table, Func<string, string> StagingTable, string TableExistsSql, Func<string, string> RowsTable);

/// <summary>
/// Reads runs, their counts and their rejected rows from a target's ledger, over plain ADO.NET:
/// the ledger has the same tables and columns on every target. Several manifests may load one
/// database and share its ledger, so a reader sees only the runs of its own manifest.
/// </summary>
internal sealed class LedgerReader : ILedgerReader
{
    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNameCaseInsensitive = true };
    private readonly DbConnection connection;
    private readonly LedgerNames names;
    private readonly string manifest;
    private readonly string runColumns;

    private LedgerReader(DbConnection connection, LedgerNames names, string manifest)
    {
        this.connection = connection;
        this.names = names;
        this.manifest = manifest;
        runColumns = $"SELECT run_id, name, source, status, started_at, finished_at, error FROM {names.Table("runs")} WHERE manifest = @manifest";
    }

    /// <summary>Takes over <paramref name="connection"/>; fails clearly when no run has made a ledger there.</summary>
    public static async Task<LedgerReader> OpenAsync(DbConnection connection, LedgerNames names, string manifest, CancellationToken cancellationToken)
    {
        var reader = new LedgerReader(connection, names, manifest);
        if (!await reader.ExistsAsync(names.Table("runs"), cancellationToken).ConfigureAwait(false))
        {
            await reader.DisposeAsync().ConfigureAwait(false);
            throw new TargetException("the target has no ferry ledger yet: no run has written to it");
        }
        return reader;
    }

    private async Task<bool> ExistsAsync(string table, CancellationToken cancellationToken)
    {
        await using var command = Command(names.TableExistsSql, ("name", table));
        return Convert.ToBoolean(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }

    public async Task<IReadOnlyList<RunRecord>> ListRunsAsync(int limit, CancellationToken cancellationToken) =>
        await RunsAsync($"{runColumns} ORDER BY run_id DESC LIMIT @limit", ("limit", limit), cancellationToken).ConfigureAwait(false);

    public async Task<RunRecord?> GetRunAsync(long? runId, CancellationToken cancellationToken) => runId is null
        ? (await ListRunsAsync(1, cancellationToken).ConfigureAwait(false)).FirstOrDefault()
        : (await RunsAsync($"{runColumns} AND run_id = @run", ("run", runId.Value), cancellationToken).ConfigureAwait(false)).FirstOrDefault();

    private async Task<List<RunRecord>> RunsAsync(string sql, (string, object) parameter, CancellationToken cancellationToken)
    {
        var runs = new List<RunRecord>();
        await using (var command = Command(sql, parameter, ("manifest", manifest)))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                runs.Add(new RunRecord(reader.GetInt64(0), Text(reader, 1), reader.GetString(2), reader.GetString(3),
                    Timestamp(reader.GetValue(4))!, Timestamp(reader.GetValue(5)), Text(reader, 6), []));
        }
        for (var i = 0; i < runs.Count; i++)
            runs[i] = runs[i] with { Entities = await EntitiesAsync(runs[i].RunId, cancellationToken).ConfigureAwait(false) };
        return runs;
    }

    private async Task<IReadOnlyList<RunEntityRecord>> EntitiesAsync(long runId, CancellationToken cancellationToken)
    {
        var list = new List<RunEntityRecord>();
        await using var command = Command($"""
            SELECT entity, target, mode, rows_read, inserted, updated, unchanged, rejected, warnings
            FROM {names.Table("run_entities")} WHERE run_id = @run ORDER BY position, entity
            """, ("run", runId));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            list.Add(new RunEntityRecord(reader.GetString(0), reader.GetString(1), reader.GetString(2), Counts(reader, 3)));
        await reader.DisposeAsync().ConfigureAwait(false);
        return await PerTenantAsync(runId, list, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>With tenants, an entity is listed once per tenant, with that tenant's counts.</summary>
    private async Task<IReadOnlyList<RunEntityRecord>> PerTenantAsync(long runId, List<RunEntityRecord> entities, CancellationToken cancellationToken)
    {
        var table = names.Table("run_tenants");
        if (!await ExistsAsync(table, cancellationToken).ConfigureAwait(false))
            return entities;
        var tenants = new List<(string Entity, string Tenant, EntityCounts Counts)>();
        await using (var command = Command($"""
            SELECT entity, tenant, rows_read, inserted, updated, unchanged, rejected, warnings FROM {table} WHERE run_id = @run ORDER BY entity, tenant
            """, ("run", runId)))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                tenants.Add((reader.GetString(0), reader.GetString(1), Counts(reader, 2)));
        if (tenants.Count == 0)
            return entities;
        return entities.SelectMany(e => tenants.Any(t => t.Entity == e.Entity)
            ? tenants.Where(t => t.Entity == e.Entity).Select(t => e with { Tenant = t.Tenant, Counts = t.Counts })
            : [e]).ToList();
    }

    public async Task<IReadOnlyList<RejectRecord>> ListRejectsAsync(long runId, IEnumerable<string> entities, CancellationToken cancellationToken)
    {
        var list = new List<RejectRecord>();
        foreach (var entity in entities)
        {
            var table = names.StagingTable(entity);
            if (!await ExistsAsync(table, cancellationToken).ConfigureAwait(false))
                continue;
            await using var command = Command(
                $"SELECT stage_id, run_id, line, business_key, raw, errors FROM {table} WHERE run_id = @run AND status = 'error' ORDER BY stage_id",
                ("run", runId));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                list.Add(new RejectRecord(entity, reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), Text(reader, 3),
                    reader.IsDBNull(4) ? [] : RawValues(reader.GetString(4)),
                    reader.IsDBNull(5) ? [] : JsonSerializer.Deserialize<List<RejectMessage>>(reader.GetString(5), JsonOptions)!));
        }
        return list;
    }

    public async Task<IReadOnlyList<ReconciliationRecord>> ListReconciliationsAsync(long runId, CancellationToken cancellationToken)
    {
        var list = new List<ReconciliationRecord>();
        var table = names.Table("reconciliations");
        if (!await ExistsAsync(table, cancellationToken).ConfigureAwait(false))
            return list;
        await using var command = Command($"""
            SELECT run_id, entity, tenant, "check", passed, summary, checked_at FROM {table} WHERE run_id = @run ORDER BY reconciliation_id
            """, ("run", runId));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            list.Add(new ReconciliationRecord(reader.GetInt64(0), reader.GetString(1), Text(reader, 2), reader.GetString(3),
                Convert.ToBoolean(reader.GetValue(4), CultureInfo.InvariantCulture), reader.IsDBNull(5) ? null : Convert.ToString(reader.GetValue(5), CultureInfo.InvariantCulture),
                Timestamp(reader.GetValue(6))!));
        return list;
    }

    /// <summary>Six count columns from <paramref name="first"/> on: rows read, inserted, updated, unchanged, rejected, warnings.</summary>
    internal static EntityCounts Counts(DbDataReader reader, int first) => new()
    {
        RowsRead = reader.GetInt64(first),
        Inserted = reader.GetInt64(first + 1),
        Updated = reader.GetInt64(first + 2),
        Unchanged = reader.GetInt64(first + 3),
        Rejected = reader.GetInt64(first + 4),
        Warnings = reader.GetInt64(first + 5),
    };

    /// <summary>The raw values in source column order (both targets keep the JSON text as written).</summary>
    private static List<KeyValuePair<string, string?>> RawValues(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.EnumerateObject()
            .Select(p => KeyValuePair.Create(p.Name, p.Value.ValueKind == JsonValueKind.Null ? null : p.Value.GetString()))
            .ToList();
    }

    private static string? Text(DbDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    /// <summary>ISO 8601 UTC, whether the target stored text (SQLite) or a timestamp (PostgreSQL).</summary>
    private static string? Timestamp(object value) => value switch
    {
        DBNull => null,
        DateTime d => d.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture),
    };

    private DbCommand Command(string sql, params (string Name, object? Value)[] parameters) => Command(connection, sql, parameters);

    /// <summary>A command with named parameters (null becomes DBNull), on whichever ADO.NET provider the target uses.</summary>
    internal static DbCommand Command(DbConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value ?? DBNull.Value;
            command.Parameters.Add(parameter);
        }
        return command;
    }

    public ValueTask DisposeAsync() => connection.DisposeAsync();
}
