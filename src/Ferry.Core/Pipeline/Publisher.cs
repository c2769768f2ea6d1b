using System.Data.Common;
using Ferry.Diagnostics;
using Ferry.Manifest;
using Ferry.Targets;
using Ferry.Targets.Postgres;
using Ferry.Targets.Sqlite;
using Npgsql;

namespace Ferry.Pipeline;

/// <summary>A <c>publish</c> SQL file failed: nothing of the publish was kept, the mart is as it was.</summary>
public sealed class PublishException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Republishes the mart: runs the manifest's <c>publish</c> SQL files in order in ONE transaction, so
/// readers see the old mart until the new one is complete, and keep the old one when a file fails.
/// PostgreSQL and SQLite both roll back DDL. The files should rebuild their tables from the
/// history layer (DROP/CREATE, or DELETE/TRUNCATE and INSERT), and hold no BEGIN or COMMIT.
/// </summary>
public static class Publisher
{
    public static async Task<int> PublishAsync(MigrationManifest manifest, CancellationToken cancellationToken)
    {
        var scripts = new List<(string Name, string Sql)>();
        foreach (var relative in manifest.Publish)
        {
            var path = Path.GetFullPath(Path.Combine(manifest.Directory, relative));
            if (!File.Exists(path))
                throw new PublishException($"{relative}: publish SQL file not found ({path}); the mart was not changed");
            scripts.Add((relative, await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false)));
        }
        if (scripts.Count == 0)
            return 0;
        if (manifest.Target.Kind == TargetKind.Postgres)
            await PublishPostgresAsync(manifest, scripts, cancellationToken).ConfigureAwait(false);
        else
            await PublishSqliteAsync(manifest, scripts, cancellationToken).ConfigureAwait(false);
        return scripts.Count;
    }

    private static async Task PublishPostgresAsync(MigrationManifest manifest, List<(string Name, string Sql)> scripts, CancellationToken cancellationToken)
    {
        await using var connection = await PostgresTarget.OpenAsync(manifest, cancellationToken, userSql: true).ConfigureAwait(false);
        // Under the manifest's run lock: a mart built while a run loads the history would show half of it.
        await using (var locking = connection.CreateCommand())
        {
            locking.CommandText = $"SELECT pg_try_advisory_lock({PostgresLedgerSchema.RunLockClass}, hashtext(@manifest))";
            locking.Parameters.AddWithValue("manifest", manifest.FilePath);
            if (!(bool)(await locking.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!)
                throw new TargetException("a run of this manifest is loading the target right now; publish when it has finished");
        }
        try
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            foreach (var (name, sql) in scripts)
            {
                // Statement by statement, so that the server's position in a failing one becomes a line of the file.
                foreach (var (start, statement) in SqlStatements.Split(sql))
                {
                    try
                    {
                        await using var command = new NpgsqlCommand(statement, connection, transaction);
                        command.CommandTimeout = 0; // a mart can take longer to build than a driver's default 30 s; Ctrl-C cancels
                        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    }
                    catch (PostgresException ex)
                    {
                        var line = ex.Position > 0 ? SqlStatements.LineAt(sql, start + ex.Position - 1) : SqlStatements.LineAt(sql, start);
                        throw new PublishException($"{name} line {line}: {SecretMasker.Scrub(ex.MessageText)} (SQLSTATE {ex.SqlState}); nothing was published, the mart is as it was", ex);
                    }
                }
            }
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await PostgresTarget.UnlockAsync(connection, manifest.FilePath).ConfigureAwait(false);
        }
    }

    private static async Task PublishSqliteAsync(MigrationManifest manifest, List<(string Name, string Sql)> scripts, CancellationToken cancellationToken)
    {
        // The run lock keeps a run from loading while the mart is rebuilt.
        await using var target = await SqliteTarget.OpenForRunAsync(manifest, dryRun: false, cancellationToken).ConfigureAwait(false);
        var connection = target.Connection;
        await ExecuteAsync(connection, "BEGIN IMMEDIATE", cancellationToken).ConfigureAwait(false);
        var committed = false;
        try
        {
            foreach (var (name, sql) in scripts)
            {
                try
                {
                    await ExecuteAsync(connection, sql, cancellationToken).ConfigureAwait(false);
                }
                catch (Microsoft.Data.Sqlite.SqliteException ex)
                {
                    throw new PublishException($"{name}: {SecretMasker.Scrub(ex.Message)}; nothing was published, the mart is as it was", ex);
                }
            }
            await ExecuteAsync(connection, "COMMIT", cancellationToken).ConfigureAwait(false);
            committed = true;
        }
        finally
        {
            if (!committed)
                await ExecuteAsync(connection, "ROLLBACK", CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static async Task ExecuteAsync(DbConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
