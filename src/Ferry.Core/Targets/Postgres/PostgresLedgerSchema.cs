namespace Ferry.Targets.Postgres;

/// <summary>
/// The ledger in the target database's <c>ferry</c> schema, so that a batch's rows and its ledger
/// records (batch, counts, staging, undo) commit in one transaction.
/// </summary>
internal static class PostgresLedgerSchema
{
    /// <summary>Taken (per transaction) around ledger DDL, so concurrent first runs do not race to create it.</summary>
    public const long DdlLock = 0x4665_7272_7944_444CL;

    /// <summary>The first key of every run lock; the second is a hash of the manifest path.</summary>
    public const int RunLockClass = 0x46657279;

    public static readonly string Create = $"""
        CREATE SCHEMA IF NOT EXISTS ferry;
        CREATE TABLE IF NOT EXISTS ferry.runs (
            run_id             bigserial PRIMARY KEY,
            name               text,
            manifest           text NOT NULL,
            source             text NOT NULL,
            source_fingerprint text,
            correlation_id     text NOT NULL,
            started_at         timestamptz NOT NULL DEFAULT now(),
            finished_at        timestamptz,
            status             text NOT NULL CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'rolled_back')),
            error              text,
            host               text,
            pid                integer,
            rolled_back_at     timestamptz
        );
        {Index("runs_manifest", "ferry.runs", "manifest, run_id")}
        CREATE TABLE IF NOT EXISTS ferry.run_entities (
            run_id       bigint NOT NULL REFERENCES ferry.runs,
            entity       text NOT NULL,
            target       text NOT NULL,
            target_schema text,
            mode         text NOT NULL,
            position     integer NOT NULL DEFAULT 0,
            rows_read    bigint NOT NULL DEFAULT 0,
            inserted     bigint NOT NULL DEFAULT 0,
            updated      bigint NOT NULL DEFAULT 0,
            unchanged    bigint NOT NULL DEFAULT 0,
            rejected     bigint NOT NULL DEFAULT 0,
            warnings     bigint NOT NULL DEFAULT 0,
            completed_at timestamptz,
            PRIMARY KEY (run_id, entity)
        );
        DO $$ BEGIN
            -- Ledgers made before the column was: rollback needs to know which schema a run's table was in.
            IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'ferry.run_entities'::regclass AND attname = 'target_schema') THEN
                ALTER TABLE ferry.run_entities ADD COLUMN target_schema text;
            END IF;
        END $$;
        CREATE TABLE IF NOT EXISTS ferry.batches (
            run_id       bigint NOT NULL REFERENCES ferry.runs,
            entity       text NOT NULL,
            batch_no     integer NOT NULL,
            first_line   bigint NOT NULL,
            last_line    bigint NOT NULL,
            rows_read    integer NOT NULL,
            inserted     integer NOT NULL,
            updated      integer NOT NULL,
            unchanged    integer NOT NULL,
            rejected     integer NOT NULL,
            warnings     integer NOT NULL,
            committed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (run_id, entity, batch_no)
        );
        -- What each run changed, to undo it: 'i' rows it inserted (by business key), 'u' rows it
        -- updated with their image before the update, 'r' a replace (the table's previous contents
        -- are kept in ferry.replaced_<run>_<entity>).
        CREATE TABLE IF NOT EXISTS ferry.undo (
            run_id       bigint NOT NULL,
            entity       text NOT NULL,
            batch_no     integer NOT NULL,
            action       "char" NOT NULL CHECK (action IN ('i', 'u', 'r')),
            business_key text NOT NULL,
            before       jsonb
        );
        {Index("undo_run", "ferry.undo", "run_id, entity")}
        {Index("undo_key", "ferry.undo", "entity, business_key")}
        """;

    public static string StagingTable(string entity) => "stage_" + entity;

    public static readonly LedgerNames Names = new(t => "ferry." + t, e => $"ferry.\"{StagingTable(e)}\"", "SELECT to_regclass(@name) IS NOT NULL");

    /// <summary>
    /// Creates an index only when it is missing. <c>CREATE INDEX IF NOT EXISTS</c> takes a SHARE lock on
    /// the table before it finds the index there, so it waits for every open transaction that wrote to
    /// the table (another run's batch in flight, a replace's whole load): a second run would wait for the
    /// first instead of being refused at once, and every run start would stall the runs of other manifests.
    /// </summary>
    private static string Index(string name, string table, string columns) =>
        $"DO $$ BEGIN IF to_regclass('ferry.{name}') IS NULL THEN CREATE INDEX {name} ON {table} ({columns}); END IF; END $$;";

    /// <summary>Every source row of an entity, its raw values and what became of it.</summary>
    public static string CreateStaging(string entity) => $"""
        CREATE TABLE IF NOT EXISTS ferry."{StagingTable(entity)}" (
            stage_id        bigserial PRIMARY KEY,
            run_id          bigint NOT NULL,
            batch_no        integer NOT NULL,
            line            bigint NOT NULL,
            business_key    text,
            status          text NOT NULL CHECK (status IN ('pending', 'imported', 'error')),
            raw             json NOT NULL, -- json, not jsonb: it keeps the source column order
            errors          jsonb,
            warnings        jsonb,
            resolved_by_run bigint
        ) WITH (fillfactor = 80);
        {Index($"\"{StagingTable(entity)}_run\"", $"ferry.\"{StagingTable(entity)}\"", "run_id, batch_no")}
        """;
}
