using System.CommandLine;
using Ferry.Manifest;
using Ferry.Targets;
using Ferry.Targets.Postgres;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry rollback RUN_ID</c>: return the target to its state before a run.</summary>
internal static class RollbackCommand
{
    public static Command Create(CliConsole console)
    {
        var run = new Argument<long>("run") { Description = "The run to undo" };
        var manifestArg = FerryCommandLine.ManifestArgument();
        var tenant = new Option<string?>("--tenant") { Description = "Undo only this tenant's changes of the run" };
        var entity = new Option<string?>("--entity") { Description = "Undo only this entity's changes (with --batches: a range of its batches)" };
        var batches = new Option<string?>("--batches") { Description = "A-B: undo the entity's batches A to B (the last ones it loaded); 'ferry run --resume' loads them again" };
        var command = new Command("rollback", "Undo a run: delete the rows it inserted, restore the rows it updated, give back a table it replaced")
        {
            run, manifestArg, tenant, entity, batches,
        };
        command.SetAction((parse, ct) => FerryCommandLine.Guard(console, async () =>
        {
            var manifest = ManifestLoader.Load(parse.GetValue(manifestArg)!);
            var scope = Scope(manifest, parse.GetValue(tenant), parse.GetValue(entity), parse.GetValue(batches));
            if (manifest.Target.Kind != TargetKind.Postgres)
                throw new TargetException("rollback needs an undo log, which only the postgres target keeps; a SQLite target cannot be rolled back (a run, a tenant or a batch range alike)");
            var result = await PostgresRollback.RollbackAsync(manifest, parse.GetValue(run), scope, ct).ConfigureAwait(false);
            foreach (var entity in result.Entities)
                await console.Output.WriteLineAsync(entity.Replaced
                    ? $"{entity.Entity}: the table's contents before run {result.RunId} are back"
                    : $"{entity.Entity}: {entity.Deleted:N0} inserted row(s) deleted, {entity.Restored:N0} updated row(s) restored").ConfigureAwait(false);
            await console.Output.WriteLineAsync(scope.Partial
                ? $"{scope.Describe()} of run {result.RunId} rolled back; the run is now failed: 'ferry run --resume' loads {(scope.FirstBatch is null ? "them" : "those batches")} again"
                : $"run {result.RunId} rolled back").ConfigureAwait(false);
            return ExitCodes.Succeeded;
        }));
        return command;
    }

    private static RollbackScope Scope(MigrationManifest manifest, string? tenant, string? entity, string? batches)
    {
        if (tenant is not null && !manifest.Tenants.Any(t => t.Id == tenant))
            throw new UsageException(manifest.Tenants.Count == 0
                ? $"--tenant {tenant}: {Path.GetFileName(manifest.FilePath)} has no tenants"
                : $"no tenant named '{tenant}' in {Path.GetFileName(manifest.FilePath)} (it has: {string.Join(", ", manifest.Tenants.Select(t => t.Id))})");
        if (entity is not null && !manifest.Entities.Any(e => e.Name == entity))
            throw new UsageException($"no entity named '{entity}' in {Path.GetFileName(manifest.FilePath)}");
        if (batches is null)
            return new RollbackScope(tenant, entity);
        if (entity is null)
            throw new UsageException("--batches needs --entity: batch numbers are an entity's");
        var parts = batches.Split('-');
        if (parts.Length is < 1 or > 2 || !int.TryParse(parts[0], out var first) || !int.TryParse(parts[^1], out var last) || first < 1 || last < first)
            throw new UsageException($"--batches must be A-B with 1 <= A <= B (or one batch number), not '{batches}'");
        return new RollbackScope(tenant, entity, first, last);
    }
}
