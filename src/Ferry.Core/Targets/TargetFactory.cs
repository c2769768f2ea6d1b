using Ferry.Manifest;
using Ferry.Targets.Postgres;
using Ferry.Targets.Sqlite;

namespace Ferry.Targets;

/// <summary>Opens the manifest's target, whichever kind it is.</summary>
public static class TargetFactory
{
    public static async Task<ITarget> OpenForRunAsync(MigrationManifest manifest, bool dryRun, CancellationToken cancellationToken) =>
        manifest.Target.Kind switch
        {
            TargetKind.Postgres => await PostgresTarget.OpenForRunAsync(manifest, dryRun, cancellationToken).ConfigureAwait(false),
            _ => await SqliteTarget.OpenForRunAsync(manifest, dryRun, cancellationToken).ConfigureAwait(false),
        };

    public static async Task<ILedgerReader> OpenLedgerAsync(MigrationManifest manifest, CancellationToken cancellationToken) =>
        manifest.Target.Kind switch
        {
            TargetKind.Postgres => await LedgerReader.OpenAsync(
                await PostgresTarget.OpenAsync(manifest, cancellationToken).ConfigureAwait(false),
                PostgresLedgerSchema.Names, manifest.FilePath,
                cancellationToken).ConfigureAwait(false),
            _ => await LedgerReader.OpenAsync(
                await SqliteTarget.OpenLedgerAsync(manifest, write: false, cancellationToken).ConfigureAwait(false),
                SqliteLedgerSchema.Names, manifest.FilePath,
                cancellationToken).ConfigureAwait(false),
        };

    /// <summary>Checks the target can be reached (and, for SQLite, created), without changing it.</summary>
    public static async Task CheckAsync(MigrationManifest manifest, CancellationToken cancellationToken)
    {
        if (manifest.Target.Kind == TargetKind.Postgres)
        {
            await (await PostgresTarget.OpenAsync(manifest, cancellationToken).ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
            return;
        }
        await SqliteTarget.CheckAsync(manifest, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A failure a new connection may not meet again (a dropped connection, a restarting server).</summary>
    /// <summary>
    /// Whether tenants loading at the same time each get a connection of their own: on PostgreSQL, but
    /// not in a dry run (one transaction) nor on SQLite (one writer: the lanes share the run's connection).
    /// </summary>
    public static bool LanesConnectSeparately(MigrationManifest manifest, bool dryRun) => manifest.Target.Kind == TargetKind.Postgres && !dryRun;

    /// <summary>Another connection to the run's target, for a lane of tenants (the run's own connection holds the run lock).</summary>
    public static async Task<ITarget> OpenLaneAsync(MigrationManifest manifest, CancellationToken cancellationToken) =>
        await PostgresTarget.OpenLaneAsync(manifest, cancellationToken).ConfigureAwait(false);

    public static bool IsTransient(Exception exception) => PostgresTarget.IsTransient(exception);
}
