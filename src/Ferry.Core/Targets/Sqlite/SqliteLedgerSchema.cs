using Microsoft.Data.Sqlite;

namespace Ferry.Targets.Sqlite;

/// <summary>
/// The ledger's tables in a SQLite target. They live in the target file itself, so a batch's rows
/// and its ledger records share one transaction.
/// </summary>
internal static class SqliteLedgerSchema
{
    public const string Create = """
        CREATE TABLE IF NOT EXISTS ferry_runs (
            run_id         INTEGER PRIMARY KEY,
            name           TEXT,
            manifest       TEXT NOT NULL,
            source         TEXT NOT NULL,
            correlation_id TEXT NOT NULL,
            started_at     TEXT NOT NULL,
            finished_at    TEXT,
            status         TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'partial', 'failed')),
            error          TEXT,
            host           TEXT,
            pid            INTEGER,
            source_fingerprint TEXT
        );
        CREATE TABLE IF NOT EXISTS ferry_run_entities (
            run_id     INTEGER NOT NULL REFERENCES ferry_runs(run_id),
            entity     TEXT NOT NULL,
            target     TEXT NOT NULL,
            mode       TEXT NOT NULL,
            position   INTEGER NOT NULL DEFAULT 0,
            rows_read  INTEGER NOT NULL DEFAULT 0,
            inserted   INTEGER NOT NULL DEFAULT 0,
            updated    INTEGER NOT NULL DEFAULT 0,
            unchanged  INTEGER NOT NULL DEFAULT 0,
            rejected   INTEGER NOT NULL DEFAULT 0,
            warnings   INTEGER NOT NULL DEFAULT 0,
            completed_at TEXT,
            PRIMARY KEY (run_id, entity)
        );
        -- One record per batch. With staging it is inserted 'landed' (its own commit) with each row's
        -- source line and business key, and turns 'committed', with its counts, in the transaction
        -- that loads the batch; without staging it is inserted 'committed' in that transaction.
        -- Checkpoints are the committed records only.
        CREATE TABLE IF NOT EXISTS ferry_batches (
            run_id       INTEGER NOT NULL REFERENCES ferry_runs(run_id),
            entity       TEXT NOT NULL,
            batch_no     INTEGER NOT NULL,
            first_line   INTEGER NOT NULL,
            last_line    INTEGER NOT NULL,
            rows_read    INTEGER NOT NULL DEFAULT 0,
            inserted     INTEGER NOT NULL DEFAULT 0,
            updated      INTEGER NOT NULL DEFAULT 0,
            unchanged    INTEGER NOT NULL DEFAULT 0,
            rejected     INTEGER NOT NULL DEFAULT 0,
            warnings     INTEGER NOT NULL DEFAULT 0,
            committed_at TEXT NOT NULL,
            state        TEXT NOT NULL DEFAULT 'committed' CHECK (state IN ('landed', 'committed')),
            lines        TEXT, -- JSON array: each row's source line, in batch order
            keys         TEXT, -- JSON array: each row's business key (null for a row without one)
            PRIMARY KEY (run_id, entity, batch_no)
        );
        -- With tenants: each entity's counts and completion per tenant (the batch records name their tenant).
        CREATE TABLE IF NOT EXISTS ferry_run_tenants (
            run_id     INTEGER NOT NULL REFERENCES ferry_runs(run_id),
            entity     TEXT NOT NULL,
            tenant     TEXT NOT NULL,
            rows_read  INTEGER NOT NULL DEFAULT 0,
            inserted   INTEGER NOT NULL DEFAULT 0,
            updated    INTEGER NOT NULL DEFAULT 0,
            unchanged  INTEGER NOT NULL DEFAULT 0,
            rejected   INTEGER NOT NULL DEFAULT 0,
            warnings   INTEGER NOT NULL DEFAULT 0,
            completed_at TEXT,
            PRIMARY KEY (run_id, entity, tenant)
        );
        -- Each check of a reconciliation, per entity and tenant: passed or not, with its figures (JSON).
        CREATE TABLE IF NOT EXISTS ferry_reconciliations (
            reconciliation_id INTEGER PRIMARY KEY,
            run_id     INTEGER NOT NULL,
            entity     TEXT NOT NULL,
            tenant     TEXT,
            "check"    TEXT NOT NULL,
            passed     INTEGER NOT NULL,
            summary    TEXT,
            checked_at TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS ix_ferry_reconciliations_run ON ferry_reconciliations (run_id);
        -- The key map: each legacy key of an entity and tenant ('' without tenants) that a run loaded,
        -- its UUID (v5 of entity, tenant and key) and the run that first loaded it. Written in the
        -- transaction that loads the row; never changed.
        CREATE TABLE IF NOT EXISTS ferry_key_map (
            entity     TEXT NOT NULL,
            tenant     TEXT NOT NULL,
            legacy_key TEXT NOT NULL,
            uuid       TEXT NOT NULL,
            run_id     INTEGER NOT NULL,
            PRIMARY KEY (entity, tenant, legacy_key)
        ) WITHOUT ROWID;
        """;

    /// <summary>Brings a ledger made by an earlier version up to date (the batch record's state, lines and keys).</summary>
    public static async Task UpgradeAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        if (!await HasColumnAsync(connection, "ferry_batches", "state", cancellationToken).ConfigureAwait(false))
            await SqliteTarget.ExecuteAsync(connection, """
                ALTER TABLE ferry_batches ADD COLUMN state TEXT NOT NULL DEFAULT 'committed' CHECK (state IN ('landed', 'committed'));
                ALTER TABLE ferry_batches ADD COLUMN lines TEXT;
                ALTER TABLE ferry_batches ADD COLUMN keys TEXT;
                """, cancellationToken).ConfigureAwait(false);
        if (!await HasColumnAsync(connection, "ferry_batches", "tenant", cancellationToken).ConfigureAwait(false))
            await SqliteTarget.ExecuteAsync(connection, "ALTER TABLE ferry_batches ADD COLUMN tenant TEXT", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The view of an entity's staged rows: every row of every batch, with its status.</summary>
    public static string StagingTable(string entity) => "ferry_stage_" + entity;

    /// <summary>The table of the staged rows that need a record of their own: rejected rows and rows with warnings.</summary>
    public static string RowsTable(string entity) => StagingTable(entity) + "_rows";

    /// <summary>
    /// Creates the entity's rows table and staging view. A staging table from an earlier version
    /// (one record per source row) becomes the rows table: its rows keep their ids and statuses.
    /// </summary>
    public static async Task EnsureStagingAsync(SqliteConnection connection, string entity, CancellationToken cancellationToken)
    {
        var view = StagingTable(entity);
        var rows = RowsTable(entity);
        if (await KindAsync(connection, rows, cancellationToken).ConfigureAwait(false) == "view")
            throw Collision(entity, rows);
        if (await KindAsync(connection, view, cancellationToken).ConfigureAwait(false) == "table")
        {
            // Only an earlier version's staging table has an 'action' column; a table without one is
            // the rows table of an entity whose name is this one's without "_rows".
            if (!await HasColumnAsync(connection, view, "action", cancellationToken).ConfigureAwait(false)
                || await KindAsync(connection, rows, cancellationToken).ConfigureAwait(false) is not null)
                throw Collision(entity, view);
            await SqliteTarget.ExecuteAsync(connection, $"ALTER TABLE {Quote(view)} RENAME TO {Quote(rows)}", cancellationToken).ConfigureAwait(false);
        }
        await SqliteTarget.ExecuteAsync(connection, $"""
            CREATE TABLE IF NOT EXISTS {Quote(rows)} (
                stage_id        INTEGER PRIMARY KEY, -- run_id * 2^40 + batch_no * 2^20 + ordinal
                run_id          INTEGER NOT NULL,
                batch_no        INTEGER NOT NULL,
                line            INTEGER NOT NULL,
                business_key    TEXT,
                status          TEXT NOT NULL CHECK (status IN ('pending', 'imported', 'error')),
                raw             TEXT NOT NULL,
                errors          TEXT,
                warnings        TEXT,
                resolved_by_run INTEGER
            );
            CREATE INDEX IF NOT EXISTS {Quote("ix_" + view + "_run")} ON {Quote(rows)} (run_id);
            DROP VIEW IF EXISTS {Quote(view)}; -- made anew, so that it is always this version's
            CREATE VIEW {Quote(view)} (stage_id, run_id, batch_no, line, business_key, status, raw, errors, warnings, resolved_by_run, tenant) AS
            SELECT r.stage_id, r.run_id, r.batch_no, r.line, r.business_key, r.status, r.raw, r.errors, r.warnings, r.resolved_by_run,
                   (SELECT b.tenant FROM ferry_batches b WHERE b.run_id = r.run_id AND b.entity = '{entity}' AND b.batch_no = r.batch_no)
            FROM {Quote(rows)} r
            UNION ALL
            SELECT {BatchRowId}, b.run_id, b.batch_no,
                   -- A committed batch of single-line records holds the lines first_line..last_line: its
                   -- row's line is then computed, not looked up (a lookup walks the array from its start).
                   CASE WHEN b.state = 'committed' AND b.last_line - b.first_line + 1 = b.rows_read THEN b.first_line + k.key
                        ELSE json_extract(b.lines, '$[' || k.key || ']') END,
                   k.value, CASE b.state WHEN 'landed' THEN 'pending' ELSE 'imported' END, NULL, NULL, NULL, NULL, b.tenant
            FROM ferry_batches b, json_each(b.keys) k
            WHERE b.entity = '{entity}' AND b.keys IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM {Quote(rows)} r WHERE r.stage_id = {BatchRowId});
            """, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The stage id of the row at json_each position <c>k.key</c> (0-based) of batch record <c>b</c>.</summary>
    private const string BatchRowId = "(b.run_id << 40) + (b.batch_no << 20) + k.key + 1";

    private static TargetException Collision(string entity, string name) =>
        new($"entity '{entity}' cannot be staged: {name} already belongs to another entity's staging (an entity named like another one plus '_rows'); rename one of them");

    private static async Task<string?> KindAsync(SqliteConnection connection, string name, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT type FROM sqlite_master WHERE name = $name";
        command.Parameters.AddWithValue("$name", name);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
    }

    private static async Task<bool> HasColumnAsync(SqliteConnection connection, string table, string column, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM pragma_table_info($table) WHERE name = $column";
        command.Parameters.AddWithValue("$table", table);
        command.Parameters.AddWithValue("$column", column);
        return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))! > 0;
    }

    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>The staging view (or, in a ledger not yet upgraded, table) is found either way.</summary>
    public static readonly LedgerNames Names = new(t => "ferry_" + t, e => $"\"{StagingTable(e)}\"",
        "SELECT count(*) > 0 FROM sqlite_master WHERE type IN ('table', 'view') AND '\"' || name || '\"' IN (@name, '\"' || @name || '\"')",
        e => Quote(RowsTable(e)));
}
