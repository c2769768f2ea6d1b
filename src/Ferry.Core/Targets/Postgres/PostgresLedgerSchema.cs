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
        -- One record a batch: its counts, each row's line and business key, and a digest of 24 bytes a
        -- row: key hash, content hash and row version (the xmin the row had once the batch committed). 'landed' until its rows are loaded.
        -- A record is stale once a later write changed a row version it lists: its hashes then no
        -- longer say what the table holds, and a re-run does not skip rows by it.
        CREATE TABLE IF NOT EXISTS ferry.batches (
            run_id       bigint NOT NULL REFERENCES ferry.runs,
            entity       text NOT NULL,
            batch_no     integer NOT NULL,
            first_line   bigint NOT NULL,
            last_line    bigint NOT NULL,
            rows_read    integer NOT NULL DEFAULT 0,
            inserted     integer NOT NULL DEFAULT 0,
            updated      integer NOT NULL DEFAULT 0,
            unchanged    integer NOT NULL DEFAULT 0,
            rejected     integer NOT NULL DEFAULT 0,
            warnings     integer NOT NULL DEFAULT 0,
            committed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (run_id, entity, batch_no)
        );
        DO $$ BEGIN
            -- Ledgers made before batch records kept their rows.
            IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'ferry.batches'::regclass AND attname = 'state') THEN
                ALTER TABLE ferry.batches
                    ADD COLUMN state text NOT NULL DEFAULT 'committed' CHECK (state IN ('landed', 'committed')),
                    ADD COLUMN lines bigint[],
                    ADD COLUMN keys text[],
                    ADD COLUMN digest bytea,
                    ADD COLUMN version_set bigint[],
                    ADD COLUMN stale boolean NOT NULL DEFAULT false;
            END IF;
        END $$;
        -- A digest is hashes, which do not compress: kept out of line as it is, without the compression
        -- attempt that cost a 5,000-row batch 4 ms of the server's time.
        DO $$ BEGIN
            IF (SELECT attstorage FROM pg_attribute WHERE attrelid = 'ferry.batches'::regclass AND attname = 'digest') <> 'e' THEN
                ALTER TABLE ferry.batches ALTER COLUMN digest SET STORAGE EXTERNAL;
            END IF;
        END $$;
        -- A batch taken unchanged keeps its digest by reference, not as a copy: the run and entity of
        -- the record at the same batch number that holds it (digest NULL here). Only a batch-range
        -- rollback deletes committed records, and it marks stale every record of the table, whose
        -- digests are then never read again: a reference that is read always finds its record.
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'ferry.batches'::regclass AND attname = 'digest_run') THEN
                ALTER TABLE ferry.batches ADD COLUMN digest_run bigint, ADD COLUMN digest_entity text;
            END IF;
        END $$;
        -- Each row's source hash (8 bytes a row, 0 for a row with an issue): a re-run whose raw rows
        -- of a batch all equal these need not validate or map them again. Hashes too: kept as they are.
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'ferry.batches'::regclass AND attname = 'source_digest') THEN
                ALTER TABLE ferry.batches ADD COLUMN source_digest bytea;
                ALTER TABLE ferry.batches ALTER COLUMN source_digest SET STORAGE EXTERNAL;
            END IF;
        END $$;
        DO $$ BEGIN IF to_regclass('ferry.batches_versions') IS NULL THEN CREATE INDEX batches_versions ON ferry.batches USING gin (version_set) WHERE NOT stale; END IF; END $$;
        -- What each run changed, to undo it: 'i' the rows a batch inserted (their business keys in
        -- keys), 'u' the rows it updated with their images before the update (in images, each the
        -- row's text in the table's row type, in the order of keys; ledgers made before that column
        -- keep jsonb images in before), 'r' a replace (the table's previous contents are kept in
        -- ferry.replaced_<run>_<entity>).
        CREATE TABLE IF NOT EXISTS ferry.undo (
            run_id       bigint NOT NULL,
            entity       text NOT NULL,
            batch_no     integer NOT NULL,
            action       "char" NOT NULL CHECK (action IN ('i', 'u', 'r')),
            business_key text,
            before       jsonb,
            keys         text[]
        );
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'ferry.undo'::regclass AND attname = 'keys') THEN
                ALTER TABLE ferry.undo ADD COLUMN keys text[], ALTER COLUMN business_key DROP NOT NULL;
            END IF;
        END $$;
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'ferry.undo'::regclass AND attname = 'images') THEN
                ALTER TABLE ferry.undo ADD COLUMN images text[];
                BEGIN
                    ALTER TABLE ferry.undo ALTER COLUMN images SET COMPRESSION lz4;
                EXCEPTION WHEN feature_not_supported OR syntax_error THEN
                    NULL; -- as below: pglz
                END;
            END IF;
        END $$;
        -- Lines, keys and before-images compress with lz4 where the server has it (PostgreSQL 14 and
        -- later, built with it): pglz took 7 ms more of a 5,000-row batch record.
        DO $$ BEGIN
            IF (SELECT attcompression FROM pg_attribute WHERE attrelid = 'ferry.batches'::regclass AND attname = 'keys') <> 'l' THEN
                ALTER TABLE ferry.batches ALTER COLUMN lines SET COMPRESSION lz4, ALTER COLUMN keys SET COMPRESSION lz4;
                ALTER TABLE ferry.undo ALTER COLUMN keys SET COMPRESSION lz4, ALTER COLUMN before SET COMPRESSION lz4;
            END IF;
        EXCEPTION WHEN feature_not_supported OR undefined_column THEN
            NULL; -- a server built without lz4, or older than 14 (no attcompression), keeps pglz
        END $$;
        {Index("undo_run", "ferry.undo", "run_id, entity")}
        {Index("undo_key", "ferry.undo", "entity, business_key")}
        -- The key map: each legacy key of an entity and tenant ('' without tenants) that a run loaded,
        -- its UUID (v5 of entity, tenant and key) and the run that first loaded it, one row a key in the
        -- view ferry.key_map. A batch's new keys are one row of ferry.key_map_batches (two arrays), written
        -- in the batch's transaction: a row a key with its primary key had cost the server more than the
        -- COPY of the rows themselves. Ledgers made before keep their entries in ferry.key_map_rows, one
        -- row a key. Never changed; a rollback deletes its run's entries.
        DO $$ BEGIN
            IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('ferry.key_map')) = 'r' THEN
                ALTER TABLE ferry.key_map RENAME TO key_map_rows;
            END IF;
        END $$;
        CREATE TABLE IF NOT EXISTS ferry.key_map_rows (
            entity     text NOT NULL,
            tenant     text NOT NULL,
            legacy_key text NOT NULL,
            uuid       uuid NOT NULL,
            run_id     bigint NOT NULL,
            PRIMARY KEY (entity, tenant, legacy_key)
        );
        DO $$ BEGIN
            IF to_regclass('ferry.key_map_batches') IS NULL THEN
                CREATE TABLE ferry.key_map_batches (
                    run_id      bigint NOT NULL,
                    entity      text NOT NULL,
                    tenant      text NOT NULL,
                    batch_no    integer NOT NULL,
                    legacy_keys text[] NOT NULL,
                    uuids       uuid[] NOT NULL,
                    PRIMARY KEY (run_id, entity, batch_no)
                );
                CREATE INDEX key_map_batches_entity ON ferry.key_map_batches (entity, tenant);
                -- UUIDs are random bytes, which do not compress: kept out of line without trying.
                ALTER TABLE ferry.key_map_batches ALTER COLUMN uuids SET STORAGE EXTERNAL;
                BEGIN
                    ALTER TABLE ferry.key_map_batches ALTER COLUMN legacy_keys SET COMPRESSION lz4;
                EXCEPTION WHEN feature_not_supported OR syntax_error THEN
                    NULL; -- a server without lz4 keeps pglz
                END;
            END IF;
            IF to_regclass('ferry.key_map') IS NULL THEN
                CREATE VIEW ferry.key_map AS
                    SELECT entity, tenant, legacy_key, uuid, run_id FROM ferry.key_map_rows
                    UNION ALL
                    SELECT b.entity, b.tenant, k.legacy_key, k.uuid, b.run_id
                    FROM ferry.key_map_batches b, unnest(b.legacy_keys, b.uuids) AS k (legacy_key, uuid);
            END IF;
        END $$;
        -- Tenants: each batch record and undo entry names its tenant (NULL without tenants), and each
        -- entity of a run has counts per tenant and is complete per tenant.
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'ferry.batches'::regclass AND attname = 'tenant') THEN
                ALTER TABLE ferry.batches ADD COLUMN tenant text;
            END IF;
            IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'ferry.undo'::regclass AND attname = 'tenant') THEN
                ALTER TABLE ferry.undo ADD COLUMN tenant text;
            END IF;
        END $$;
        CREATE TABLE IF NOT EXISTS ferry.run_tenants (
            run_id       bigint NOT NULL REFERENCES ferry.runs,
            entity       text NOT NULL,
            tenant       text NOT NULL,
            rows_read    bigint NOT NULL DEFAULT 0,
            inserted     bigint NOT NULL DEFAULT 0,
            updated      bigint NOT NULL DEFAULT 0,
            unchanged    bigint NOT NULL DEFAULT 0,
            rejected     bigint NOT NULL DEFAULT 0,
            warnings     bigint NOT NULL DEFAULT 0,
            completed_at timestamptz,
            PRIMARY KEY (run_id, entity, tenant)
        );
        -- A table Ferry created whose primary key it builds once the entity's rows are in (see
        -- PostgresEntityLoader.DeferredKey.cs): while this row is here the key is not built yet, and the
        -- next run into the table, a resume of an interrupted one included, builds it before anything else.
        CREATE TABLE IF NOT EXISTS ferry.deferred_keys (
            target_schema text NOT NULL,
            target        text NOT NULL,
            key_columns   text[] NOT NULL,
            run_id        bigint NOT NULL,
            entity        text NOT NULL,
            PRIMARY KEY (target_schema, target)
        );
        -- Each check of a reconciliation, per entity and tenant: passed or not, with its figures (JSON).
        CREATE TABLE IF NOT EXISTS ferry.reconciliations (
            reconciliation_id bigserial PRIMARY KEY,
            run_id     bigint NOT NULL,
            entity     text NOT NULL,
            tenant     text,
            "check"    text NOT NULL,
            passed     boolean NOT NULL,
            summary    jsonb,
            checked_at timestamptz NOT NULL DEFAULT now()
        );
        {Index("reconciliations_run", "ferry.reconciliations", "run_id")}
        """;

    public static string StagingTable(string entity) => "stage_" + entity;

    public static readonly LedgerNames Names = new(t => "ferry." + t, e => $"ferry.\"{StagingTable(e)}\"", "SELECT to_regclass(@name) IS NOT NULL",
        e => $"ferry.\"{StagingRows(e)}\"");

    /// <summary>
    /// Creates an index only when it is missing. <c>CREATE INDEX IF NOT EXISTS</c> takes a SHARE lock on
    /// the table before it finds the index there, so it waits for every open transaction that wrote to
    /// the table (another run's batch in flight, a replace's whole load): a second run would wait for the
    /// first instead of being refused at once, and every run start would stall the runs of other manifests.
    /// </summary>
    private static string Index(string name, string table, string columns) =>
        $"DO $$ BEGIN IF to_regclass('ferry.{name}') IS NULL THEN CREATE INDEX {name} ON {table} ({columns}); END IF; END $$;";

    /// <summary>
    /// An entity's staging: <c>stage_&lt;entity&gt;_rows</c> holds the rows that need a record of their
    /// own (rejected or warned: their raw values and messages, to be corrected), and the view
    /// <c>stage_&lt;entity&gt;</c> shows every source row with its status, the other rows coming from
    /// their batch's record: <c>pending</c> while the batch is landed, <c>imported</c> once it is
    /// loaded. A row's stage id is computed from its place: run, batch and position in the batch.
    /// </summary>
    public static string CreateStaging(string entity)
    {
        var view = StagingTable(entity);
        var rows = view + "_rows";
        var literal = entity.Replace("'", "''", StringComparison.Ordinal);
        return $"""
        DO $$ BEGIN
            -- A ledger from before batch records: its staging table becomes the table of rows.
            IF EXISTS (SELECT FROM pg_class WHERE oid = to_regclass('ferry."{view}"') AND relkind = 'r') THEN
                ALTER TABLE ferry."{view}" RENAME TO "{rows}";
                ALTER TABLE ferry."{rows}" ALTER COLUMN stage_id DROP DEFAULT, ALTER COLUMN raw DROP NOT NULL;
            END IF;
        END $$;
        CREATE TABLE IF NOT EXISTS ferry."{rows}" (
            stage_id        bigint PRIMARY KEY,
            run_id          bigint NOT NULL,
            batch_no        integer NOT NULL,
            line            bigint NOT NULL,
            business_key    text,
            status          text NOT NULL CHECK (status IN ('pending', 'imported', 'error')),
            raw             json, -- json, not jsonb: it keeps the source column order
            errors          jsonb,
            warnings        jsonb,
            resolved_by_run bigint
        );
        {Index(Quote(rows + "_run"), "ferry." + Quote(rows), "run_id, batch_no")}
        CREATE OR REPLACE VIEW ferry."{view}" AS
                SELECT r.stage_id, r.run_id, r.batch_no, r.line, r.business_key, r.status, r.raw, r.errors, r.warnings, r.resolved_by_run,
                       (SELECT b.tenant FROM ferry.batches b WHERE b.run_id = r.run_id AND b.entity = '{literal}' AND b.batch_no = r.batch_no) AS tenant
                FROM ferry."{rows}" r
                UNION ALL
                SELECT s.stage_id, b.run_id, b.batch_no, u.line, u.key,
                       CASE b.state WHEN 'landed' THEN 'pending' ELSE 'imported' END, NULL::json, NULL::jsonb, NULL::jsonb, NULL::bigint, b.tenant
                FROM ferry.batches b
                CROSS JOIN LATERAL unnest(b.lines, b.keys) WITH ORDINALITY AS u(line, key, ordinal)
                CROSS JOIN LATERAL (SELECT {StageId("b.run_id", "b.batch_no", "u.ordinal")} AS stage_id) s
                WHERE b.entity = '{literal}' AND b.lines IS NOT NULL AND NOT EXISTS (SELECT FROM ferry."{rows}" r WHERE r.stage_id = s.stage_id);
        """;
    }

    private static string Quote(string identifier) => "\"" + identifier + "\"";

    public static string StagingRows(string entity) => StagingTable(entity) + "_rows";

    /// <summary>A row's stage id: run, batch and 1-based position in the batch, in 23, 20 and 20 bits.</summary>
    public static string StageId(string run, string batch, string ordinal) => $"(({run}) << 40) + (({batch})::bigint << 20) + ({ordinal})";
}
