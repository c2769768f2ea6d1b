using System.Text.Json;
using Ferry.Engine;
using Ferry.Manifest;
using Microsoft.Data.Sqlite;

namespace Ferry.Targets.Sqlite;

/// <summary>Reads runs, their counts and their rejected rows from a SQLite target's ledger.</summary>
public sealed class SqliteLedgerReader : ILedgerReader
{
    private readonly SqliteConnection connection;

    private SqliteLedgerReader(SqliteConnection connection) => this.connection = connection;

    public static async Task<SqliteLedgerReader> OpenAsync(MigrationManifest manifest, CancellationToken cancellationToken)
    {
        var connection = await SqliteTarget.OpenLedgerAsync(manifest, write: false, cancellationToken).ConfigureAwait(false);
        var reader = new SqliteLedgerReader(connection);
        if (!await reader.HasLedgerAsync(cancellationToken).ConfigureAwait(false))
        {
            await reader.DisposeAsync().ConfigureAwait(false);
            throw new TargetException("the target has no ferry ledger yet: no run has written to it");
        }
        return reader;
    }

    private async Task<bool> HasLedgerAsync(CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'ferry_runs'";
        return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))! > 0;
    }

    public async Task<IReadOnlyList<RunRecord>> ListRunsAsync(int limit, CancellationToken cancellationToken)
    {
        var runs = new List<RunRecord>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT run_id, name, source, status, started_at, finished_at, error FROM ferry_runs ORDER BY run_id DESC LIMIT $limit";
            command.Parameters.AddWithValue("$limit", limit);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                runs.Add(new RunRecord(reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetString(2), reader.GetString(3),
                    reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5), reader.IsDBNull(6) ? null : reader.GetString(6), []));
        }
        for (var i = 0; i < runs.Count; i++)
            runs[i] = runs[i] with { Entities = await EntitiesAsync(runs[i].RunId, cancellationToken).ConfigureAwait(false) };
        return runs;
    }

    public async Task<RunRecord?> GetRunAsync(long? runId, CancellationToken cancellationToken)
    {
        if (runId is null)
            return (await ListRunsAsync(1, cancellationToken).ConfigureAwait(false)).FirstOrDefault();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT run_id, name, source, status, started_at, finished_at, error FROM ferry_runs WHERE run_id = $run";
        command.Parameters.AddWithValue("$run", runId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            return null;
        var run = new RunRecord(reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetString(2), reader.GetString(3),
            reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5), reader.IsDBNull(6) ? null : reader.GetString(6), []);
        return run with { Entities = await EntitiesAsync(run.RunId, cancellationToken).ConfigureAwait(false) };
    }

    private async Task<IReadOnlyList<RunEntityRecord>> EntitiesAsync(long runId, CancellationToken cancellationToken)
    {
        var list = new List<RunEntityRecord>();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT entity, target, mode, rows_read, inserted, updated, unchanged, rejected, warnings FROM ferry_run_entities WHERE run_id = $run ORDER BY rowid";
        command.Parameters.AddWithValue("$run", runId);
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
            var table = SqliteLedgerSchema.StagingTable(entity);
            await using var exists = connection.CreateCommand();
            exists.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $t";
            exists.Parameters.AddWithValue("$t", table);
            if ((long)(await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))! == 0)
                continue;
            await using var command = connection.CreateCommand();
            command.CommandText = $"SELECT stage_id, run_id, line, business_key, raw, errors FROM \"{table}\" WHERE run_id = $run AND status = 'error' ORDER BY stage_id";
            command.Parameters.AddWithValue("$run", runId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                list.Add(new RejectRecord(entity, reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2),
                    reader.IsDBNull(3) ? null : reader.GetString(3), ParseRaw(reader.GetString(4)),
                    reader.IsDBNull(5) ? [] : JsonSerializer.Deserialize<List<RejectMessage>>(reader.GetString(5), JsonOptions)!));
        }
        return list;
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNameCaseInsensitive = true };

    private static List<KeyValuePair<string, string?>> ParseRaw(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.EnumerateObject()
            .Select(p => KeyValuePair.Create(p.Name, p.Value.ValueKind == JsonValueKind.Null ? null : p.Value.GetString()))
            .ToList();
    }

    public ValueTask DisposeAsync() => connection.DisposeAsync();
}
