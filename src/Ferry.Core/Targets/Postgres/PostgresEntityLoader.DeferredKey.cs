using Ferry.Engine;
using Ferry.Manifest;
using static Ferry.Targets.Postgres.PostgresValues;

namespace Ferry.Targets.Postgres;

/// <summary>
/// The primary key of a table Ferry creates for an entity whose key is its <c>uuid: legacy</c> column,
/// built once the entity's rows are in rather than kept up row by row. Such UUIDs are spread evenly
/// over the key's range, so each row COPYed into a keyed table updated a page of its own somewhere
/// in the index, and once the index outgrew the server's buffers that cost more than the COPY itself
/// (3,000,000 rows: 34 s keyed as they came, 15 s without a key plus 4 s to build it).
/// </summary>
/// <remarks>
/// <para>The key is safe to defer only while no key can repeat: the UUID is a function of the legacy
/// key, so a row whose legacy key the key map holds already, or that repeats within its batch, could.
/// Such a batch, or a COPY the table refuses, builds the key first, in the batch's transaction, and the
/// entity goes on as any other.</para>
/// <para>A row in <c>ferry.deferred_keys</c>, written with the table, says the key is still to be built:
/// the entity's end builds it and deletes the row in one transaction; a run interrupted before that
/// leaves both, and the next run into the table builds the key before it writes anything.</para>
/// <para>Only without tenants (lanes share the table), outside a dry run or a replace (one transaction),
/// and on PostgreSQL 14 or later, whose TID range scan finds a COPY's row version without the key.</para>
/// </remarks>
internal sealed partial class PostgresEntityLoader
{
    private bool keyDeferred;       // the table's primary key is not built yet; batches go straight in while no key can repeat
    private uint copyFromBlock;     // the table's last block before the next COPY: its rows are at or after it
    private readonly HashSet<string> batchLegacyKeys = new(StringComparer.Ordinal);

    /// <summary>Whether the table this entity is about to create may have its key built at the end.</summary>
    private bool MayDeferKey() =>
        keys.Count == (plan.TenantColumn is null ? 1 : 2) && keys[^1].UuidFromLegacy && (plan.TenantColumn is null || keys[0].Target == plan.TenantColumn)
        && plan.Spec.LegacyKey is not null && !outer && plan.Spec.Mode is LoadMode.Upsert or LoadMode.Insert
        && connection.PostgreSqlVersion >= new Version(14, 0);

    private string KeyColumns => string.Join(", ", keys.Select(c => Quote(c.Target)));

    /// <summary>
    /// Creates the table without its key and records that the key is to be built, in one transaction.
    /// With tenants another lane may have made it a moment before: the key is then this run's to defer too.
    /// </summary>
    private async Task CreateTableDeferringKeyAsync(CancellationToken cancellationToken)
    {
        var definitions = columns.Select(c => $"{Quote(c.Target)} {ColumnType(c.Type)}{(keys.Contains(c) ? " NOT NULL" : "")}");
        await ExecuteAsync($"""
            BEGIN;
            SELECT pg_advisory_xact_lock({PostgresLedgerSchema.DdlLock});
            CREATE SCHEMA IF NOT EXISTS {Quote(target.Schema)};
            CREATE TABLE IF NOT EXISTS {table} ({string.Join(", ", definitions)});
            INSERT INTO ferry.deferred_keys (target_schema, target, key_columns, run_id, entity)
            SELECT @schema, @target, @keys, @run, @entity WHERE NOT EXISTS (SELECT FROM pg_index WHERE indrelid = '{Literal(table)}'::regclass AND indisprimary)
            ON CONFLICT (target_schema, target) DO UPDATE SET key_columns = EXCLUDED.key_columns, run_id = EXCLUDED.run_id, entity = EXCLUDED.entity;
            COMMIT;
            """, cancellationToken, ("schema", target.Schema), ("target", plan.Spec.Table), ("keys", keys.Select(c => c.Target).ToArray())).ConfigureAwait(false);
        // Deferred by this run (a row in ferry.deferred_keys); otherwise another lane has built the key already.
        await BuildKeyLeftDeferredAsync(cancellationToken).ConfigureAwait(false);
    }

    private static string Literal(string text) => text.Replace("'", "''", StringComparison.Ordinal);

    /// <summary>
    /// For a table that exists without its key: defers it too when this run deferred it (another tenant's
    /// lane made the table, or this run is resumed); builds it now when an earlier run left it unbuilt;
    /// false when no run deferred it.
    /// </summary>
    private async Task<bool> BuildKeyLeftDeferredAsync(CancellationToken cancellationToken)
    {
        string[]? deferredColumns = null;
        long deferredBy = 0;
        await using (var marker = Command("SELECT key_columns, run_id FROM ferry.deferred_keys WHERE target_schema = @schema AND target = @target",
                         ("schema", target.Schema), ("target", plan.Spec.Table)))
        await using (var reader = await marker.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                (deferredColumns, deferredBy) = (reader.GetFieldValue<string[]>(0), reader.GetInt64(1));
        if (deferredColumns is null)
            return false;
        if (!deferredColumns.Order(StringComparer.Ordinal).SequenceEqual(keys.Select(c => c.Target).Order(StringComparer.Ordinal)))
            throw new TargetException($"table {target.Schema}.{plan.Spec.Table} is waiting for its primary key on ({string.Join(", ", deferredColumns)}), which an earlier run deferred; entity '{plan.Spec.Name}' has key ({string.Join(", ", plan.Spec.Key)})");
        // This run deferred it (another tenant's lane, or before this run was interrupted): the last tenant
        // to complete the entity builds it. A key an earlier run left is built now, before anything is written.
        if (deferredBy == runId && MayDeferKey())
        {
            keyDeferred = true;
            copyFromBlock = 0;
            return true;
        }
        await ExecuteAsync($"BEGIN; {BuildKeySql} COMMIT;", cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>Builds the key in the open transaction (a batch's, or the entity's end), if it is still deferred.</summary>
    private async Task BuildDeferredKeyAsync(CancellationToken cancellationToken)
    {
        if (!keyDeferred)
            return;
        await ExecuteAsync(BuildKeySql, cancellationToken).ConfigureAwait(false);
        keyDeferred = false;
    }

    /// <summary>
    /// Builds the key and deletes its row in <c>ferry.deferred_keys</c>, unless another lane of the run did
    /// (the row is gone): the row is locked by the delete, so two lanes never build it both. The index is
    /// sorted once; more memory than the default 64 MB keeps a few million keys' sort off the disk.
    /// </summary>
    private string BuildKeySql => $"""
        {KeySortMemory}
        DO $ferry$ BEGIN {BuildKeyStatements} END $ferry$;
        """;

    private const string KeySortMemory = "SET LOCAL maintenance_work_mem = '256MB';";

    private string BuildKeyStatements => $"""
        DELETE FROM ferry.deferred_keys WHERE target_schema = '{Literal(target.Schema)}' AND target = '{Literal(plan.Spec.Table)}';
        IF FOUND AND NOT EXISTS (SELECT FROM pg_index WHERE indrelid = '{Literal(table)}'::regclass AND indisprimary) THEN
            ALTER TABLE {table} ADD PRIMARY KEY ({KeyColumns});
        END IF;
        """;

    /// <summary>
    /// The entity's end, for a deferred key, after its completion is recorded: without tenants the key is
    /// built; with them, once every tenant the run loads has completed the entity. Lanes that complete at
    /// the same moment take turns on the lock of the key's row in <c>ferry.deferred_keys</c>, and the
    /// count, taken after it, sees what the lanes before committed.
    /// </summary>
    private string CompleteDeferredKeySql => plan.Tenant is null ? BuildKeySql : $"""
        {KeySortMemory}
        SELECT FROM ferry.deferred_keys WHERE target_schema = @schema AND target = @target FOR UPDATE;
        DO $ferry$ BEGIN
            IF (SELECT count(*) FROM ferry.run_tenants WHERE run_id = {runId} AND entity = '{Literal(plan.Spec.Name)}' AND completed_at IS NOT NULL) >= {plan.TenantsInRun} THEN
                {BuildKeyStatements}
            END IF;
        END $ferry$;
        """;

    /// <summary>
    /// Whether the rows may go into the table while its key is deferred: none has a legacy key the key
    /// map holds (a row of an earlier batch or run) or one that repeats within the batch.
    /// </summary>
    private bool KeysCannotRepeat(List<BatchRow> rows)
    {
        batchLegacyKeys.Clear();
        foreach (var row in rows)
            if (row.Legacy is not { } entry || mapped!.Contains(entry.LegacyKey) || !batchLegacyKeys.Add(entry.LegacyKey))
                return false;
        return true;
    }

    /// <summary>
    /// The row version of a COPY's rows while the key is deferred: the row with the last key (in a block the
    /// COPY added, even while other tenants' lanes add blocks too), looked for
    /// in the blocks from the table's last one before the COPY (a TID range scan: there is no key to find
    /// it by), or in the whole table where it is not there; and the table's last block now, for the next COPY.
    /// </summary>
    private string DeferredVersionSql(string lastKey) => $"""
        SELECT ARRAY[coalesce(
            (SELECT t.xmin::text::bigint FROM {table} t WHERE t.ctid >= @fromTid::tid AND {KeyFromText("t", keys, lastKey)}),
            (SELECT t.xmin::text::bigint FROM {table} t WHERE {KeyFromText("t", keys, lastKey)})),
            greatest(pg_relation_size('{Literal(table)}') / current_setting('block_size')::bigint - 1, 0)]
        """;

    private (string Name, object? Value)[] DeferredVersionParameters => keyDeferred ? [("fromTid", $"({copyFromBlock},0)")] : [];
}
