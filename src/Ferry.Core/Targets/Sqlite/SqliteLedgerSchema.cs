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
        CREATE TABLE IF NOT EXISTS ferry_batches (
            run_id       INTEGER NOT NULL REFERENCES ferry_runs(run_id),
            entity       TEXT NOT NULL,
            batch_no     INTEGER NOT NULL,
            first_line   INTEGER NOT NULL,
            last_line    INTEGER NOT NULL,
            rows_read    INTEGER NOT NULL,
            inserted     INTEGER NOT NULL,
            updated      INTEGER NOT NULL,
            unchanged    INTEGER NOT NULL,
            rejected     INTEGER NOT NULL,
            warnings     INTEGER NOT NULL,
            committed_at TEXT NOT NULL,
            state        TEXT NOT NULL DEFAULT 'committed',
            PRIMARY KEY (run_id, entity, batch_no)
        );
        """;

    /// <summary>Every source row of an entity, its raw values and what became of it.</summary>
    public static string CreateStaging(string table) => $"""
        CREATE TABLE IF NOT EXISTS "{table}" (
            stage_id        INTEGER PRIMARY KEY,
            run_id          INTEGER NOT NULL,
            batch_no        INTEGER NOT NULL,
            line            INTEGER NOT NULL,
            business_key    TEXT,
            status          TEXT NOT NULL CHECK (status IN ('pending', 'imported', 'error')),
            action          TEXT,
            raw             TEXT NOT NULL,
            errors          TEXT,
            warnings        TEXT,
            resolved_by_run INTEGER
        );
        CREATE INDEX IF NOT EXISTS "ix_{table}_run" ON "{table}" (run_id);
        """;

    public static string StagingTable(string entity) => "ferry_stage_" + entity;

    public static readonly LedgerNames Names = new(t => "ferry_" + t, e => $"\"{StagingTable(e)}\"",
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND '\"' || name || '\"' IN (@name, '\"' || @name || '\"')");
}
