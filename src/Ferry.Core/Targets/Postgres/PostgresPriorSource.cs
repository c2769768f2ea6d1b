using Ferry.Engine;
using Npgsql;

namespace Ferry.Targets.Postgres;

/// <summary>
/// The prior run's batch records as the preparing task compares raw rows with them, read a window of
/// batches at a time over a connection of its own (the loader's is busy loading). What it finds is a
/// hint: the loader's copy of the record checks again, in the batch's transaction, that it is not stale.
/// </summary>
internal sealed class PostgresPriorSource(Manifest.MigrationManifest manifest, long priorRun, string priorEntity, bool staging) : IPriorSource
{
    private NpgsqlConnection? connection; // opened by the first fetch, on the preparing task, while the source's first batch is parsed
    private const int Window = 16;
    private readonly Dictionary<int, (long First, long Last, byte[] SourceDigest)?> records = [];

    public async Task<bool> MatchesAsync(int batchNumber, long firstLine, long lastLine, byte[] sourceDigest, CancellationToken cancellationToken)
    {
        if (!records.ContainsKey(batchNumber))
            await FetchAsync(batchNumber, cancellationToken).ConfigureAwait(false);
        if (!records.Remove(batchNumber, out var found) || found is not { } record)
            return false;
        // A row the record may not vouch for (refused, rejected, its key repeated) has a hash of 0 there
        // (PriorBatch.Skippable), which no row read has.
        return record.First == firstLine && record.Last == lastLine && lastLine - firstLine + 1 == sourceDigest.Length / 8
            && record.SourceDigest.AsSpan().SequenceEqual(sourceDigest);
    }

    /// <summary>
    /// The records of a window of batch positions that could match: committed and not stale. Only
    /// their source digests are read, not their digests (three times the size): a row rejected, warned
    /// about, refused by the table or under a key its batch repeats has a source hash of 0 there.
    /// </summary>
    private async Task FetchAsync(int from, CancellationToken cancellationToken)
    {
        records.Clear();
        for (var b = from; b < from + Window; b++)
            records[b] = null;
        connection ??= await PostgresTarget.OpenAsync(manifest, cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT batch_no, first_line, last_line, source_digest FROM ferry.batches
            WHERE run_id = @run AND entity = @entity AND batch_no BETWEEN @from AND @to AND state = 'committed' AND NOT stale
              AND (digest IS NOT NULL OR digest_run IS NOT NULL) AND source_digest IS NOT NULL AND keys IS NOT NULL AND (lines IS NOT NULL OR NOT @staging)
            """;
        command.Parameters.AddWithValue("run", priorRun);
        command.Parameters.AddWithValue("entity", priorEntity);
        command.Parameters.AddWithValue("from", from);
        command.Parameters.AddWithValue("to", from + Window - 1);
        command.Parameters.AddWithValue("staging", staging);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            records[reader.GetInt32(0)] = (reader.GetInt64(1), reader.GetInt64(2), reader.GetFieldValue<byte[]>(3));
    }

    public ValueTask DisposeAsync() => connection?.DisposeAsync() ?? ValueTask.CompletedTask;
}
