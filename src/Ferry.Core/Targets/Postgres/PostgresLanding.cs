using Ferry.Diagnostics;
using Ferry.Engine;
using Ferry.Manifest;
using Npgsql;

namespace Ferry.Targets.Postgres;

/// <summary>
/// Lands batches on the preparing task, over a connection of its own, while the loader's connection
/// loads the batch before: a landing had waited for the server once a batch on the loading task, a
/// fifth of a 2,000,000-row first load's time there. A landing commits on its own, as the loader's
/// would: its record and the staging records of its rejected and warned rows, all pending. A landed
/// batch the loader did not commit is cleared when the entity begins again.
/// </summary>
/// <remarks>
/// The first batch is left to the loader, which is idle until it comes: an entity of one batch
/// opens no second connection. So is a batch with nothing to write, which the loader records
/// settled. A batch with a fatal issue, which stops the run before it lands, and every batch after
/// it are not landed.
/// </remarks>
internal sealed class PostgresLanding(MigrationManifest manifest, long runId, EntityPlan plan, string rowsTable) : IBatchLanding
{
    private NpgsqlConnection? connection;
    private readonly BatchArrays batchArrays = new();
    private readonly StagingJson json = new();
    private bool first = true;
    private bool fatal; // a batch broke a fatal rule: the run stops there, and nothing after it lands

    public async Task<Batch> LandAsync(Batch batch, CancellationToken cancellationToken)
    {
        // A batch with a fatal issue stops the run unwritten when the loader takes it: neither it nor
        // any batch after it lands.
        fatal = fatal || batch.Rows.Any(r => r.Fatal is not null);
        var loaderLands = first || fatal || batch.SourceUnchanged || !batch.Rows.Any(r => r.ToWrite);
        first = false;
        if (loaderLands)
            return batch;
        StageId.Check(plan.Spec.Name, runId, batch.Number);
        if (connection is null)
        {
            connection = await PostgresTarget.OpenAsync(manifest, cancellationToken).ConfigureAwait(false);
            // As the loader's landing: lost in a crash of the server, it would only be landed again.
            await using var setting = new NpgsqlCommand("SET synchronous_commit = off", connection);
            await setting.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        // Rows with issues get records of their own, in the landing's transaction.
        var stage = batch.Rows.Any(r => r.HasIssues);
        await using (var command = new NpgsqlCommand((stage ? "BEGIN;" : "") + PostgresEntityLoader.LandingSql, connection))
        {
            PostgresEntityLoader.AddRunParameters(command, runId, plan);
            foreach (var (name, value) in PostgresEntityLoader.LandingParameters(batch, batchArrays))
                command.Parameters.AddWithValue(name, value ?? DBNull.Value);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        if (stage)
        {
            // A failure leaves the transaction open: the run stops, and the connection goes with it.
            await PostgresEntityLoader.StageRowsAsync(connection, rowsTable, runId, json, batch, r => r.HasIssues, _ => "pending", cancellationToken).ConfigureAwait(false);
            await using var commit = new NpgsqlCommand("COMMIT", connection);
            await commit.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        FaultInjection.Point("postgres.landed-ahead", batch.Number);
        return batch with { Landed = true };
    }

    public async ValueTask DisposeAsync()
    {
        json.Dispose();
        if (connection is not null)
            await connection.DisposeAsync().ConfigureAwait(false);
    }
}
