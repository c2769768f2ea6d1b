using System.Globalization;
using System.IO.Hashing;
using System.Text;
using Ferry.Diagnostics;
using Ferry.Engine;
using Ferry.Manifest;
using Ferry.Sources;
using Ferry.Targets;

namespace Ferry.Reconciliation;

public sealed record ReconcileOptions
{
    /// <summary>The run whose ledger counts are checked (default: the manifest's newest run).</summary>
    public long? RunId { get; init; }

    /// <summary>Reconcile only this entity.</summary>
    public string? Entity { get; init; }

    /// <summary>Reconcile only this tenant (a manifest with tenants).</summary>
    public string? Tenant { get; init; }

    /// <summary>Record each entity's checks in the ledger's reconciliations table (on by default).</summary>
    public bool Record { get; init; } = true;

    /// <summary>How many random rows per entity to compare field by field.</summary>
    public int SampleSize { get; init; } = 10;

    /// <summary>The entities already bound and compiled (a run's own plans), to save compiling them again.</summary>
    public IReadOnlyList<EntityPlan>? Plans { get; init; }

    /// <summary>How many source rows one partition may hold in memory (keys and hashes).</summary>
    public int RowsPerPartition { get; init; } = 100_000;

    /// <summary>How many missing keys, differing rows and orphans are listed per entity (all are counted).</summary>
    public int ListLimit { get; init; } = 50;

    /// <summary>Told how much memory the chunk of source rows being read holds, as <see cref="Engine.RunOptions.BatchBytes"/> is.</summary>
    public Action<long>? ChunkBytes { get; init; }
}

/// <summary>
/// Proves a run complete, entity by entity: the ledger's counts add up; the source, read again and
/// validated and mapped by the same plan, has as many rows as the run read and rejects the same ones;
/// the target holds every accepted row's key with the same content (an order-independent checksum of
/// the mapped values, compared per key); a random sample agrees field by field; and no target row names
/// a parent row that does not exist (columns with <c>references</c>).
/// Memory stays bounded: keys and content hashes of both sides are spilled to temporary files split by
/// key hash, and the two sides are joined one partition at a time.
/// </summary>
public static class Reconciler
{
    public static async Task<ReconciliationReport> ReconcileAsync(MigrationManifest manifest, ReconcileOptions options, CancellationToken cancellationToken)
    {
        if (options.Entity is not null && !manifest.Entities.Any(e => e.Name == options.Entity))
            throw new ManifestException([new ManifestError(manifest.FilePath, 0, 0,
                $"no entity named '{options.Entity}' (the manifest has: {string.Join(", ", manifest.Entities.Select(e => e.Name))})")]);
        RunRecord run;
        await using (var ledger = await TargetFactory.OpenLedgerAsync(manifest, cancellationToken).ConfigureAwait(false))
            run = await ledger.GetRunAsync(options.RunId, cancellationToken).ConfigureAwait(false)
                ?? throw new TargetException(options.RunId is { } id ? $"there is no run {id} of this manifest" : "no run of this manifest has been recorded yet");

        var plans = options.Plans ?? await EntityPlan.BuildAsync(manifest, null, cancellationToken).ConfigureAwait(false);
        // Each tenant's entities are read from that tenant's own source and compared with its rows only.
        var manifests = manifest.PerTenant().ToDictionary(m => m.Tenant ?? "");
        var report = new ReconciliationReport
        {
            Manifest = manifest.FilePath,
            Name = manifest.Name,
            RunId = run.RunId,
            RunStatus = run.Status,
            Target = manifest.Target.Kind.ToString().ToLowerInvariant(),
            StartedAt = DateTime.UtcNow,
            SampleSize = options.SampleSize,
        };
        await using var target = await TargetTables.OpenAsync(manifest, cancellationToken).ConfigureAwait(false);
        // A second connection streams the target's rows while the first streams the run's rejected lines
        // beside the source: the two sides are read at the same time.
        await using var targetSide = await TargetTables.OpenAsync(manifest, cancellationToken).ConfigureAwait(false);
        var selected = plans.Where(p => (options.Entity is null || p.Spec.Name == options.Entity) && (options.Tenant is null || p.Tenant == options.Tenant)).ToList();
        // The orphan checks are the server's work alone: a third connection runs them while the entities are
        // read (each had waited, client idle, for all of them after the last entity). Their results are
        // added to the report afterwards, in the entities' order, as before.
        var checkedPlans = selected.Where(p => CountsOf(run, p) is not null && p.Spec.Columns.Any(c => c.References is not null)).ToList();
        await using var orphanSide = checkedPlans.Count > 0 ? await TargetTables.OpenAsync(manifest, cancellationToken).ConfigureAwait(false) : null;
        using var stopOrphans = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var orphans = orphanSide is null ? Task.FromResult(new List<List<OrphanCheck>>())
            : Task.Run(() => OrphansAsync(manifest, checkedPlans, orphanSide, options, stopOrphans.Token), stopOrphans.Token);
        var reconciled = new List<(EntityPlan Plan, EntityReconciliation Entity)>();
        try
        {
            foreach (var plan in selected)
            {
                var entity = new EntityReconciliation { Entity = plan.Spec.Name, Tenant = plan.Tenant, Table = target.Describe(plan.Spec.Table), Mode = plan.Spec.Mode.ToString().ToLowerInvariant() };
                report.Entities.Add(entity);
                reconciled.Add((plan, entity));
                var counts = CountsOf(run, plan);
                if (counts is null)
                {
                    entity.Skipped = $"run {run.RunId} did not load entity {plan.Describe()}";
                    continue;
                }
                try
                {
                    await ReconcileEntityAsync(manifests[plan.Tenant ?? ""], run, plan, counts, target, targetSide, options, entity, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is SourceException or TargetException or System.Data.Common.DbException or IOException)
                {
                    entity.Error = SecretMasker.Scrub(ex.Message);
                    entity.Mismatch("error", $"entity {plan.Describe()} could not be reconciled: {entity.Error}");
                }
            }
        }
        catch
        {
            await stopOrphans.CancelAsync().ConfigureAwait(false);
            try
            {
                await orphans.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The entities' own failure is the one reported.
            }
            throw;
        }
        var found = await orphans.ConfigureAwait(false);
        foreach (var (plan, entity) in reconciled)
        {
            var index = checkedPlans.IndexOf(plan); // -1: not loaded by the run, or no column with references
            if (index < 0)
                continue;
            foreach (var check in found[index])
            {
                if (check.Error is not null)
                {
                    entity.Mismatch("error", $"entity {plan.Describe()}: orphans of {check.Column} could not be checked: {check.Error}", column: check.Column);
                    continue;
                }
                var result = check.Result!;
                entity.Orphans.Add(result);
                if (result.Count > 0)
                    entity.Mismatch("orphans", $"entity {plan.Describe()}: {result.Count:N0} row(s) of table {entity.Table} have a {result.Column} that no row of " +
                        $"{result.ParentEntity} ({result.ParentTable}.{result.ParentColumn}) has (e.g. {string.Join(", ", result.Examples.Take(5).Select(e => e.Value))})",
                        column: result.Column);
            }
        }
        report.FinishedAt = DateTime.UtcNow;
        if (options.Record)
            await target.RecordAsync(report, cancellationToken).ConfigureAwait(false);
        return report;
    }

    private static async Task ReconcileEntityAsync(MigrationManifest manifest, RunRecord run, EntityPlan plan, EntityCounts counts, TargetTables target,
        TargetTables targetSide, ReconcileOptions options, EntityReconciliation entity, CancellationToken cancellationToken)
    {
        var name = plan.Describe();
        // 1. The ledger's own arithmetic.
        var ledger = new LedgerSide(counts.RowsRead, counts.Inserted, counts.Updated, counts.Unchanged, counts.Rejected);
        entity.Ledger = ledger;
        if (!ledger.Balanced)
            entity.Mismatch("ledger-counts",
                $"entity {name}: the ledger of run {run.RunId} counts {ledger.RowsRead:N0} rows read but {ledger.Loaded:N0} loaded + {ledger.Rejected:N0} rejected = {ledger.Loaded + ledger.Rejected:N0}");

        var partitions = (int)Math.Clamp((Math.Max(counts.RowsRead, 1) + options.RowsPerPartition - 1) / options.RowsPerPartition, 1, 256);
        var folder = Path.Combine(Path.GetTempPath(), "ferry-reconcile-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(folder);
        try
        {
            // 2. The source again: counts, and each accepted row's key and content hash, spilled by key hash.
            // 3. At the same time, the target: every row's key and content hash, spilled the same way.
            // The sample is the accepted rows whose keys hash lowest under a seed drawn now (a uniform random
            // sample); the target keeps its rows that hash lowest too, which are the sampled ones wherever
            // it holds no more than a few keys the source does not.
            var seed = Random.Shared.NextInt64();
            var sample = new LowestHashes(options.SampleSize, seed);
            var stored = new LowestHashes(options.SampleSize * 4 + 16, seed);
            using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var reading = Task.Run(() => ReadSourceAsync(manifest, run, plan, target, partitions, folder, seed, sample, options.ChunkBytes, failed.Token), failed.Token);
            var readingTarget = plan.Spec.Key.Count == 0 ? Task.CompletedTask
                : Task.Run(() => ReadTargetAsync(plan, targetSide, partitions, folder, seed, stored, null, failed.Token), failed.Token);
            // A side that fails stops the other; its own error is the one reported.
            var first = await Task.WhenAny(reading, readingTarget).ConfigureAwait(false);
            if (!first.IsCompletedSuccessfully)
                await failed.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll(reading, readingTarget).ConfigureAwait(false);
            }
            catch when (!first.IsCompletedSuccessfully)
            {
                await first.ConfigureAwait(false);
                throw;
            }
            var source = await reading.ConfigureAwait(false);
            entity.Source = source;
            var sameInput = run.Source == manifest.DescribeSource();
            if (!sameInput)
                entity.Notes.Add($"run {run.RunId} read {Path.GetFileName(run.Source)}, not the manifest's source: its counts are not compared with the source's");
            else if (source.RowsRead != ledger.RowsRead)
                entity.Mismatch("source-counts", $"entity {name}: the source now has {source.RowsRead:N0} rows; run {run.RunId} read {ledger.RowsRead:N0}",
                    source: source.RowsRead.ToString(CultureInfo.InvariantCulture), target: ledger.RowsRead.ToString(CultureInfo.InvariantCulture));
            else if (source.Rejected != ledger.Rejected)
                entity.Mismatch("source-counts", $"entity {name}: the source read again rejects {source.Rejected:N0} rows; run {run.RunId} rejected {ledger.Rejected:N0}",
                    source: source.Rejected.ToString(CultureInfo.InvariantCulture), target: ledger.Rejected.ToString(CultureInfo.InvariantCulture));

            if (plan.Spec.Key.Count == 0)
            {
                entity.Notes.Add($"entity {name} has no business key: its rows cannot be matched with the target's, so only counts are compared");
                return;
            }

            // The sampled rows the target did not keep although it may hold them are read again by key.
            var wanted = new Dictionary<string, object?[]?>(StringComparer.Ordinal);
            foreach (var (key, _) in sample.Rows)
                if (!stored.Holds(key))
                    wanted[key] = null;
            if (wanted.Count > 0)
                await ReadTargetAsync(plan, targetSide, 0, folder, seed, null, wanted, cancellationToken).ConfigureAwait(false);

            // 4. Join the two sides one partition at a time.
            var differing = new List<string>();
            var checksum = Join(partitions, folder, options.ListLimit, entity.MissingKeys, differing, out var duplicates);
            entity.Checksum = checksum;
            entity.Source = source with { DuplicateKeys = duplicates };
            foreach (var key in entity.MissingKeys)
                entity.Mismatch("missing", $"entity {name}: key {CanonicalValues.ShowKey(key)} is missing in table {entity.Table}", key: CanonicalValues.ShowKey(key));
            if (checksum.MissingInTarget > entity.MissingKeys.Count)
                entity.Mismatch("missing", $"entity {name}: {checksum.MissingInTarget - entity.MissingKeys.Count:N0} more source row(s) missing in table {entity.Table}");
            if (checksum.Differing > differing.Count)
                entity.Mismatch("differs", $"entity {name}: {checksum.Differing - differing.Count:N0} more row(s) of table {entity.Table} differ from the mapped source");

            // 5. The differing rows, field by field (both sides read again for just those keys), and the sample.
            if (differing.Count > 0)
            {
                var keys = differing.ToHashSet(StringComparer.Ordinal);
                var sourceRows = new Dictionary<string, object?[]>(StringComparer.Ordinal);
                var byText = keys.GetAlternateLookup<ReadOnlySpan<char>>();
                var keyText = new KeyBuffer();
                await foreach (var values in AcceptedRowsAsync(manifest, run, plan, target, options.ChunkBytes, cancellationToken).ConfigureAwait(false))
                {
                    if (byText.TryGetValue(keyText.Of(values, plan.Mapper.KeyColumns), out var text))
                        sourceRows[text] = (object?[])values.Clone();
                }
                var targetRows = new Dictionary<string, object?[]?>(StringComparer.Ordinal);
                foreach (var key in keys)
                    targetRows[key] = null;
                await ReadTargetAsync(plan, target, 0, folder, seed, null, targetRows, cancellationToken).ConfigureAwait(false);
                foreach (var key in differing)
                {
                    var fields = sourceRows.GetValueOrDefault(key) is { } s && targetRows.GetValueOrDefault(key) is { } t ? Compare(plan, key, s, t) : [];
                    foreach (var d in fields)
                    {
                        entity.Differences.Add(d);
                        entity.Mismatch("differs", $"entity {name}: key {d.Key}, column {d.Column}: source {d.Source ?? "NULL"}, target {d.Target ?? "NULL"}",
                            d.Key, d.Column, d.Source, d.Target);
                    }
                    if (fields.Count == 0) // changed between the passes, or equal values that hash apart
                        entity.Mismatch("differs", $"entity {name}: key {CanonicalValues.ShowKey(key)}: the target row's content differs from the mapped source",
                            CanonicalValues.ShowKey(key));
                }
            }
            foreach (var (key, values) in sample.Rows.OrderBy(r => r.Key, StringComparer.Ordinal))
            {
                var held = stored.Get(key) ?? wanted.GetValueOrDefault(key);
                entity.Samples.Add(new SampleRow(CanonicalValues.ShowKey(key), held is not null, held is null ? [] : Compare(plan, key, values, held)));
            }
        }
        finally
        {
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
                // A temporary folder left behind is the system's to clean.
            }
        }
    }

    private static List<FieldDifference> Compare(EntityPlan plan, string key, object?[] source, object?[] target)
    {
        var list = new List<FieldDifference>();
        for (var i = 0; i < source.Length; i++)
            if (!Equals(source[i], target[i]))
                list.Add(new FieldDifference(CanonicalValues.ShowKey(key), plan.Mapper.Columns[i].Target, CanonicalValues.Show(source[i]), CanonicalValues.Show(target[i])));
        return list;
    }

    /// <summary>
    /// Reads the entity's source as the run did, counting rows, and yields the accepted ones (key and
    /// canonical mapped values). A row is rejected when the contract or mapping rejects it now, or when
    /// the run recorded its line as rejected (the target refused it); the run's rejected lines are
    /// merged in line order, so nothing but the current row is held. Each row's values are yielded in
    /// the same array: a caller that keeps them copies them.
    /// </summary>
    private static async IAsyncEnumerable<object?[]> AcceptedRowsAsync(MigrationManifest manifest, RunRecord run, EntityPlan plan,
        TargetTables target, Action<long>? chunkBytes, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken, SourceTally? tally = null)
    {
        plan.Validator.Reset();
        var columns = plan.Mapper.Columns;
        // The UUIDs of the plan's tenant; a lookup's parent is not checked here, the run's rejects say which rows it refused.
        var keyMap = KeyMap.KeyMapScope.Unchecked(plan.Tenant);
        var sameInput = run.Source == manifest.DescribeSource();
        await using var source = await SourceReaders.OpenAsync(manifest, plan.Spec, null, cancellationToken).ConfigureAwait(false);
        if (tally is not null)
            tally.Origin = source.Origin;
        await using var rejected = (sameInput ? target.RejectedLinesAsync(plan.Spec.Name, plan.Tenant, run.RunId, cancellationToken) : AsyncEnumerable.Empty<long>())
            .GetAsyncEnumerator(cancellationToken);
        var nextRejected = await rejected.MoveNextAsync().ConfigureAwait(false) ? rejected.Current : long.MaxValue;
        var issues = new List<Contracts.ValidationIssue>();
        var values = new object?[columns.Count];
        await foreach (var record in ReadAhead.RowsAsync(source, 1024, cancellationToken, chunkBytes).ConfigureAwait(false))
        {
            if (tally is not null)
                tally.RowsRead++;
            while (nextRejected < record.Line)
                nextRejected = await rejected.MoveNextAsync().ConfigureAwait(false) ? rejected.Current : long.MaxValue;
            var rejectedByRun = nextRejected == record.Line;
            issues.Clear();
            object?[]? mapped = null;
            if (record.Problem is null)
            {
                plan.Validator.Validate(record.Values, record.Line, issues);
                if (!issues.Exists(i => i.RejectsRow))
                {
                    mapped = values;
                    Array.Clear(mapped);
                    if (!plan.Mapper.TryMapValues(record.Values, mapped, issues, keyMap) || issues.Exists(i => i.RejectsRow))
                        mapped = null;
                    else
                        plan.Validator.Accept(record.Values, record.Line);
                }
            }
            if (mapped is null || rejectedByRun)
            {
                if (tally is not null)
                    tally.Rejected++;
                continue;
            }
            for (var i = 0; i < mapped.Length; i++)
                mapped[i] = CanonicalValues.Canon(columns[i].Type, mapped[i]);
            yield return mapped;
        }
    }

    private sealed class SourceTally
    {
        public string Origin { get; set; } = "";
        public long RowsRead { get; set; }
        public long Rejected { get; set; }
    }

    private static async Task<SourceSide> ReadSourceAsync(MigrationManifest manifest, RunRecord run, EntityPlan plan, TargetTables target,
        int partitions, string folder, long seed, LowestHashes sample, Action<long>? chunkBytes, CancellationToken cancellationToken)
    {
        var hasher = new RowHasher(plan.Mapper);
        var tally = new SourceTally();
        long accepted = 0;
        var keyText = new KeyBuffer();
        using (var spill = new Spill(folder, Spill.Source, partitions, seed))
        {
            await foreach (var values in AcceptedRowsAsync(manifest, run, plan, target, chunkBytes, cancellationToken, tally).ConfigureAwait(false))
            {
                accepted++;
                var key = keyText.Of(values, plan.Mapper.KeyColumns);
                spill.Write(key, hasher.Hash(values));
                sample.Offer(key, values);
            }
        }
        // Duplicate keys are counted when the partitions are joined; the reader learns them there.
        return new SourceSide(tally.Origin, tally.RowsRead, accepted, tally.Rejected, 0);
    }

    /// <summary>
    /// Streams the target table: with <paramref name="partitions"/> &gt; 0 spills every row's key and hash;
    /// offers every row to <paramref name="lowest"/>; fills in the values of the keys in <paramref name="wanted"/>.
    /// </summary>
    private static async Task ReadTargetAsync(EntityPlan plan, TargetTables target, int partitions, string folder, long seed,
        LowestHashes? lowest, Dictionary<string, object?[]?>? wanted, CancellationToken cancellationToken)
    {
        var hasher = new RowHasher(plan.Mapper);
        using var spill = partitions > 0 ? new Spill(folder, Spill.Target, partitions, seed) : null;
        var keyText = new KeyBuffer();
        var wantedByText = wanted?.GetAlternateLookup<ReadOnlySpan<char>>();
        await foreach (var values in target.RowsAsync(plan, cancellationToken).ConfigureAwait(false))
        {
            if (!HasKey(values, plan.Mapper.KeyColumns))
                continue; // a row of the user's own with no business key: no source row can be it
            var key = keyText.Of(values, plan.Mapper.KeyColumns);
            spill?.Write(key, hasher.Hash(values));
            lowest?.Offer(key, values);
            if (wantedByText is { } lookup && lookup.TryGetValue(key, out var text, out _))
                wanted![text] = (object?[])values.Clone();
        }
    }

    private static bool HasKey(object?[] values, IReadOnlyList<int> keyColumns)
    {
        for (var i = 0; i < keyColumns.Count; i++)
            if (values[keyColumns[i]] is null)
                return false;
        return true;
    }

    /// <summary>
    /// Joins source and target partition by partition, one partition a core at a time (each holds one
    /// partition's source keys in memory). The keys listed are those a join of the partitions in order
    /// would list: each partition keeps its first <paramref name="listLimit"/>, merged in partition order.
    /// </summary>
    private static ChecksumResult Join(int partitions, string folder, int listLimit, List<string> missingKeys, List<string> differingKeys, out long duplicates)
    {
        var joined = new PartitionJoin[partitions];
        // Each worker keeps its table from one partition to the next: partitions are alike in
        // size, and memory the collector hands out again costs less than memory fresh from the system.
        Parallel.For(0, partitions, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
            () => new Dictionary<UInt128, (long Hash, long Text)>(),
            (p, _, source) =>
            {
                joined[p] = JoinPartition(folder, p, listLimit, source);
                return source;
            },
            _ => { });
        duplicates = 0;
        long sourceRows = 0, targetRows = 0, missing = 0, differing = 0, onlyInTarget = 0;
        ulong sourceSum = 0, targetSum = 0;
        foreach (var part in joined)
        {
            duplicates += part.Duplicates;
            sourceRows += part.SourceRows;
            targetRows += part.TargetRows;
            missing += part.Missing;
            differing += part.Differing;
            onlyInTarget += part.OnlyInTarget;
            sourceSum = unchecked(sourceSum + part.SourceSum);
            targetSum = unchecked(targetSum + part.TargetSum);
            missingKeys.AddRange(part.MissingKeys.Take(listLimit - missingKeys.Count));
            differingKeys.AddRange(part.DifferingKeys.Take(listLimit - differingKeys.Count));
        }
        return new ChecksumResult(sourceRows, sourceSum.ToString("x16", CultureInfo.InvariantCulture), targetRows,
            targetSum.ToString("x16", CultureInfo.InvariantCulture), missing, differing, onlyInTarget);
    }

    private sealed record PartitionJoin(long Duplicates, long SourceRows, long TargetRows, long Missing, long Differing, long OnlyInTarget,
        ulong SourceSum, ulong TargetSum, List<string> MissingKeys, List<string> DifferingKeys);

    /// <param name="source">The worker's table of the source's keys, kept from one partition to the next.</param>
    private static PartitionJoin JoinPartition(string folder, int partition, int listLimit, Dictionary<UInt128, (long Hash, long Text)> source)
    {
        long duplicates = 0, targetRows = 0, differing = 0, onlyInTarget = 0;
        ulong sourceSum = 0, targetSum = 0;
        var differingKeys = new List<string>();
        // The source's keys by digest; a key's text stays in the file until a list names it.
        using var sourceFile = Spill.OpenSource(folder, partition);
        source.Clear();
        foreach (var (digest, hash, text) in sourceFile.Records())
        {
            if (source.ContainsKey(digest))
                duplicates++;
            source[digest] = (hash, text); // the last row of a key is the one an upsert kept
        }
        foreach (var (hash, _) in source.Values)
            sourceSum = unchecked(sourceSum + (ulong)hash);
        var sourceRows = (long)source.Count;
        foreach (var (digest, hash) in Spill.Digests(folder, Spill.Target, partition))
        {
            if (!source.Remove(digest, out var expected))
            {
                onlyInTarget++;
                continue;
            }
            targetRows++;
            targetSum = unchecked(targetSum + (ulong)hash);
            if (hash != expected.Hash)
            {
                differing++;
                if (differingKeys.Count < listLimit)
                    differingKeys.Add(sourceFile.Text(expected.Text));
            }
        }
        var missingKeys = source.Values.Select(v => sourceFile.Text(v.Text)).Order(StringComparer.Ordinal).Take(listLimit).ToList();
        return new PartitionJoin(duplicates, sourceRows, targetRows, source.Count, differing, onlyInTarget, sourceSum, targetSum, missingKeys, differingKeys);
    }

    /// <summary>What the run did with the plan's entity and tenant; null if it did not load it.</summary>
    private static EntityCounts? CountsOf(RunRecord run, EntityPlan plan) =>
        run.Entities.FirstOrDefault(e => e.Entity == plan.Spec.Name && e.Tenant == plan.Tenant)?.Counts;

    /// <summary>One column's orphan check: its result, or why it could not be made.</summary>
    private sealed record OrphanCheck(string Column, OrphanResult? Result, string? Error);

    /// <summary>The orphan checks of each plan, in order, over a connection of their own.</summary>
    private static async Task<List<List<OrphanCheck>>> OrphansAsync(MigrationManifest manifest, List<EntityPlan> plans, TargetTables target,
        ReconcileOptions options, CancellationToken cancellationToken)
    {
        var all = new List<List<OrphanCheck>>();
        foreach (var plan in plans)
        {
            var checks = new List<OrphanCheck>();
            all.Add(checks);
            foreach (var column in plan.Spec.Columns.Where(c => c.References is not null))
            {
                var reference = column.References!;
                var parent = manifest.Entities.First(e => e.Name == reference.Entity);
                try
                {
                    var (count, examples) = await target.OrphansAsync(plan, column.Target, parent, reference.Column, options.ListLimit, cancellationToken).ConfigureAwait(false);
                    checks.Add(new OrphanCheck(column.Target, new OrphanResult(column.Target, parent.Name, target.Describe(parent.Table), reference.Column, count, examples), null));
                }
                catch (System.Data.Common.DbException ex)
                {
                    checks.Add(new OrphanCheck(column.Target, null, SecretMasker.Scrub(ex.Message)));
                }
            }
        }
        return all;
    }

    /// <summary>
    /// The rows whose keys hash lowest under a seed, at most <c>size</c> of them (a bottom-k sample): with a
    /// random seed, a uniform random sample of the keys offered, and two sides that hold the same keys keep
    /// the same ones, each without waiting for the other. A key offered again keeps its last values.
    /// </summary>
    private sealed class LowestHashes(int size, long seed)
    {
        private readonly Dictionary<string, (ulong Hash, object?[] Values)> rows = new(StringComparer.Ordinal);
        private readonly PriorityQueue<string, ulong> highestFirst = new(Comparer<ulong>.Create((a, b) => b.CompareTo(a)));

        public IEnumerable<(string Key, object?[] Values)> Rows => rows.Select(r => (r.Key, r.Value.Values));

        /// <summary>Offers a row; the key and values are copied if the row is kept (the caller may reuse them).</summary>
        public void Offer(ReadOnlySpan<char> key, object?[] values)
        {
            if (size <= 0)
                return;
            var hash = Hash(key);
            // Most keys hash above every kept one once the sample is full: none of those is kept, so no lookup.
            if (rows.Count == size && highestFirst.TryPeek(out _, out var top) && hash > top)
                return;
            var byText = rows.GetAlternateLookup<ReadOnlySpan<char>>();
            if (byText.TryGetValue(key, out var text, out var kept))
            {
                rows[text] = (kept.Hash, (object?[])values.Clone());
                return;
            }
            if (rows.Count == size)
            {
                if (!highestFirst.TryPeek(out _, out var highest) || hash >= highest)
                    return;
                rows.Remove(highestFirst.Dequeue());
            }
            text = key.ToString();
            rows[text] = (hash, (object?[])values.Clone());
            highestFirst.Enqueue(text, hash);
        }

        public object?[]? Get(string key) => rows.TryGetValue(key, out var kept) ? kept.Values : null;

        /// <summary>Whether this side has seen <paramref name="key"/> if it has it: kept, or hashing lower than all it kept.</summary>
        public bool Holds(string key) =>
            rows.ContainsKey(key) || rows.Count < size || (highestFirst.TryPeek(out _, out var highest) && Hash(key) < highest);

        private ulong Hash(ReadOnlySpan<char> key) => XxHash3.HashToUInt64(System.Runtime.InteropServices.MemoryMarshal.AsBytes(key), seed);
    }

    /// <summary>
    /// Keys and hashes written to one file per partition (chosen by a hash of the key). A key is known by
    /// a 128-bit XXH3 digest of its text under the reconciliation's random seed, so the join compares
    /// numbers, not strings, and keys cannot be chosen to collide; the source side also writes the key's
    /// text, which the join reads again only for the keys a report lists (missing or differing).
    /// </summary>
    private sealed class Spill : IDisposable
    {
        public const string Source = "source", Target = "target";

        private readonly BinaryWriter[] writers;
        private readonly long seed;
        private readonly bool withText;

        public Spill(string folder, string side, int partitions, long seed)
        {
            this.seed = seed;
            withText = side == Source;
            writers = new BinaryWriter[partitions];
            for (var p = 0; p < partitions; p++)
                writers[p] = new BinaryWriter(new FileStream(PathOf(folder, side, p), FileMode.Create, FileAccess.Write, FileShare.None, 64 * 1024), Encoding.UTF8);
        }

        public void Write(ReadOnlySpan<char> key, long hash)
        {
            var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(key);
            var digest = XxHash128.HashToUInt128(bytes, seed);
            // The partition by a hash of the key alone, the same in every reconciliation: a report that lists
            // some of many differing keys lists the same ones each time.
            var writer = writers[writers.Length == 1 ? 0 : (int)(XxHash3.HashToUInt64(bytes) % (ulong)writers.Length)];
            writer.Write((ulong)digest);
            writer.Write((ulong)(digest >> 64));
            writer.Write(hash);
            if (withText)
            {
                // As BinaryWriter.Write(string) writes it, for BinaryReader.ReadString: UTF-8 after its length.
                writer.Write7BitEncodedInt(Encoding.UTF8.GetByteCount(key));
                writer.Write(key);
            }
        }

        /// <summary>A source partition's file, read record by record; a key's text is read again by where it lies.</summary>
        public static SourceFile OpenSource(string folder, int partition) => new(PathOf(folder, Source, partition));

        public sealed class SourceFile(string path) : IDisposable
        {
            private readonly FileStream file = new(path, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024);

            /// <summary>Digest, hash, and the position of the key's text (its length prefix), in file order.</summary>
            public IEnumerable<(UInt128 Digest, long Hash, long Text)> Records()
            {
                using var reader = new BinaryReader(file, Encoding.UTF8, leaveOpen: true);
                var length = file.Length;
                while (file.Position < length)
                {
                    var low = reader.ReadUInt64();
                    var high = reader.ReadUInt64();
                    var hash = reader.ReadInt64();
                    var text = file.Position;
                    var bytes = reader.Read7BitEncodedInt();
                    file.Seek(bytes, SeekOrigin.Current); // within the stream's buffer: no read from the file
                    yield return (new UInt128(high, low), hash, text);
                }
            }

            /// <summary>The key's text written at <paramref name="position"/>, once <see cref="Records"/> is read through.</summary>
            public string Text(long position)
            {
                file.Position = position;
                using var reader = new BinaryReader(file, Encoding.UTF8, leaveOpen: true);
                return reader.ReadString();
            }

            public void Dispose() => file.Dispose();
        }

        /// <summary>
        /// The records of a target partition, streamed: the table may hold many more rows than the source
        /// (rows the source does not have), so its partitions are not sized by the run's counts.
        /// </summary>
        public static IEnumerable<(UInt128 Digest, long Hash)> Digests(string folder, string side, int partition)
        {
            using var reader = new BinaryReader(new FileStream(PathOf(folder, side, partition), FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024));
            // The length once: asking the stream for it asks the file system (an fstat per row).
            var length = reader.BaseStream.Length;
            for (var position = 0L; position < length; position += 24)
            {
                var low = reader.ReadUInt64();
                var high = reader.ReadUInt64();
                yield return (new UInt128(high, low), reader.ReadInt64());
            }
        }

        private static string PathOf(string folder, string side, int partition) => Path.Combine(folder, $"{side}-{partition}.bin");

        public void Dispose()
        {
            foreach (var writer in writers)
                writer.Dispose();
        }
    }
}
