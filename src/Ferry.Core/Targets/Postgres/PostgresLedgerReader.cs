using System.Globalization;
using System.Text.Json;
using Ferry.Engine;
using Ferry.Manifest;
using Npgsql;

namespace Ferry.Targets.Postgres;

/// <summary>
/// Reads runs, their counts and their rejected rows from the <c>ferry</c> schema. Every manifest that
/// loads this database shares the schema, so only the runs of the reader's manifest are seen.
/// </summary>
public sealed class PostgresLedgerReader : ILedgerReader
{
    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNameCaseInsensitive = true };
    private readonly NpgsqlConnection connection;
    private readonly string manifest;

    private PostgresLedgerReader(NpgsqlConnection connection, string manifest)
    {
        this.connection = connection;
        this.manifest = manifest;
    }

    public static async Task<PostgresLedgerReader> OpenAsync(MigrationManifest manifest, CancellationToken cancellationToken)
    {
        var connection = await PostgresTarget.OpenAsync(manifest, cancellationToken).ConfigureAwait(false);
        await using var exists = connection.CreateCommand();
        exists.CommandText = "SELECT to_regclass('ferry.runs') IS NOT NULL";
        if (!(bool)(await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw new TargetException("the target has no ferry ledger yet: no run has written to it");
        }
        return new PostgresLedgerReader(connection, manifest.FilePath);
    }

    private const string RunColumns = "run_id, name, source, status, started_at, finished_at, error";

    public async Task<IReadOnlyList<RunRecord>> ListRunsAsync(int limit, CancellationToken cancellationToken)
    {
        var runs = await QueryRunsAsync($"SELECT {RunColumns} FROM ferry.runs WHERE manifest = @manifest ORDER BY run_id DESC LIMIT @limit", ("limit", limit), cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < runs.Count; i++)
            runs[i] = runs[i] with { Entities = await EntitiesAsync(runs[i].RunId, cancellationToken).ConfigureAwait(false) };
        return runs;
    }

    public async Task<RunRecord?> GetRunAsync(long? runId, CancellationToken cancellationToken)
    {
        if (runId is null)
            return (await ListRunsAsync(1, cancellationToken).ConfigureAwait(false)).FirstOrDefault();
        var runs = await QueryRunsAsync($"SELECT {RunColumns} FROM ferry.runs WHERE run_id = @run AND manifest = @manifest", ("run", runId.Value), cancellationToken).ConfigureAwait(false);
        return runs.Count == 0 ? null : runs[0] with { Entities = await EntitiesAsync(runId.Value, cancellationToken).ConfigureAwait(false) };
    }

    private async Task<List<RunRecord>> QueryRunsAsync(string sql, (string Name, object Value) parameter, CancellationToken cancellationToken)
    {
        var runs = new List<RunRecord>();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue(parameter.Name, parameter.Value);
        command.Parameters.AddWithValue("manifest", manifest);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            runs.Add(new RunRecord(reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetString(2), reader.GetString(3),
                Timestamp(reader.GetDateTime(4)), reader.IsDBNull(5) ? null : Timestamp(reader.GetDateTime(5)), reader.IsDBNull(6) ? null : reader.GetString(6), []));
        return runs;
    }

    private static string Timestamp(DateTime value) => value.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private async Task<IReadOnlyList<RunEntityRecord>> EntitiesAsync(long runId, CancellationToken cancellationToken)
    {
        var list = new List<RunEntityRecord>();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT entity, target, mode, rows_read, inserted, updated, unchanged, rejected, warnings FROM ferry.run_entities WHERE run_id = @run ORDER BY ctid";
        command.Parameters.AddWithValue("run", runId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            list.Add(new RunEntityRecord(reader.GetString(0), reader.GetString(1), reader.GetString(2), new EntityCounts
            {
                RowsRead = reader.GetInt64(3),
                Inserted = reader.GetInt64(4),
                Updated = reader.GetInt64(5),
                Unchanged = reader.GetInt64(6),
                Rejected = reader.GetInt64(7),
                Warnings = reader.GetInt64(8),
            }));
        return list;
    }

    public async Task<IReadOnlyList<RejectRecord>> ListRejectsAsync(long runId, IEnumerable<string> entities, CancellationToken cancellationToken)
    {
        var list = new List<RejectRecord>();
        foreach (var entity in entities)
        {
            var table = $"ferry.\"{PostgresLedgerSchema.StagingTable(entity)}\"";
            await using var exists = connection.CreateCommand();
            exists.CommandText = "SELECT to_regclass(@t) IS NOT NULL";
            exists.Parameters.AddWithValue("t", table);
            if (!(bool)(await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!)
                continue;
            await using var command = connection.CreateCommand();
            command.CommandText = $"SELECT stage_id, run_id, line, business_key, raw::text, errors::text FROM {table} WHERE run_id = @run AND status = 'error' ORDER BY stage_id";
            command.Parameters.AddWithValue("run", runId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                list.Add(new RejectRecord(entity, reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2),
                    reader.IsDBNull(3) ? null : reader.GetString(3), RawValues(reader.GetString(4)),
                    reader.IsDBNull(5) ? [] : JsonSerializer.Deserialize<List<RejectMessage>>(reader.GetString(5), JsonOptions)!));
        }
        return list;
    }

    /// <summary>The raw values in source column order (the column is json, which keeps it).</summary>
    private static List<KeyValuePair<string, string?>> RawValues(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.EnumerateObject()
            .Select(p => KeyValuePair.Create(p.Name, p.Value.ValueKind == JsonValueKind.Null ? null : p.Value.GetString()))
            .ToList();
    }

    public ValueTask DisposeAsync() => connection.DisposeAsync();
}
