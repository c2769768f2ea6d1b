using Ferry.Contracts;
using Ferry.Diagnostics;
using Ferry.Engine;
using Ferry.Manifest;
using Npgsql;
using NpgsqlTypes;
using static Ferry.Targets.Postgres.PostgresValues;

namespace Ferry.Targets.Postgres;

/// <summary>
/// Loads one entity into PostgreSQL. A batch lands as one record in <c>ferry.batches</c> (each
/// row's line and key; the rows to be corrected or looked at get a record of their own with their
/// raw values) and commits; then one transaction writes the rows and settles the record. Rows are
/// written by binary COPY straight into the table while it holds only this run's rows, and
/// otherwise through a temporary work table: the before-images of the rows about to change are
/// recorded, then <c>INSERT … ON CONFLICT</c> upserts. A crash at any instant leaves either the whole
/// batch with its checkpoint or none of it.
/// </summary>
/// <remarks>
/// Each batch record keeps each row's content hash and row version (its <c>xmin</c>). A re-run
/// compares its rows with the record the latest earlier run left at the same batch position and
/// skips those with the same key and hash, so unchanged rows cost no write at all. That holds while
/// the record is not stale: every update Ferry makes marks stale the records that listed the version
/// it replaces. Changes other programs make to the table are not seen by the skip.
/// </remarks>
internal sealed partial class PostgresEntityLoader : IEntityLoader
{
    private readonly PostgresTarget target;
    private readonly NpgsqlConnection connection;
    private readonly long runId;
    private readonly EntityPlan plan;
    private readonly IReadOnlyList<ColumnSpec> columns;
    private readonly IReadOnlyList<ColumnSpec> keys;
    private readonly string table, rowsTable, work;
    private readonly NpgsqlDbType[] copyTypes;
    private readonly bool outer; // a replace load or a dry run: batches are savepoints inside one transaction
    private readonly bool dryRun;
    private readonly StagingJson json = new();
    private readonly BatchArrays batchArrays = new();
    private string writeSql = "", captureSql = "", recaptureSql = "";
    private bool open;
    private string deferred = ""; // statements that go to the server ahead of the next one (Begin)
    private bool workDirty; // the work table holds rows from an earlier write in this transaction
    private bool batchCommitted; // the batch's record went with its COMMIT (WriteBatchAsync)
    private long written; // rows this loader inserted or updated: the table's statistics are gathered again after many (AnalyzeAsync)
    // Statements and parameters of the batch's writes that go to the server with its record (a COPY's undo entry).
    private string recordPrefix = "";
    private (string Name, object? Value)[] recordParameters = [];
    private bool direct;    // the table held none of the rows when the entity began: COPY straight into it until a key conflicts
    private KeyMap.LegacyKeySet.Growing? mapped; // the legacy keys the key map holds for this entity and tenant, and those this run added
    private (long RunId, string Entity)? prior; // the latest earlier run into this table, whose batch records can skip rows
    private const int PriorWindow = 16;
    private readonly Dictionary<int, byte[]?> priorDigests = [];
    private byte[]? priorRecord; // the digest of the prior run's record at this batch's position (without tenants)
    // Kept from batch to batch: at a batch's size their arrays are large objects, which only a full collection frees.
    private readonly Dictionary<string, long> foundVersions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, bool> writtenKeys = new(StringComparer.Ordinal);
    private readonly PriorBatch priorBatch = new();

    private PostgresEntityLoader(PostgresTarget target, long runId, EntityPlan plan, bool dryRun)
    {
        this.dryRun = dryRun;
        outer = dryRun || plan.Spec.Mode == LoadMode.Replace;
        this.target = target;
        connection = target.Connection;
        this.runId = runId;
        this.plan = plan;
        columns = plan.Mapper.Columns;
        keys = plan.Mapper.KeyColumns.Select(i => columns[i]).ToList();
        table = $"{Quote(target.Schema)}.{Quote(plan.Spec.Table)}";
        rowsTable = $"ferry.{Quote(PostgresLedgerSchema.StagingRows(plan.Spec.Name))}";
        work = Quote("ferry_work_" + plan.Spec.Name);
        copyTypes = columns.Select(c => CopyType(c.Type)).ToArray();
    }

    /// <summary>
    /// The statements that write a wave, once the target's own column types are known: the work
    /// table holds Ferry's types, and each value is cast to the target column's type, so a user's
    /// table with integer, varchar or text-for-uuid columns takes the rows as PostgreSQL would.
    /// </summary>
    private void BuildStatements(IReadOnlyDictionary<string, string> types)
    {
        if (plan.Spec.Mode == LoadMode.Scd2)
        {
            BuildHistoryStatements(types);
            return;
        }
        string From(string alias, ColumnSpec c) => $"{alias}.{Quote(c.Target)}::{types[c.Target]}";
        var list = string.Join(", ", columns.Select(c => Quote(c.Target)));
        var select = string.Join(", ", columns.Select(c => From("s", c)));
        if (keys.Count == 0)
        {
            writeSql = $"INSERT INTO {table} ({list}) SELECT {select} FROM {work} s ORDER BY ord";
            captureSql = recaptureSql = "";
            return;
        }
        var keyList = string.Join(", ", keys.Select(c => Quote(c.Target)));
        var others = columns.Where(c => !keys.Contains(c)).ToList();
        var conflict = plan.Spec.Mode != LoadMode.Upsert || others.Count == 0
            ? "DO NOTHING"
            : $"DO UPDATE SET {string.Join(", ", others.Select(c => $"{Quote(c.Target)} = EXCLUDED.{Quote(c.Target)}"))} " +
              $"WHERE ({string.Join(", ", others.Select(c => "t." + Quote(c.Target)))}) IS DISTINCT FROM ({string.Join(", ", others.Select(c => "EXCLUDED." + Quote(c.Target)))})";
        // The rows a wave inserted are kept for undo as one array of keys.
        writeSql = $"""
            WITH written AS (
                INSERT INTO {table} AS t ({list}) SELECT {select} FROM {work} s ORDER BY ord
                ON CONFLICT ({keyList}) {conflict}
                RETURNING {KeyText("t", keys)} AS k, (xmax = 0) AS inserted, t.xmin::text::bigint AS version
            ), undo AS (
                INSERT INTO ferry.undo (run_id, entity, batch_no, action, keys, tenant)
                SELECT @run, @entity, @batch, 'i', array_agg(k ORDER BY k COLLATE "C"), @tenant FROM written WHERE inserted HAVING count(*) > 0
            )
            SELECT k, inserted, version FROM written
            """;
        if (plan.Spec.Mode != LoadMode.Upsert || others.Count == 0)
        {
            captureSql = recaptureSql = "";
            return;
        }
        // Before the upsert: the images of the rows about to change go to the undo log (one array a
        // wave, in the byte order of their keys' texts, which sorts without the database's collation,
        // each image the row's own text, which takes the server a third of the time jsonb does), the batch
        // records that listed its version become stale, and the versions of the rows found equal are
        // returned, for this batch's record.
        string Capture(string again) => $"""
            WITH matched AS (
                SELECT {KeyText("t", keys)} AS k, t.xmin::text::bigint AS version,
                       ({string.Join(", ", others.Select(c => "t." + Quote(c.Target)))}) IS DISTINCT FROM ({string.Join(", ", others.Select(c => From("s", c)))}) AS changed,
                       t AS image
                FROM {table} t JOIN {work} s ON {string.Join(" AND ", keys.Select(c => $"t.{Quote(c.Target)} = {From("s", c)}"))}
            ), undo AS (
                INSERT INTO ferry.undo (run_id, entity, batch_no, action, keys, images, tenant)
                SELECT @run, @entity, @batch, 'u', array_agg(k ORDER BY k COLLATE "C"), array_agg(image::text ORDER BY k COLLATE "C"), @tenant
                FROM matched m WHERE changed{again} HAVING count(*) > 0
            ), stale AS (
                UPDATE ferry.batches SET stale = true
                WHERE NOT stale AND version_set && (SELECT array_agg(DISTINCT version) FROM matched WHERE changed)
            )
            SELECT k, version FROM matched WHERE NOT changed
            """;
        captureSql = Capture("");
        // A key repeated within a batch is written again by a later wave of the same batch: its image from
        // before the batch is the one already taken (or the batch inserted it), so none is taken again;
        // rollback could not tell two images of one batch apart.
        recaptureSql = Capture("""
             AND NOT EXISTS (SELECT FROM ferry.undo p WHERE p.run_id = @run AND p.entity = @entity AND p.batch_no = @batch
                                 AND m.k = ANY(p.keys))
            """.TrimEnd());
    }

    public static async Task<PostgresEntityLoader> CreateAsync(PostgresTarget target, long runId, EntityPlan plan, bool dryRun, CancellationToken cancellationToken)
    {
        var loader = new PostgresEntityLoader(target, runId, plan, dryRun);
        await loader.PrepareAsync(cancellationToken).ConfigureAwait(false);
        return loader;
    }

    private async Task PrepareAsync(CancellationToken cancellationToken)
    {
        var types = await EnsureTableAsync(cancellationToken).ConfigureAwait(false);
        BuildStatements(types);
        var workColumns = string.Join(", ", columns.Select(c => $"{Quote(c.Target)} {ColumnType(c.Type)}"));
        await ExecuteAsync($"""
            {(dryRun ? "" : "BEGIN;")}
            SELECT pg_advisory_xact_lock({PostgresLedgerSchema.DdlLock});
            {PostgresLedgerSchema.CreateStaging(plan.Spec.Name)}
            {(plan.Spec.Mode == LoadMode.Scd2 ? HistoryLedger : "")}
            INSERT INTO ferry.run_entities (run_id, entity, target, target_schema, mode, position) VALUES (@run, @entity, @target, @schema, @mode, @position) ON CONFLICT DO NOTHING;
            {(plan.Tenant is null ? "" : "INSERT INTO ferry.run_tenants (run_id, entity, tenant) VALUES (@run, @entity, @tenant) ON CONFLICT DO NOTHING;")}
            DELETE FROM {rowsTable} r USING ferry.batches b
                WHERE b.run_id = @run AND b.entity = @entity AND b.tenant IS NOT DISTINCT FROM @tenant AND b.state = 'landed' AND r.run_id = b.run_id AND r.batch_no = b.batch_no;
            DELETE FROM ferry.batches WHERE run_id = @run AND entity = @entity AND tenant IS NOT DISTINCT FROM @tenant AND state = 'landed';
            {(dryRun ? "" : "COMMIT;")}
            CREATE TEMP TABLE IF NOT EXISTS {work} (ord integer NOT NULL, {workColumns}{(plan.Spec.Mode == LoadMode.Scd2 ? ", act text, cur bigint" : "")}) ON COMMIT DELETE ROWS;
            """, cancellationToken, ("target", plan.Spec.Table), ("schema", target.Schema), ("mode", plan.Spec.Mode.ToString().ToLowerInvariant()), ("position", plan.Position)).ConfigureAwait(false);
        if (plan.Spec.Mode == LoadMode.Upsert && keys.Count > 0)
            prior = await PriorRunAsync(cancellationToken).ConfigureAwait(false);
        if (plan.Spec.LegacyKey is not null)
            mapped = new(await target.ReadLegacyKeysAsync(plan.Spec.Name, plan.Tenant ?? "", cancellationToken).ConfigureAwait(false));
        if (plan.Spec.Mode == LoadMode.Scd2)
            await BeginHistoryAsync(cancellationToken).ConfigureAwait(false);
        if (outer)
        {
            await ExecuteAsync(dryRun ? "SAVEPOINT ferry_entity" : "BEGIN", cancellationToken).ConfigureAwait(false);
            open = true;
        }
        if (plan.Spec.Mode == LoadMode.Replace)
        {
            // The table's contents before the replace are kept, so the run can be rolled back.
            var kept = $"ferry.{Quote($"replaced_{runId}_{plan.Spec.Name}")}";
            await ExecuteAsync($"""
                DROP TABLE IF EXISTS {kept};
                CREATE TABLE {kept} AS TABLE {table};
                INSERT INTO ferry.undo (run_id, entity, batch_no, action, business_key) VALUES (@run, @entity, 0, 'r', '');
                TRUNCATE {table};
                """, cancellationToken).ConfigureAwait(false);
        }
        // COPY writes Ferry's own binary types, so it goes straight into the table only where they are the columns' types.
        // With tenants, only this tenant's rows count: the others' are never this plan's to skip or conflict with.
        var empty = await ScalarAsync<bool>(plan.TenantColumn is null
            ? $"SELECT NOT EXISTS (SELECT FROM {table})"
            : $"SELECT NOT EXISTS (SELECT FROM {table} WHERE {Quote(plan.TenantColumn)} = @tenant)", cancellationToken).ConfigureAwait(false);
        direct = empty && plan.Spec.Mode != LoadMode.Scd2 && columns.All(c => SameType(types[c.Target], c.Type));
        // An empty table holds nothing an earlier run's records describe (someone emptied it): no row is skipped.
        if (empty)
            prior = null;
    }

    /// <param name="catalogType">As <see cref="ColumnTypesAsync"/> gives it: quoted where a keyword (<c>pg_catalog."numeric"</c>).</param>
    private static bool SameType(string catalogType, Manifest.ValueType type) =>
        catalogType == ColumnType(type) || catalogType.Replace("\"", "", StringComparison.Ordinal) == "pg_catalog." + type switch
        {
            Manifest.ValueType.Int => "int8",
            Manifest.ValueType.Decimal => "numeric",
            Manifest.ValueType.Real => "float8",
            Manifest.ValueType.Bool => "bool",
            Manifest.ValueType.Date => "date",
            Manifest.ValueType.DateTime => "timestamptz",
            Manifest.ValueType.Uuid => "uuid",
            _ => "text",
        };

    /// <summary>
    /// The latest other run that loaded this table, unless it was rolled back: its batch records say
    /// what it left in the table, row by row.
    /// </summary>
    private async Task<(long, string)?> PriorRunAsync(CancellationToken cancellationToken)
    {
        await using var command = NewCommand();
        command.CommandText = """
            SELECT e.run_id, e.entity, r.status FROM ferry.run_entities e JOIN ferry.runs r ON r.run_id = e.run_id
            WHERE e.target = @target AND e.target_schema IS NOT DISTINCT FROM @schema AND e.run_id <> @run
              AND (@tenant IS NULL OR EXISTS (SELECT FROM ferry.run_tenants t WHERE t.run_id = e.run_id AND t.entity = e.entity AND t.tenant = @tenant))
            ORDER BY e.run_id DESC LIMIT 1
            """;
        AddTenant(command);
        command.Parameters.AddWithValue("target", plan.Spec.Table);
        command.Parameters.AddWithValue("schema", target.Schema);
        command.Parameters.AddWithValue("run", runId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false) || reader.GetString(2) == "rolled_back")
            return null;
        return (reader.GetInt64(0), reader.GetString(1));
    }

    /// <summary>
    /// Creates the table from the mapping, or checks an existing one; returns each column's type there,
    /// by its catalog name and without its modifier (<c>pg_catalog."varchar"</c>, <c>pg_catalog.bpchar</c>):
    /// an explicit cast to <c>varchar(40)</c> or <c>character</c> (that is, <c>char(1)</c>) would cut a longer
    /// value silently, whereas the insert's own assignment to the column refuses it (and rounds numerics as
    /// PostgreSQL does).
    /// </summary>
    private async Task<Dictionary<string, string>> EnsureTableAsync(CancellationToken cancellationToken)
    {
        var existing = await ColumnTypesAsync(cancellationToken).ConfigureAwait(false);
        if (plan.Spec.Mode == LoadMode.Scd2)
            return await EnsureHistoryTableAsync(existing, cancellationToken).ConfigureAwait(false);
        if (existing.Count == 0 && MayDeferKey())
        {
            await CreateTableDeferringKeyAsync(cancellationToken).ConfigureAwait(false);
            return columns.ToDictionary(c => c.Target, c => ColumnType(c.Type));
        }
        if (existing.Count == 0)
        {
            var definitions = columns.Select(c => $"{Quote(c.Target)} {ColumnType(c.Type)}");
            var key = keys.Count > 0 ? $", PRIMARY KEY ({string.Join(", ", keys.Select(c => Quote(c.Target)))})" : "";
            // A key an earlier run deferred for a table of this name that is gone since is no longer to be built.
            await ExecuteAsync($"""
                CREATE SCHEMA IF NOT EXISTS {Quote(target.Schema)}; CREATE TABLE IF NOT EXISTS {table} ({string.Join(", ", definitions)}{key});
                DELETE FROM ferry.deferred_keys WHERE target_schema = @schema AND target = @target;
                """, cancellationToken, ("schema", target.Schema), ("target", plan.Spec.Table)).ConfigureAwait(false);
            return columns.ToDictionary(c => c.Target, c => ColumnType(c.Type));
        }
        var missing = columns.Where(c => !existing.ContainsKey(c.Target)).Select(c => c.Target).ToList();
        if (missing.Count > 0)
            throw new TargetException($"table {target.Schema}.{plan.Spec.Table} has no column {string.Join(", ", missing)}; add it or change the mapping of entity '{plan.Spec.Name}'");
        if (keys.Count == 0)
            return existing;
        // A key built by another tenant's lane between the first look and the deferred key's row (which the
        // build deletes as it commits the key) is there at the second look.
        if (!await HasUniqueKeyAsync(cancellationToken).ConfigureAwait(false)
            && !await BuildKeyLeftDeferredAsync(cancellationToken).ConfigureAwait(false)
            && !await HasUniqueKeyAsync(cancellationToken).ConfigureAwait(false))
            throw new TargetException($"table {target.Schema}.{plan.Spec.Table} has no primary key or unique index on ({string.Join(", ", plan.Spec.Key)}); entity '{plan.Spec.Name}' needs one to find rows by business key");
        return existing;
    }

    /// <summary>Whether the table has a primary key or a unique index on exactly the key columns.</summary>
    private async Task<bool> HasUniqueKeyAsync(CancellationToken cancellationToken)
    {
        await using var unique = NewCommand();
        unique.CommandText = """
            SELECT count(*) FROM pg_index i
            WHERE i.indrelid = (quote_ident(@schema) || '.' || quote_ident(@table))::regclass AND i.indisunique AND i.indpred IS NULL
              AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a
                   WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) = @keys
              AND i.indnkeyatts = cardinality(@keys)
            """;
        unique.Parameters.AddWithValue("schema", target.Schema);
        unique.Parameters.AddWithValue("table", plan.Spec.Table);
        unique.Parameters.AddWithValue("keys", keys.Select(c => c.Target).Order(StringComparer.Ordinal).ToArray());
        return (long)(await unique.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))! > 0;
    }

    private async Task<Dictionary<string, string>> ColumnTypesAsync(CancellationToken cancellationToken)
    {
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        await using var info = NewCommand();
        info.CommandText = """
            SELECT a.attname, format('%I.%I', n.nspname, t.typname) FROM pg_attribute a
            JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE a.attrelid = to_regclass(quote_ident(@schema) || '.' || quote_ident(@table)) AND a.attnum > 0 AND NOT a.attisdropped
            """;
        info.Parameters.AddWithValue("schema", target.Schema);
        info.Parameters.AddWithValue("table", plan.Spec.Table);
        await using var reader = await info.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            types[reader.GetString(0)] = reader.GetString(1);
        return types;
    }


    public async Task<EntityCounts> LoadBatchAsync(Batch batch, CancellationToken cancellationToken)
    {
        StageId.Check(plan.Spec.Name, runId, batch.Number);
        var counts = new EntityCounts { RowsRead = batch.Rows.Count };
        var versions = new long?[batch.Rows.Count];
        priorRecord = null;
        if (prior is not null && batch.Rows.Count > 0)
            await SkipUnchangedAsync(batch, versions, cancellationToken).ConfigureAwait(false);
        // A batch with rows to write lands first, so that they show as pending until they are loaded;
        // one with nothing to write (every row unchanged or rejected) is recorded settled at once.
        // The preparing task may have landed it already (OpenLanding).
        var land = batch.Landed || (plan.Spec.Staging && batch.Rows.Any(r => r.ToWrite));
        if (land && !batch.Landed)
        {
            Begin("ferry_land");
            try
            {
                // The landing need not wait for its own flush to disk (see the batch's commit below):
                // lost in a crash of the server, it would only be cleared and landed again by the resumed run.
                if (!outer)
                    SetLocal("synchronous_commit = off");
                // Without rows of its own to stage, the record commits in the same round trip.
                var stage = batch.Rows.Any(r => r.HasIssues);
                await ExecuteAsync($"""
                    {LandingSql}
                    {(stage ? "" : CommitSql("ferry_land"))}
                    """, cancellationToken, LandingParameters(batch, batchArrays)).ConfigureAwait(false);
                if (stage)
                {
                    await StageRowsAsync(batch, r => r.HasIssues, _ => "pending", cancellationToken).ConfigureAwait(false);
                    await CommitAsync("ferry_land", cancellationToken).ConfigureAwait(false);
                }
            }
            catch
            {
                await AbortAsync("ferry_land").ConfigureAwait(false);
                throw;
            }
        }
        FaultInjection.Point("postgres.after-land", batch.Number);

        await CommitBatchAsync(batch.Number, async () =>
        {
            await WriteBatchAsync(batch, counts, versions, land, cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
        written += counts.Inserted + counts.Updated;
        return counts;
    }

    /// <summary>
    /// The batch's transaction: <paramref name="write"/> in it, then the commit; false, with the
    /// transaction undone, when <paramref name="write"/> says there is nothing to commit.
    /// </summary>
    private async Task<bool> CommitBatchAsync(int number, Func<Task<bool>> write, CancellationToken cancellationToken)
    {
        BeginBatch();
        try
        {
            var wrote = await write().ConfigureAwait(false);
            if (batchCommitted)
            {
                // The write's last statement committed, whether it found something to write or not.
                if (!outer)
                    workDirty = false; // ON COMMIT DELETE ROWS has emptied it
            }
            else if (!wrote)
            {
                await AbortAsync("ferry_batch").ConfigureAwait(false);
            }
            else
            {
                FaultInjection.Point("postgres.before-commit", number);
                await CommitAsync("ferry_batch", cancellationToken).ConfigureAwait(false);
            }
            if (!wrote)
                return false;
        }
        catch
        {
            await AbortAsync("ferry_batch").ConfigureAwait(false);
            throw;
        }
        FaultInjection.Point("postgres.after-commit", number);
        return true;
    }

    /// <summary>Begins the batch's transaction (a savepoint in a dry run or a replace): sent with the statement that follows.</summary>
    private void BeginBatch()
    {
        Begin("ferry_batch");
        batchCommitted = false;
        recordPrefix = "";
        recordParameters = [];
        // The commit need not wait for the disk: the batch's rows, undo entries and checkpoint
        // commit together, so a crash of the server that loses the commit loses all of them, and
        // the resumed run loads the batch again, exactly once. The run's end (RunLedger.FinishAsync)
        // does wait, and so flushes every batch before it: a finished run is as durable as one
        // transaction would be. A 2,000,000-row first load took 21.2-21.6 s waiting for the disk
        // at each of its 400 commits, 16.5-18.2 s without (three of each, alternating).
        if (!outer)
            SetLocal("synchronous_commit = off");
    }

    /// <summary>
    /// The digest of batch record <c>b</c>, if it has one: its own, or that of the record it was
    /// copied from (<c>digest_run</c>). A batch taken unchanged refers to the digest instead of
    /// copying it: it was 120 KB of the 200 KB the server wrote for a 5,000-row batch.
    /// </summary>
    private const string DigestSql = """
        SELECT b.digest WHERE b.digest IS NOT NULL
        UNION ALL
        SELECT o.digest FROM ferry.batches o
        WHERE b.digest IS NULL AND o.run_id = b.digest_run AND o.entity = b.digest_entity AND o.batch_no = b.batch_no AND o.digest IS NOT NULL
        """;

    /// <summary>Marks unchanged the rows the prior run's record at this batch position holds with the same key and hash.</summary>
    private async Task SkipUnchangedAsync(Batch batch, long?[] versions, CancellationToken cancellationToken)
    {
        if (plan.Tenant is not null)
        {
            // A tenant's batches are numbered among the other tenants' of the entity: its position is
            // where it starts in the tenant's own source.
            await using var record = Command($"""
                SELECT d.digest FROM ferry.batches b CROSS JOIN LATERAL ({DigestSql}) d
                WHERE b.run_id = @prior AND b.entity = @priorEntity AND b.tenant = @tenant AND b.first_line = @first
                  AND b.state = 'committed' AND NOT b.stale
                LIMIT 1
                """, ("prior", prior!.Value.RunId), ("priorEntity", prior.Value.Entity), ("first", batch.FirstLine));
            if (await record.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is byte[] found)
                priorBatch.Load(found).MarkUnchanged(batch.Rows, versions);
            return;
        }
        if (!priorDigests.ContainsKey(batch.Number))
        {
            // Records are fetched a window of batches at a time: one round trip for many batches, and
            // no more of them in memory than the window.
            priorDigests.Clear();
            await using var command = NewCommand();
            command.CommandText = $"""
                SELECT b.batch_no, d.digest FROM ferry.batches b CROSS JOIN LATERAL ({DigestSql}) d
                WHERE b.run_id = @run AND b.entity = @entity AND b.batch_no BETWEEN @from AND @to AND b.state = 'committed' AND NOT b.stale
                """;
            command.Parameters.AddWithValue("run", prior!.Value.RunId);
            command.Parameters.AddWithValue("entity", prior.Value.Entity);
            command.Parameters.AddWithValue("from", batch.Number);
            command.Parameters.AddWithValue("to", batch.Number + PriorWindow - 1);
            for (var b = batch.Number; b < batch.Number + PriorWindow; b++)
                priorDigests[b] = null;
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                priorDigests[reader.GetInt32(0)] = reader.GetFieldValue<byte[]>(1);
        }
        if (priorDigests.Remove(batch.Number, out var digest) && digest is not null)
        {
            priorBatch.Load(digest).MarkUnchanged(batch.Rows, versions);
            priorRecord = digest;
        }
    }

    private async Task WriteBatchAsync(Batch batch, EntityCounts counts, long?[] versions, bool landed, CancellationToken cancellationToken)
    {
        var pending = new List<BatchRow>(batch.Rows.Count);
        foreach (var row in batch.Rows)
            if (row.ToWrite)
                pending.Add(row);
        var found = foundVersions; // key → version, of rows written or found equal by the work table's upsert
        found.Clear();
        if (keyDeferred && !(direct && KeysCannotRepeat(pending)))
            await BuildDeferredKeyAsync(cancellationToken).ConfigureAwait(false);
        (bool Done, long? Version) copied = default;
        if (!direct || pending.Count == 0 || !(copied = await TryCopyAsync(batch.Number, pending, landed && pending.Count == batch.Rows.Count, cancellationToken).ConfigureAwait(false)).Done)
        {
            // The work table's upsert finds rows by their key.
            await BuildDeferredKeyAsync(cancellationToken).ConfigureAwait(false);
            var waves = Waves(pending);
            for (var w = 0; w < waves.Count; w++)
                await WriteWaveAsync(batch.Number, waves[w], w > 0, found, cancellationToken).ConfigureAwait(false);
        }
        for (var i = 0; i < batch.Rows.Count; i++)
        {
            var row = batch.Rows[i];
            if (row.Rejected)
                row.Action = RowAction.Rejected;
            else if (versions[i] is null)
                // Every row a COPY wrote has the version of its one statement: no key is looked up.
                versions[i] = copied.Done ? (row.Action == RowAction.Inserted ? copied.Version : null)
                    : found.TryGetValue(row.Key!, out var version) ? version : null;
            counts.Tally(row);
        }
        var settleSql = await SettleRowsAsync(batch, landed, cancellationToken).ConfigureAwait(false);
        await RecordLegacyKeysAsync(batch, cancellationToken).ConfigureAwait(false);
        var digest = PriorBatch.Digest(batch.Rows, versions);
        if (await TryCopyPriorRecordAsync(batch, counts, digest, landed, cancellationToken).ConfigureAwait(false))
            return;
        // The batch's record goes in one round trip with what is left of its writes (a COPY's undo entry,
        // the staged rows' settling) and the commit.
        FaultInjection.Point("postgres.before-commit", batch.Number);
        batchCommitted = true;
        await ExecuteAsync($"""
            {recordPrefix}
            {settleSql}
            INSERT INTO ferry.batches AS b (run_id, entity, batch_no, first_line, last_line, rows_read, inserted, updated, unchanged, rejected, warnings,
                                            state, lines, keys, digest, source_digest, version_set, tenant)
            VALUES (@run, @entity, @batch, @first, @last, @read, @ins, @upd, @unch, @rej, @warn, 'committed', {LinesSql}, {KeysSql}, @digest, @sourceDigest, @versionSet, @tenant)
            ON CONFLICT (run_id, entity, batch_no) DO UPDATE SET inserted = @ins, updated = @upd, unchanged = @unch, rejected = @rej, warnings = @warn,
                state = 'committed', digest = @digest, digest_run = NULL, digest_entity = NULL, source_digest = @sourceDigest, version_set = @versionSet, committed_at = now();
            UPDATE ferry.run_entities SET rows_read = rows_read + @read, inserted = inserted + @ins, updated = updated + @upd,
                unchanged = unchanged + @unch, rejected = rejected + @rej, warnings = warnings + @warn
            WHERE run_id = @run AND entity = @entity;
            UPDATE ferry.run_tenants SET rows_read = rows_read + @read, inserted = inserted + @ins, updated = updated + @upd,
                unchanged = unchanged + @unch, rejected = rejected + @rej, warnings = warnings + @warn
            WHERE run_id = @run AND entity = @entity AND tenant = @tenant;
            {CommitSql("ferry_batch")};
            """, cancellationToken,
            [.. recordParameters, ("batch", batch.Number), ("first", batch.FirstLine), ("last", batch.LastLine), ("read", (int)counts.RowsRead),
            ("ins", (int)counts.Inserted), ("upd", (int)counts.Updated), ("unch", (int)counts.Unchanged), ("rej", (int)counts.Rejected),
            ("warn", (int)counts.Warnings), ("lines", plan.Spec.Staging && !landed ? batchArrays.Lines(batch.Rows) : null),
            .. landed ? BatchArrays.NoKeys : batchArrays.Keys(batch.Rows),
            ("digest", digest), ("sourceDigest", priorBatch.Skippable(batch.SourceDigest, digest)),
            ("versionSet", versions.Where(v => v is not null).Select(v => v!.Value).Distinct().ToArray())]).ConfigureAwait(false);
    }

    /// <summary>
    /// A batch whose every row is unchanged since the prior run's record at its position, in the same
    /// order and on the same lines, has that record's lines, keys, digest and versions: the server
    /// copies them instead of the client sending them again (a fifth of a 5,000-row re-run's time on
    /// the loading task). Row for row the digests are equal, every row's key hash among them; a batch
    /// on consecutive lines from the same first to the same last line has the same lines.
    /// </summary>
    private async Task<bool> TryCopyPriorRecordAsync(Batch batch, EntityCounts counts, byte[] digest, bool landed, CancellationToken cancellationToken)
    {
        if (priorRecord is null || landed || counts.Unchanged != batch.Rows.Count || counts.Warnings > 0
            || batch.LastLine - batch.FirstLine + 1 != batch.Rows.Count || !digest.AsSpan().SequenceEqual(priorRecord))
            return false;
        return await CopyPriorRecordAsync(batch, commit: false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The batch's record as a copy of the prior run's record at its position, if that is still there and not stale; false otherwise.</summary>
    /// <param name="commit">The copy is all the batch's transaction holds: the commit goes in the same
    /// round trip. A record found stale copies nothing, and committing nothing undoes nothing.</param>
    private async Task<bool> CopyPriorRecordAsync(Batch batch, bool commit, CancellationToken cancellationToken)
    {
        if (commit)
        {
            FaultInjection.Point("postgres.before-commit", batch.Number);
            batchCommitted = true;
        }
        await using var command = Command("""
            WITH copied AS (
                INSERT INTO ferry.batches AS b (run_id, entity, batch_no, first_line, last_line, rows_read, unchanged, state, lines, keys,
                                                digest_run, digest_entity, source_digest, version_set, tenant)
                SELECT @run, @entity, @batch, @first, @last, @read, @read, 'committed', CASE WHEN @staging THEN p.lines END, p.keys,
                       CASE WHEN p.digest IS NOT NULL THEN p.run_id ELSE p.digest_run END, CASE WHEN p.digest IS NOT NULL THEN p.entity ELSE p.digest_entity END,
                       @sourceDigest, p.version_set, @tenant
                FROM ferry.batches p
                WHERE p.run_id = @prior AND p.entity = @priorEntity AND p.batch_no = @batch AND p.first_line = @first AND p.last_line = @last
                  AND p.state = 'committed' AND NOT p.stale AND p.keys IS NOT NULL AND (p.lines IS NOT NULL OR NOT @staging)
                ON CONFLICT (run_id, entity, batch_no) DO UPDATE SET inserted = 0, updated = 0, unchanged = @read, rejected = 0, warnings = 0,
                    state = 'committed', digest = NULL, digest_run = EXCLUDED.digest_run, digest_entity = EXCLUDED.digest_entity,
                    source_digest = EXCLUDED.source_digest, version_set = EXCLUDED.version_set, committed_at = now()
                RETURNING 1
            ), entity_counts AS (
                UPDATE ferry.run_entities SET rows_read = rows_read + @read, unchanged = unchanged + @read
                WHERE run_id = @run AND entity = @entity AND EXISTS (SELECT FROM copied)
            ), tenant_counts AS (
                UPDATE ferry.run_tenants SET rows_read = rows_read + @read, unchanged = unchanged + @read
                WHERE run_id = @run AND entity = @entity AND tenant = @tenant AND EXISTS (SELECT FROM copied)
            )
            SELECT count(*) FROM copied;
            """ + (commit ? CommitSql("ferry_batch") : ""), ("batch", batch.Number), ("first", batch.FirstLine), ("last", batch.LastLine), ("read", batch.Rows.Count),
            ("staging", plan.Spec.Staging), ("prior", prior!.Value.RunId), ("priorEntity", prior.Value.Entity), ("sourceDigest", batch.SourceDigest));
        return await FirstValueAsync<long>(command, cancellationToken).ConfigureAwait(false) == 1;
    }

    /// <summary>
    /// Lands batches on the preparing task, over a connection of its own, while this one loads the batch
    /// before: only where every valid row will be written (no prior run to find rows unchanged by, no
    /// scd2 history) and each batch is a transaction of its own (not a dry run or a replace).
    /// </summary>
    public IBatchLanding? OpenLanding() =>
        prior is null && !outer && plan.Spec.Staging && plan.Spec.Mode != LoadMode.Scd2
            ? new PostgresLanding(target.Manifest, runId, plan, rowsTable)
            : null;

    public IPriorSource? OpenPriorSource() =>
        // A dry run's ledger may be made or upgraded inside its own transaction, which another connection cannot see.
        prior is not { } run || plan.SourceSeed is null || plan.Tenant is not null || dryRun
            ? null
            : new PostgresPriorSource(target.Manifest, run.RunId, run.Entity, plan.Spec.Staging);

    /// <summary>
    /// A batch the preparing task found equal, raw row for raw row, to the prior run's record at its
    /// position: that record, if it is still not stale, is copied as this batch's, in a transaction of
    /// its own, and every row counts unchanged. The copy's own condition is the check: a record made
    /// stale since it was compared (by this run's updates of an earlier batch) copies nothing.
    /// </summary>
    public async Task<EntityCounts?> TryLoadUnchangedAsync(Batch batch, CancellationToken cancellationToken)
    {
        if (prior is null || !batch.SourceUnchanged || batch.Rows.Count == 0)
            return null;
        StageId.Check(plan.Spec.Name, runId, batch.Number);
        FaultInjection.Point("postgres.source-unchanged", batch.Number);
        FaultInjection.Point("postgres.after-land", batch.Number);
        return await CommitBatchAsync(batch.Number, () => CopyPriorRecordAsync(batch, commit: !outer, cancellationToken), cancellationToken).ConfigureAwait(false)
            ? new EntityCounts { RowsRead = batch.Rows.Count, Unchanged = batch.Rows.Count }
            : null;
    }

    /// <summary>
    /// The key map gets the legacy key and UUID of every row the batch put in the table, found equal
    /// included, that it does not hold yet (a key already there keeps its entry): one row of
    /// <c>ferry.key_map_batches</c>, in the batch's transaction, so entries commit exactly with their rows.
    /// Which keys are new is known from the keys read when the entity began and those added since: no
    /// key is sent twice, and a re-run sends none.
    /// </summary>
    private async Task RecordLegacyKeysAsync(Batch batch, CancellationToken cancellationToken)
    {
        if (mapped is null)
            return;
        List<string>? legacyKeys = null;
        List<Guid>? uuids = null;
        foreach (var row in batch.Rows)
        {
            if (row.Action == RowAction.Rejected || row.Legacy is not { } entry || !mapped.Add(entry.LegacyKey))
                continue;
            (legacyKeys ??= []).Add(entry.LegacyKey);
            (uuids ??= []).Add(entry.Uuid);
        }
        if (legacyKeys is null)
            return;
        // A batch done again after a batch-range rollback finds its row there when the rollback kept
        // entries of rows it did not delete: the new keys join them.
        // Both go as one text each, split by the server (BatchArrays).
        await ExecuteAsync($"""
            INSERT INTO ferry.key_map_batches AS b (run_id, entity, tenant, batch_no, legacy_keys, uuids)
            VALUES (@run, @entity, @map_tenant, @batch, {BatchArrays.TextsSql("legacy_keys")}, string_to_array(@uuids, ',')::uuid[])
            ON CONFLICT (run_id, entity, batch_no) DO UPDATE SET legacy_keys = b.legacy_keys || EXCLUDED.legacy_keys, uuids = b.uuids || EXCLUDED.uuids
            """, cancellationToken, [("map_tenant", plan.Tenant ?? ""), ("batch", batch.Number), .. batchArrays.Texts("legacy_keys", legacyKeys),
            ("uuids", BatchArrays.Uuids(uuids!))]).ConfigureAwait(false);
    }

    private const string LinesSql = BatchArrays.LinesSql, KeysSql = BatchArrays.KeysSql;

    /// <summary>A batch's landed record: its rows' lines and keys (<see cref="LandingParameters"/> and the run's).</summary>
    internal const string LandingSql = $"""
        INSERT INTO ferry.batches (run_id, entity, batch_no, first_line, last_line, rows_read, state, lines, keys, tenant)
        VALUES (@run, @entity, @batch, @first, @last, @read, 'landed', {LinesSql}, {KeysSql}, @tenant);
        """;

    /// <summary>The parameters of <see cref="LandingSql"/> but the run's (<c>@run</c>, <c>@entity</c>, <c>@tenant</c>).</summary>
    internal static (string Name, object? Value)[] LandingParameters(Batch batch, BatchArrays batchArrays) =>
        [("batch", batch.Number), ("first", batch.FirstLine), ("last", batch.LastLine), ("read", batch.Rows.Count),
         ("lines", batchArrays.Lines(batch.Rows)), .. batchArrays.Keys(batch.Rows)];

    /// <summary>
    /// Copies the rows straight into the table, which held none of this run's keys when the entity
    /// began. A key already there (a repeat in the source, a row another program added) or a value
    /// the table refuses undoes the copy; the batch then goes through the work table, and so do
    /// the entity's later batches.
    /// </summary>
    /// <remarks>
    /// Every row of one COPY has the same version. When the COPY is the first write of the batch's own
    /// transaction (not a dry run's or a replace's savepoint, nothing sent before it, PostgreSQL 13 or
    /// later), that is the transaction's id, read as it begins; a COPY the table refuses undoes the
    /// transaction, which holds nothing else; and the undo entry goes with the batch's record: three
    /// round trips a batch fewer. Otherwise the COPY has a savepoint of its own, and one round trip
    /// releases it, writes the undo entry and reads the version from the COPY's last row.
    /// </remarks>
    /// <param name="keysLanded">The rows are the whole batch, whose landed record holds their keys in this order.</param>
    /// <returns>Whether the rows were copied, and then the version they have (none for a table without a key).</returns>
    private async Task<(bool Done, long? Version)> TryCopyAsync(int batch, List<BatchRow> rows, bool keysLanded, CancellationToken cancellationToken)
    {
        var first = !outer && Unsent("ferry_batch") && connection.PostgreSqlVersion >= new Version(13, 0);
        long version = 0;
        if (first)
        {
            await using var command = Command("SELECT pg_current_xact_id()::xid::text::bigint");
            version = await FirstValueAsync<long>(command, cancellationToken).ConfigureAwait(false);
        }
        else
            deferred += "SAVEPOINT ferry_copy;";
        try
        {
            await CopyAsync($"COPY {table} ({string.Join(", ", columns.Select(c => Quote(c.Target)))}) FROM STDIN (FORMAT BINARY)", batch, rows, ordinal: false, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ex.SqlState.StartsWith("22", StringComparison.Ordinal) || ex.SqlState.StartsWith("23", StringComparison.Ordinal))
        {
            if (first)
            {
                await AbortAsync("ferry_batch").ConfigureAwait(false);
                BeginBatch();
            }
            else
                await ExecuteAsync("ROLLBACK TO ferry_copy; RELEASE ferry_copy", cancellationToken).ConfigureAwait(false);
            direct = false;
            return (false, null);
        }
        foreach (var row in rows)
            row.Action = RowAction.Inserted;
        if (keys.Count == 0)
        {
            if (!first)
                await ExecuteAsync("RELEASE ferry_copy", cancellationToken).ConfigureAwait(false);
            return (true, null);
        }
        // Keys the batch's landed record holds are copied from it by the server rather than sent again.
        var (undoSql, undoParameters) = keysLanded
            ? ("""
               INSERT INTO ferry.undo (run_id, entity, batch_no, action, keys, tenant)
               SELECT @run, @entity, @batch, 'i', keys, @tenant FROM ferry.batches WHERE run_id = @run AND entity = @entity AND batch_no = @batch;
               """, [])
            : ($"""
               INSERT INTO ferry.undo (run_id, entity, batch_no, action, keys, tenant)
               VALUES (@run, @entity, @batch, 'i', {BatchArrays.TextsSql("undo_keys")}, @tenant);
               """, batchArrays.Texts("undo_keys", rows.ConvertAll(r => r.Key!)));
        if (first)
        {
            recordPrefix = undoSql;
            recordParameters = undoParameters;
        }
        else
        {
            await using var command = Command($"""
                RELEASE ferry_copy;
                {undoSql}
                {(keyDeferred ? DeferredVersionSql("@probe") : $"SELECT t.xmin::text::bigint FROM {table} t WHERE {KeyFromText("t", keys, "@probe")}")};
                """, [("batch", batch), ("probe", rows[^1].Key), .. undoParameters, .. DeferredVersionParameters]);
            if (keyDeferred)
            {
                var versionAndBlock = await FirstValueAsync<long[]>(command, cancellationToken).ConfigureAwait(false);
                version = versionAndBlock[0];
                copyFromBlock = (uint)versionAndBlock[1];
            }
            else
                version = await FirstValueAsync<long>(command, cancellationToken).ConfigureAwait(false);
        }
        return (true, version);
    }

    /// <summary>
    /// Splits a batch's valid rows so that no key repeats within a part: one statement may not
    /// change a row twice. A repeated key starts a new part, so later rows win, as in the source.
    /// </summary>
    private List<List<BatchRow>> Waves(List<BatchRow> rows)
    {
        var waves = new List<List<BatchRow>> { new() };
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var row in rows)
        {
            if (row.Rejected)
                continue;
            if (keys.Count > 0 && !seen.Add(row.Key!))
            {
                waves.Add([]);
                seen.Clear();
                seen.Add(row.Key!);
            }
            waves[^1].Add(row);
        }
        return waves;
    }

    private async Task WriteWaveAsync(int batch, List<BatchRow> rows, bool again, Dictionary<string, long> found, CancellationToken cancellationToken)
    {
        if (rows.Count == 0)
            return;
        // A wave's statements join the work table, refilled for every wave, with the target: each is
        // planned for the rows it has this time rather than once for all, as the connection's prepared
        // statements would be (PostgresTarget.AutoPrepared). A 200,000-row every-row-changed run took
        // 7.1-7.7 s with plans made once against 5.9-6.2 s (three of each, alternated).
        // (plan_cache_mode is PostgreSQL 12's.) Set before the savepoint, it holds for the row-by-row writes below too.
        if (connection.PostgreSqlVersion >= new Version(12, 0))
            SetLocal("plan_cache_mode = force_custom_plan");
        await ExecuteAsync("SAVEPOINT ferry_wave", cancellationToken).ConfigureAwait(false);
        try
        {
            await WriteAsync(batch, rows, again, found, cancellationToken).ConfigureAwait(false);
            await ExecuteAsync("RELEASE ferry_wave", cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ex.SqlState.StartsWith("22", StringComparison.Ordinal) || ex.SqlState.StartsWith("23", StringComparison.Ordinal))
        {
            // A row the target refuses (a constraint, a value out of range) fails the whole statement.
            // Find it: write the rows one by one, each under its own savepoint.
            await ExecuteAsync("ROLLBACK TO ferry_wave; RELEASE ferry_wave", cancellationToken).ConfigureAwait(false);
            foreach (var row in rows)
            {
                await ExecuteAsync("SAVEPOINT ferry_row", cancellationToken).ConfigureAwait(false);
                try
                {
                    await WriteAsync(batch, [row], again, found, cancellationToken).ConfigureAwait(false);
                    await ExecuteAsync("RELEASE ferry_row", cancellationToken).ConfigureAwait(false);
                }
                catch (PostgresException rowError) when (rowError.SqlState.StartsWith("22", StringComparison.Ordinal) || rowError.SqlState.StartsWith("23", StringComparison.Ordinal))
                {
                    await ExecuteAsync("ROLLBACK TO ferry_row; RELEASE ferry_row", cancellationToken).ConfigureAwait(false);
                    row.Issues.Add(new ValidationIssue(Severity.Error, "target", rowError.ColumnName,
                        $"the target refused the row: {SecretMasker.Scrub(rowError.MessageText)}{(rowError.Detail is { } d ? $" ({SecretMasker.Scrub(d)})" : "")}"));
                    row.Action = RowAction.Rejected;
                    row.RefusedByTarget = true;
                    row.Values = null;
                }
            }
        }
    }

    /// <param name="again">A later wave of the batch: its keys may have been written by this batch already.</param>
    private async Task WriteAsync(int batch, List<BatchRow> rows, bool again, Dictionary<string, long> found, CancellationToken cancellationToken)
    {
        if (workDirty)
            await ExecuteAsync($"TRUNCATE {work}", cancellationToken).ConfigureAwait(false);
        workDirty = true;
        await CopyAsync($"COPY {work} (ord, {string.Join(", ", columns.Select(c => Quote(c.Target)))}) FROM STDIN (FORMAT BINARY)", batch, rows, ordinal: true, cancellationToken).ConfigureAwait(false);
        if (plan.Spec.Mode == LoadMode.Scd2)
        {
            await WriteHistoryAsync(batch, rows, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (captureSql.Length > 0)
        {
            // The capture may mark records stale, those of the window fetched ahead among them.
            priorDigests.Clear();
            await using var capture = NewCommand();
            capture.CommandText = again ? recaptureSql : captureSql;
            AddRunParameters(capture);
            capture.Parameters.AddWithValue("batch", batch);
            await using var reader = await capture.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                found[reader.GetString(0)] = reader.GetInt64(1);
        }

        await using var command = NewCommand();
        command.CommandText = writeSql;
        AddRunParameters(command);
        command.Parameters.AddWithValue("batch", batch);
        if (keys.Count == 0)
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            foreach (var row in rows)
                row.Action = RowAction.Inserted;
            return;
        }
        var written = writtenKeys;
        written.Clear();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var key = reader.GetString(0);
                written[key] = reader.GetBoolean(1);
                found[key] = reader.GetInt64(2);
            }
        }
        foreach (var row in rows)
        {
            if (written.TryGetValue(row.Key!, out var inserted))
                row.Action = inserted ? RowAction.Inserted : RowAction.Updated;
            else if (plan.Spec.Mode == LoadMode.Upsert)
                row.Action = RowAction.Unchanged;
            else
            {
                row.Issues.Add(new ValidationIssue(Severity.Error, "key", null, $"a row with key '{row.Key}' is already in {target.Schema}.{plan.Spec.Table}"));
                row.Action = RowAction.Rejected;
                row.RefusedByTarget = true;
                found.Remove(row.Key!);
            }
        }
    }

    /// <summary>
    /// Binary COPY of the rows' values (after an ordinal, for the work table), encoded by
    /// <see cref="BinaryCopyWriter"/> into its buffer, which goes out between rows when full.
    /// </summary>
    private async Task CopyAsync(string copySql, int batch, List<BatchRow> rows, bool ordinal, CancellationToken cancellationToken)
    {
        await using var copy = await BeginRawCopyAsync(copySql, cancellationToken).ConfigureAwait(false);
        var fields = copyTypes.Length + (ordinal ? 1 : 0);
        for (var i = 0; i < rows.Count; i++)
        {
            if (i == rows.Count / 2)
                FaultInjection.Point("postgres.mid-copy", batch);
            cancellationToken.ThrowIfCancellationRequested();
            if (copy.Full)
                await copy.FlushAsync(cancellationToken).ConfigureAwait(false);
            copy.StartRow(fields);
            if (ordinal)
                copy.WriteInteger(i);
            var values = rows[i].Values!;
            for (var c = 0; c < values.Length; c++)
                copy.Write(values[c], copyTypes[c]);
        }
        await copy.CompleteAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Settles the rows that have a staging record of their own: landed ones become imported or
    /// error, rows the target refused get theirs now (in a batch that did not land, every rejected or
    /// warned row gets one here), and rows that correct an earlier reject move that one to imported.
    /// </summary>
    /// <returns>The statement that settles the landed rows, to go with the batch's record (parameters <c>@run</c>, <c>@batch</c>).</returns>
    private async Task<string> SettleRowsAsync(Batch batch, bool landed, CancellationToken cancellationToken)
    {
        var settle = "";
        if (!landed)
        {
            await StageRowsAsync(batch, r => r.HasIssues, r => r.Rejected ? "error" : "imported", cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var refused = Enumerable.Range(0, batch.Rows.Count).Where(i => batch.Rows[i].RefusedByTarget)
                .Select(i => StageId.For(runId, batch.Number, i + 1)).ToArray();
            if (refused.Length > 0)
            {
                // A refused row with warnings has its record already: it is replaced, its errors added.
                await ExecuteAsync($"DELETE FROM {rowsTable} WHERE stage_id = ANY(@ids)", cancellationToken, ("ids", refused)).ConfigureAwait(false);
                await StageRowsAsync(batch, r => r.RefusedByTarget, _ => "error", cancellationToken).ConfigureAwait(false);
            }
            settle = $"UPDATE {rowsTable} SET status = CASE WHEN errors IS NULL THEN 'imported' ELSE 'error' END WHERE run_id = @run AND batch_no = @batch AND status = 'pending';";
        }
        var corrected = batch.Rows.Where(r => r.Action != RowAction.Rejected && r.CorrectsStageId is not null).Select(r => r.CorrectsStageId!.Value).ToArray();
        if (corrected.Length > 0)
            await ExecuteAsync($"UPDATE {rowsTable} SET status = 'imported', resolved_by_run = @run WHERE stage_id = ANY(@ids) AND status = 'error'",
                cancellationToken, ("ids", corrected)).ConfigureAwait(false);
        return settle;
    }

    /// <summary>Writes a staging record, with raw values and messages, for each row <paramref name="which"/> picks.</summary>
    private async Task StageRowsAsync(Batch batch, Func<BatchRow, bool> which, Func<BatchRow, string> status, CancellationToken cancellationToken)
    {
        if (!batch.Rows.Any(which))
            return;
        await SendDeferredAsync(cancellationToken).ConfigureAwait(false);
        await StageRowsAsync(connection, rowsTable, runId, json, batch, which, status, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The staging records of <see cref="StageRowsAsync(Batch, Func{BatchRow, bool}, Func{BatchRow, string}, CancellationToken)"/>, on <paramref name="connection"/>.</summary>
    internal static async Task StageRowsAsync(NpgsqlConnection connection, string rowsTable, long runId, StagingJson json, Batch batch,
        Func<BatchRow, bool> which, Func<BatchRow, string> status, CancellationToken cancellationToken)
    {
        await using var copy = await connection.BeginBinaryImportAsync(
            $"COPY {rowsTable} (stage_id, run_id, batch_no, line, business_key, status, raw, errors, warnings) FROM STDIN (FORMAT BINARY)", cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < batch.Rows.Count; i++)
        {
            var row = batch.Rows[i];
            if (!which(row))
                continue;
            await copy.StartRowAsync(cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(StageId.For(runId, batch.Number, i + 1), NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(runId, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(batch.Number, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(row.Line, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
            await WriteTextAsync(copy, row.Key, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(status(row), NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(System.Text.Encoding.UTF8.GetString(json.Raw(batch.SourceColumns, row.Raw)), NpgsqlDbType.Json, cancellationToken).ConfigureAwait(false);
            await WriteTextAsync(copy, StagingJson.Issues(row.Issues, true), NpgsqlDbType.Jsonb, cancellationToken).ConfigureAwait(false);
            await WriteTextAsync(copy, StagingJson.Issues(row.Issues, false), NpgsqlDbType.Jsonb, cancellationToken).ConfigureAwait(false);
        }
        await copy.CompleteAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task WriteTextAsync(NpgsqlBinaryImporter copy, string? value, NpgsqlDbType type, CancellationToken cancellationToken)
    {
        if (value is null)
            await copy.WriteNullAsync(cancellationToken).ConfigureAwait(false);
        else
            await copy.WriteAsync(value, type, cancellationToken).ConfigureAwait(false);
    }

    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        if (plan.Spec.Mode == LoadMode.Scd2)
            await CloseMissingAsync(cancellationToken).ConfigureAwait(false);
        // A deferred key is built as the entity completes (with tenants, as the last of them does), in one transaction.
        var buildKey = keyDeferred;
        await ExecuteAsync($"""
            {(buildKey ? "BEGIN;" : "")}
            UPDATE ferry.run_entities SET completed_at = now() WHERE run_id = @run AND entity = @entity;
            UPDATE ferry.run_tenants SET completed_at = now() WHERE run_id = @run AND entity = @entity AND tenant = @tenant;
            {(buildKey ? CompleteDeferredKeySql + "COMMIT;" : "")}
            """, cancellationToken, ("schema", target.Schema), ("target", plan.Spec.Table)).ConfigureAwait(false);
        keyDeferred = false;
        if (open)
        {
            await ExecuteAsync(dryRun ? "RELEASE ferry_entity" : "COMMIT", cancellationToken).ConfigureAwait(false);
            open = false;
        }
        await AnalyzeAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Gathers the table's statistics after a load that changed enough of it to matter (autovacuum's own
    /// measure: 50 rows and a tenth of the table, or a table never analyzed), so that the next queries, the
    /// reconciliation's and the users', are planned for what it holds now rather than for an empty table.
    /// Autovacuum would do it too, but up to a minute later: a reconciliation's orphan check planned for
    /// an empty parent table took minutes instead of seconds. A role that does not own the table gets a
    /// warning from the server, and the run goes on.
    /// </summary>
    /// <remarks>
    /// The statistics are quick ones: a sample of 3,000 rows (<see cref="QuickStatisticsTarget"/>)
    /// rather than 30,000, which took 0.4–0.7 s of a 2,000,000-row first load with the client idle, and
    /// enough for the planner to know the table's size and its columns' spread. Every column is named,
    /// because an <c>ANALYZE</c> with a column list leaves the table's count of changes since its last
    /// analysis as it was: autovacuum still gathers the table's statistics at their usual size on its next
    /// round. A user's own target for a column is kept.
    /// </remarks>
    private async Task AnalyzeAsync(CancellationToken cancellationToken)
    {
        if (dryRun || written == 0)
            return;
        var tuples = await ScalarAsync<float>("SELECT reltuples FROM pg_class WHERE oid = @table::regclass", cancellationToken, ("table", table)).ConfigureAwait(false);
        if (tuples > 0 && written < 50 + 0.1 * tuples)
            return;
        var all = string.Join(", ", (await ColumnTypesAsync(cancellationToken).ConfigureAwait(false)).Keys.Select(Quote));
        await ExecuteAsync($"SET LOCAL default_statistics_target = {QuickStatisticsTarget}; ANALYZE {table} ({all})", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The statistics target of the analysis after a load: 300 rows sampled for each unit.</summary>
    internal const int QuickStatisticsTarget = 10;

    /// <summary>
    /// Starts a transaction (or savepoint) with the statement that follows it, in the same round trip:
    /// a batch's work waits for the server a few times, and on a busy machine each wait costs more
    /// than the statement.
    /// </summary>
    private void Begin(string name) => deferred = BeginSql(name);

    private string BeginSql(string name) => outer ? $"SAVEPOINT {name};" : "BEGIN;";

    /// <summary>Whether the transaction (or savepoint) <paramref name="name"/> began is still only deferred: the server has seen none of it.</summary>
    private bool Unsent(string name) => deferred.StartsWith(BeginSql(name), StringComparison.Ordinal);

    /// <summary>A setting of the transaction just begun, sent with the statement that follows it.</summary>
    private void SetLocal(string setting) => deferred += $"SET LOCAL {setting};";

    private string CommitSql(string name) => outer ? $"RELEASE {name}" : "COMMIT";

    private async Task CommitAsync(string name, CancellationToken cancellationToken)
    {
        if (Unsent(name))
            deferred = ""; // nothing was sent: there is nothing to commit
        else
            await ExecuteAsync(CommitSql(name), cancellationToken).ConfigureAwait(false);
        if (!outer)
            workDirty = false; // ON COMMIT DELETE ROWS has emptied it
    }

    /// <summary>Undoes an unfinished transaction (or savepoint); a broken connection has undone it already.</summary>
    private async Task AbortAsync(string name)
    {
        if (Unsent(name))
        {
            deferred = ""; // never sent: the server has nothing to undo
            return;
        }
        deferred = ""; // statements queued after the transaction began (a savepoint) go with it
        if (connection.State != System.Data.ConnectionState.Open)
            return;
        try
        {
            await ExecuteAsync(outer ? $"ROLLBACK TO {name}; RELEASE {name}" : "ROLLBACK", CancellationToken.None).ConfigureAwait(false);
        }
        catch (NpgsqlException)
        {
            // The server has already rolled back what the broken connection left open.
        }
        workDirty = true;
    }

    private void AddRunParameters(NpgsqlCommand command) => AddRunParameters(command, runId, plan);

    /// <summary>The run's parameters: <c>@run</c>, <c>@entity</c> and <c>@tenant</c>.</summary>
    internal static void AddRunParameters(NpgsqlCommand command, long runId, EntityPlan plan)
    {
        command.Parameters.AddWithValue("run", runId);
        command.Parameters.AddWithValue("entity", plan.Spec.Name);
        AddTenant(command, plan);
    }

    private void AddTenant(NpgsqlCommand command) => AddTenant(command, plan);

    /// <summary>The plan's tenant as a text parameter (NULL without tenants).</summary>
    private static void AddTenant(NpgsqlCommand command, EntityPlan plan) =>
        command.Parameters.Add(new NpgsqlParameter("tenant", NpgsqlDbType.Text) { Value = (object?)plan.Tenant ?? DBNull.Value });

    /// <summary>Every command of the loader: it carries the statements <see cref="Begin"/> deferred.</summary>
    private NpgsqlCommand NewCommand() => new DeferringCommand(this);

    private sealed class DeferringCommand(PostgresEntityLoader loader) : NpgsqlCommand(null, loader.connection)
    {
        [System.Diagnostics.CodeAnalysis.AllowNull]
        public override string CommandText
        {
            get => base.CommandText;
            set
            {
                if (string.IsNullOrEmpty(value))
                {
                    base.CommandText = value;
                    return;
                }
                base.CommandText = loader.deferred + value;
                loader.deferred = "";
            }
        }
    }

    /// <summary>A COPY of mapped rows, encoded by Ferry (<see cref="BinaryCopyWriter"/>); deferred statements go first.</summary>
    private async Task<BinaryCopyWriter> BeginRawCopyAsync(string copySql, CancellationToken cancellationToken)
    {
        await SendDeferredAsync(cancellationToken).ConfigureAwait(false);
        return await BinaryCopyWriter.BeginAsync(connection, copySql, cancellationToken).ConfigureAwait(false);
    }

    private async Task SendDeferredAsync(CancellationToken cancellationToken)
    {
        if (deferred.Length > 0)
        {
            await using var command = new NpgsqlCommand(deferred, connection);
            deferred = "";
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private NpgsqlCommand Command(string sql, params (string Name, object? Value)[] parameters)
    {
        var command = NewCommand();
        command.CommandText = sql;
        if (sql.Contains("@run", StringComparison.Ordinal))
            command.Parameters.AddWithValue("run", runId);
        if (sql.Contains("@entity", StringComparison.Ordinal))
            command.Parameters.AddWithValue("entity", plan.Spec.Name);
        if (sql.Contains("@tenant", StringComparison.Ordinal))
            AddTenant(command);
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }

    private async Task ExecuteAsync(string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        await using var command = Command(sql, parameters);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The first value of the first statement of the command that returns rows.</summary>
    private static async Task<T> FirstValueAsync<T>(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        do
        {
            if (reader.FieldCount > 0 && await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                return reader.GetFieldValue<T>(0);
        } while (await reader.NextResultAsync(cancellationToken).ConfigureAwait(false));
        throw new InvalidOperationException("the command returned no row");
    }

    private async Task<T> ScalarAsync<T>(string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        await using var command = Command(sql, parameters);
        return (T)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    public async ValueTask DisposeAsync()
    {
        json.Dispose();
        if (open && connection.State == System.Data.ConnectionState.Open)
        {
            try
            {
                await ExecuteAsync(dryRun ? "ROLLBACK TO ferry_entity; RELEASE ferry_entity" : "ROLLBACK", CancellationToken.None).ConfigureAwait(false);
            }
            catch (NpgsqlException)
            {
                // The connection broke: the server has rolled the transaction back.
            }
        }
    }
}
