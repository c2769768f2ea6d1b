using Ferry.Manifest;
using Ferry.Targets.Postgres;
using Ferry.Targets.Sqlite;

namespace Ferry.Targets;

/// <summary>What a rollback undid, per entity.</summary>
public sealed record RollbackResult(long RunId, IReadOnlyList<RollbackEntity> Entities);

/// <param name="Deleted">Rows the run inserted, deleted; for an scd2 entity, the versions it opened.</param>
/// <param name="Restored">Rows the run updated, given their values back; for an scd2 entity, the versions it closed or corrected.</param>
/// <param name="Replaced">A <c>replace</c> load's table, given its contents from before the run.</param>
public sealed record RollbackEntity(string Entity, long Deleted, long Restored, bool Replaced);

/// <summary>Undoes a run, whichever target it loaded: the one entry point of <c>ferry rollback</c> and of programs.</summary>
public static class Rollback
{
    /// <summary>
    /// Returns the target to its state before run <paramref name="runId"/>, in one transaction, under the
    /// manifest's run lock; refused while a later run that is not rolled back changed the same rows.
    /// PostgreSQL undoes every load mode; SQLite keeps a ledger of scd2 changes only, so it undoes runs
    /// whose only writes were to scd2 entities.
    /// </summary>
    public static Task<RollbackResult> RollBackRunAsync(MigrationManifest manifest, long runId, CancellationToken cancellationToken) =>
        manifest.Target.Kind == TargetKind.Postgres
            ? PostgresRollback.RollbackAsync(manifest, runId, cancellationToken)
            : SqliteRollback.RollbackAsync(manifest, runId, cancellationToken);
}
