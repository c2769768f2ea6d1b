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
        var run = new Argument<long?>("run")
        {
            Description = "The run to undo",
            Arity = ArgumentArity.ZeroOrOne,
            // With --version the run is not given: a first argument that is not a number is the manifest.
            CustomParser = result =>
            {
                if (result.Tokens.Count == 0)
                    return null;
                if (long.TryParse(result.Tokens[0].Value, System.Globalization.CultureInfo.InvariantCulture, out var id))
                    return id;
                result.OnlyTake(0);
                return null;
            },
        };
        var version = new Option<long?>("--version") { Description = "Undo this version of the file registry ('ferry files'): its run, then republish the mart" };
        var manifestArg = FerryCommandLine.ManifestArgument();
        var tenant = new Option<string?>("--tenant") { Description = "Undo only this tenant's changes of the run" };
        var entity = new Option<string?>("--entity") { Description = "Undo only this entity's changes (with --batches: a range of its batches)" };
        var batches = new Option<string?>("--batches") { Description = "A-B: undo the entity's batches A to B (the last ones it loaded); 'ferry run --resume' loads them again" };
        var command = new Command("rollback", "Undo a run: delete the rows it inserted, restore the rows it updated, give back a table it replaced")
        {
            run, version, manifestArg, tenant, entity, batches,
        };
        command.SetAction((parse, ct) => FerryCommandLine.Guard(console, async () =>
        {
            var manifest = ManifestLoader.Load(parse.GetValue(manifestArg)!);
            if (parse.GetValue(version) is { } fileVersion)
            {
                if (parse.GetValue(run) is not null)
                    throw new UsageException("give a run or --version, not both");
                await new Ferry.Pipeline.FilePipeline(manifest, line => console.Output.WriteLine(Ferry.Diagnostics.SecretMasker.Scrub(line)))
                    .RollbackVersionAsync(fileVersion, ct).ConfigureAwait(false);
                return ExitCodes.Succeeded;
            }
            if (parse.GetValue(run) is null)
                throw new UsageException("name the run to roll back (or --version V for a file's version)");
            var scope = Scope(manifest, parse.GetValue(tenant), parse.GetValue(entity), parse.GetValue(batches));
            var result = await Rollback.RollBackRunAsync(manifest, parse.GetValue(run)!.Value, scope, ct).ConfigureAwait(false);
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
