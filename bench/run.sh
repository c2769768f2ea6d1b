#!/usr/bin/env bash
# Ferry load benchmark.
#
# Reproduce the PostgreSQL figures in bench/README.md with one command:
#   bench/run.sh --target postgres
# (and the SQLite ones with `bench/run.sh --target sqlite`; the default, `all`, runs both).
#
# For each size it generates a FOI-request CSV (and its "every row changed" twin) with
# bench/Ferry.Bench, then times, with /usr/bin/time (wall seconds and peak RSS):
#
#   SQLite (--target sqlite)
#   sqlite3_import       the sqlite3 shell's `.import --csv` into a fresh table (the baseline)
#   ferry_first_load     `ferry run` into a fresh SQLite target (upsert, 5 rules, staging, batch 5000)
#   ferry_rerun          the same run again: nothing changed
#   ferry_changed        a run over the same references with one value of every row changed
#
#   PostgreSQL (--target postgres), each size in its own fresh database ferry_bench_<rows>, each
#   tool in its own schema, into identical tables (typed columns, `reference text PRIMARY KEY`)
#   pg_copy              psql's `\copy … from … csv header` (PostgreSQL's own COPY: the baseline)
#   pgloader             pgloader with a LOAD CSV command file written to bench/out
#   pg_ferry_first_load  `ferry run` into a fresh schema (upsert, 5 rules, staging, ledger and
#                        undo log, batch 5000)
#   pg_ferry_rerun       the same run again: nothing changed
#   pg_ferry_changed     a run over the same references with one value of every row changed
#   pg_copy_changed      PostgreSQL alone on the "every row changed" file: `\copy` into a temporary
#                        table, then one `INSERT … ON CONFLICT DO UPDATE` into via_copy's table, in
#                        one transaction; no ledger, no undo log, no validation. The floor under
#                        pg_ferry_changed: what an upsert of every row costs the server by itself
#
# Every ferry case runs with --no-reconcile: these cases time the load the issue-2 and issue-3 targets
# are stated for; the reconciliation `ferry run` does at its end by default reads the source and
# the table once more and is timed by the consolidation benchmark instead.
#
# and prints a table, with each case's time as a multiple of its family's baseline for the same
# size, the ratios the PostgreSQL targets of issue 3 are stated in (ferry/copy, pgloader/ferry,
# re-run/copy, changed/copy) and the peak-RSS ratio of ferry's first load between the largest and
# the smallest size (memory should not grow with input). The tables are also written, as Markdown,
# to bench/out/results.md.
#
# PostgreSQL: unless FERRY_BENCH_PG is set (an Npgsql connection string: Host, Port, Username,
# Password, Database; the role must be allowed to CREATE DATABASE and, for the VACUUM and
# CHECKPOINT that leave the server quiet before each case, be a superuser), the script starts a
# private, durable (fsync on) PostgreSQL on 127.0.0.1 with scripts/services.sh and stops it when
# it ends. It installs postgresql, pgloader,
# sqlite3 and time with apt-get when they are missing (as root).
#
# Usage: bench/run.sh [--target sqlite|postgres|all] [--sizes "200000 2000000"]
#                     [--cases "pg_copy pgloader …"] [--repeat N]
#
# Each case runs 3 times at sizes under 1,000,000 rows and once at larger ones (--repeat N: N times
# at every size), in rounds (every case once, in order, then again), and the table gives its median
# time and its largest peak RSS: a run on a shared 2-core machine varies by a third from one minute
# to the next, for every tool alike. Before each repetition of a case that needs the table as the
# first load left it (the "every row changed" runs), ferry loads the first file again, untimed.
#
# --cases overrides the selection --target makes. A case is a function `case_<name> ROWS` that
# calls `measure`; add one by writing the function and adding its name to the case lists below.
# Output and logs go to bench/out/ (gitignored).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/bench/out
LOGS=$OUT/logs
GEN=$ROOT/bench/Ferry.Bench/bin/Release/net10.0/Ferry.Bench
FERRY=$OUT/ferry/ferry
SEED=42
BATCH_SIZE=5000

SQLITE_CASES="sqlite3_import ferry_first_load ferry_rerun ferry_changed"
POSTGRES_CASES="pg_copy pgloader pg_ferry_first_load pg_ferry_rerun pg_ferry_changed pg_copy_changed"

SIZES="200000 2000000"
TARGET=all
CASES=""
REPEAT=""

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

die() {
    echo "run.sh: $*" >&2
    exit 1
}

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

parse_arguments() {
    while [[ $# -gt 0 ]]; do
        case $1 in
            --sizes) [[ $# -ge 2 ]] || die "--sizes needs a value"; SIZES=$2; shift 2 ;;
            --sizes=*) SIZES=${1#*=}; shift ;;
            --cases) [[ $# -ge 2 ]] || die "--cases needs a value"; CASES=$2; shift 2 ;;
            --cases=*) CASES=${1#*=}; shift ;;
            --target) [[ $# -ge 2 ]] || die "--target needs a value"; TARGET=$2; shift 2 ;;
            --target=*) TARGET=${1#*=}; shift ;;
            --repeat) [[ $# -ge 2 ]] || die "--repeat needs a value"; REPEAT=$2; shift 2 ;;
            --repeat=*) REPEAT=${1#*=}; shift ;;
            -h|--help) usage; exit 0 ;;
            *) usage >&2; die "unknown argument '$1'" ;;
        esac
    done

    for rows in $SIZES; do
        [[ $rows =~ ^[1-9][0-9]*$ ]] || die "--sizes: '$rows' is not a positive integer"
    done
    [[ -z $REPEAT || $REPEAT =~ ^[1-9][0-9]*$ ]] || die "--repeat: '$REPEAT' is not a positive integer"
    case $TARGET in
        sqlite) DEFAULT_CASES=$SQLITE_CASES ;;
        postgres) DEFAULT_CASES=$POSTGRES_CASES ;;
        all) DEFAULT_CASES="$SQLITE_CASES $POSTGRES_CASES" ;;
        *) die "--target must be sqlite, postgres or all, not '$TARGET'" ;;
    esac
    CASES=${CASES:-$DEFAULT_CASES}
}

# family CASE — sqlite or postgres: which baseline the case is compared with.
family() {
    case $1 in
        pg_*|pgloader) echo postgres ;;
        *) echo sqlite ;;
    esac
}

uses_family() {
    local name
    for name in $CASES; do [[ $(family "$name") == "$1" ]] && return 0; done
    return 1
}

# ---- tools ------------------------------------------------------------------------------------

require_tools() {
    command -v dotnet >/dev/null || die "dotnet is not on PATH"
    [[ -x /usr/bin/time ]] || apt_install time
    if uses_family sqlite; then
        command -v sqlite3 >/dev/null || apt_install sqlite3
    fi
    if uses_family postgres; then
        # shellcheck source-path=SCRIPTDIR/.. source=scripts/services.sh
        source "$ROOT/scripts/services.sh"
        if [[ -z ${FERRY_BENCH_PG:-} ]]; then
            [[ -n $(ferry_pg_bin) ]] || apt_install postgresql
        fi
        command -v psql >/dev/null || apt_install postgresql-client
        command -v pgloader >/dev/null || apt_install pgloader
    fi
}

uses_ferry() {
    [[ " $CASES " == *"ferry_"* ]]
}

build() {
    echo "building Ferry.Bench (Release)…"
    dotnet build -c Release -nologo -v q "$ROOT/bench/Ferry.Bench" >"$LOGS/build-bench.log" 2>&1 \
        || { tail -n 30 "$LOGS/build-bench.log" >&2; die "Ferry.Bench failed to build (log: $LOGS/build-bench.log)"; }
    if uses_ferry; then
        publish_ferry "$ROOT" "$OUT"
    fi
}

# ---- data -------------------------------------------------------------------------------------

csv_file() { echo "$OUT/foi_$1.csv"; }
changed_file() { echo "$OUT/foi_$1_changed.csv"; }

generate() {
    local rows=$1
    echo "generating $rows rows (seed $SEED)…"
    "$GEN" gen --rows "$rows" --seed "$SEED" --out "$(csv_file "$rows")" 2>>"$LOGS/generate.log"
    "$GEN" gen --rows "$rows" --seed "$SEED" --changed --out "$(changed_file "$rows")" 2>>"$LOGS/generate.log"
}

# ---- measuring --------------------------------------------------------------------------------

RESULT_CASE=()
RESULT_ROWS=()
RESULT_SECONDS=()
RESULT_KB=()
RESULT_CPU=()
RESULT_LOAD=()
declare -A SECONDS_OF=()  # "case:rows" -> seconds
declare -A KB_OF=()       # "case:rows" -> peak RSS in KB
declare -A SAMPLES=()     # "case:rows" -> one line per run: seconds, peak RSS in KB, CPU s, load

# measure CASE ROWS ALLOWED_EXIT_CODES COMMAND… — runs COMMAND under /usr/bin/time, records a sample
# of the case (finish_case makes its result), and sets MEASURED_SECONDS and MEASURED_KB. Exit codes
# outside ALLOWED (e.g. "0 3") abort.
# Also recorded, to judge the figures: the command's own CPU seconds (user + system; for the
# PostgreSQL cases the server's work is not in it) and the 1-minute load average when it ended
# (on 2 cores, well above 2 means something else was competing for the CPUs).
measure() {
    local name=$1 rows=$2 allowed=$3
    shift 3
    local log="$LOGS/${name}_$rows.log" timing="$LOGS/${name}_$rows.time" rc
    printf '  %-20s %10s rows … ' "$name" "$rows"
    # Untimed: files the machine still has to write (the generated data, the previous case's output)
    # written now, not by the kernel in the middle of the case.
    sync
    if /usr/bin/time -f '%e %M %U %S' -o "$timing" "$@" >"$log" 2>&1; then rc=0; else rc=$?; fi
    local load user system
    load=$(cut -d' ' -f1 /proc/loadavg)
    if [[ " $allowed " != *" $rc "* ]]; then
        echo "exit code $rc"
        tail -n 20 "$log" >&2
        die "$name ($rows rows) exited with code $rc (allowed: $allowed); log: $log"
    fi
    MEASURED_RC=$rc
    read -r MEASURED_SECONDS MEASURED_KB user system < <(tail -n 1 "$timing")
    [[ $MEASURED_KB =~ ^[0-9]+$ ]] || die "could not read /usr/bin/time output in $timing"
    echo "${MEASURED_SECONDS}s, $((MEASURED_KB / 1024)) MB, exit $rc (CPU ${user}s user ${system}s system, load $load)"
    SAMPLES[$name:$rows]+="$MEASURED_SECONDS $MEASURED_KB $(awk -v u="$user" -v s="$system" 'BEGIN { printf "%.2f", u + s }') $load
"
}

# drop_last_sample CASE ROWS — forgets the case's last sample (a run that did not count).
drop_last_sample() {
    SAMPLES[$1:$2]=$(printf '%s' "${SAMPLES[$1:$2]}" | sed '$d')
    [[ -z ${SAMPLES[$1:$2]} ]] || SAMPLES[$1:$2]+=$'\n'
}

# repeats_for ROWS — how many times each case runs at that size.
repeats_for() {
    if [[ -n $REPEAT ]]; then echo "$REPEAT"; elif (($1 < 1000000)); then echo 3; else echo 1; fi
}

# finish_case NAME ROWS — the case's result from its samples: the median time (the lower middle
# one of an even number), with that run's CPU and load, and the largest peak RSS of all of them.
finish_case() {
    local name=$1 rows=$2 n seconds kb cpu load max_kb
    [[ -n ${SAMPLES[$name:$rows]:-} ]] || die "case $name measured nothing"
    n=$(printf '%s' "${SAMPLES[$name:$rows]}" | grep -c .)
    read -r seconds kb cpu load < <(printf '%s' "${SAMPLES[$name:$rows]}" | sort -n -k1,1 | sed -n "$(((n + 1) / 2))p")
    max_kb=$(printf '%s' "${SAMPLES[$name:$rows]}" | awk '$2 > m { m = $2 } END { print m }')
    ((n > 1)) && printf '  %-20s %10s rows: median %ss of %d runs (%s), largest peak RSS %s MB\n' "$name" "$rows" "$seconds" "$n" \
        "$(printf '%s' "${SAMPLES[$name:$rows]}" | awk '{ printf "%s%ss", sep, $1; sep = ", " }')" "$((max_kb / 1024))"
    RESULT_CPU+=("$cpu")
    RESULT_LOAD+=("$load")
    RESULT_CASE+=("$name")
    RESULT_ROWS+=("$rows")
    RESULT_SECONDS+=("$seconds")
    RESULT_KB+=("$max_kb")
    SECONDS_OF[$name:$rows]=$seconds
    KB_OF[$name:$rows]=$max_kb
}

# expect_rows DB TABLE ROWS — the load really put ROWS rows in TABLE.
expect_rows() {
    local count
    count=$(sqlite3 "$1" "SELECT count(*) FROM $2;" 2>&1) || die "$1: cannot count the rows of $2: $count"
    [[ $count == "$3" ]] || die "$1: table $2 has $count rows, expected $3"
}

fresh_db() {
    rm -f "$1" "$1-wal" "$1-shm" "$1-journal"
}

# The ferry manifest's entity: the same 5-rule contract and mapping for every target.
ENTITY_YAML=$(cat <<EOF2
entities:
  - name: foi_request
    table: foi_request
    key: [reference]
    mode: upsert
    batch_size: $BATCH_SIZE
    staging: true
    rules:
      - { column: reference, required: true }
      - { column: reference, regex: '^FOI-\d{4}-\d{6}\$' }
      - { column: received, type: date, format: yyyy-MM-dd }
      - { column: status, allowed: [open, in_progress, closed, withdrawn, refused] }
      - { column: pages, type: int, range: { min: 0 } }
    columns:
      reference: reference
      requester_name: requester_name
      requester_email: requester_email
      received: { from: received, type: date, format: yyyy-MM-dd }
      due: { from: due, type: date, format: yyyy-MM-dd }
      status: status
      department: department
      pages: { from: pages, type: int, default: 0 }
      fee: { from: fee, type: decimal }
      subject: subject
EOF2
)

# write_manifest MANIFEST CSV TARGET_YAML — a manifest in bench/out loading CSV into TARGET_YAML.
write_manifest() {
    local manifest=$1 csv=$2 target=$3
    cat >"$manifest" <<EOF2
# Written by bench/run.sh; regenerated on every run.
name: foi-bench
source:
  type: csv
  path: $(basename "$csv")
target:
$target
$ENTITY_YAML
EOF2
}

# ---- cases: sqlite3 ---------------------------------------------------------------------------

case_sqlite3_import() {
    local rows=$1 db="$OUT/sqlite3_$1.db"
    fresh_db "$db"
    sqlite3 "$db" "CREATE TABLE foi_request (
        reference TEXT PRIMARY KEY, requester_name TEXT, requester_email TEXT, received TEXT,
        due TEXT, status TEXT, department TEXT, pages TEXT, fee TEXT, subject TEXT);"
    measure sqlite3_import "$rows" "0" \
        sqlite3 "$db" ".import --csv --skip 1 \"$(csv_file "$rows")\" foi_request"
    expect_rows "$db" foi_request "$rows"
}

# ---- cases: ferry on SQLite -------------------------------------------------------------------

ferry_db() { echo "$OUT/ferry_$1.db"; }

run_ferry() {
    local name=$1 rows=$2 csv=$3 manifest
    manifest="$OUT/$(basename "$csv" .csv).yaml"
    write_manifest "$manifest" "$csv" "  type: sqlite
  connection: \"Data Source=$(basename "$(ferry_db "$rows")")\""
    # 0: succeeded; 3: partial (rows rejected). Anything else is a failure.
    measure "$name" "$rows" "0 3" "$FERRY" run "$manifest" --no-reconcile
    expect_rows "$(ferry_db "$rows")" foi_request "$rows"
}

case_ferry_first_load() {
    fresh_db "$(ferry_db "$1")"
    run_ferry ferry_first_load "$1" "$(csv_file "$1")"
}

case_ferry_rerun() {
    [[ -f $(ferry_db "$1") ]] || die "ferry_rerun needs ferry_first_load before it"
    run_ferry ferry_rerun "$1" "$(csv_file "$1")"
}

# Untimed, before a repetition: the table back to the first file's contents.
reset_ferry_changed() {
    "$FERRY" run "$OUT/foi_$1.yaml" --no-reconcile >"$LOGS/reset_ferry_changed_$1.log" 2>&1 \
        || die "reloading the first file before ferry_changed failed (log: $LOGS/reset_ferry_changed_$1.log)"
}

case_ferry_changed() {
    [[ -f $(ferry_db "$1") ]] || die "ferry_changed needs ferry_first_load before it"
    run_ferry ferry_changed "$1" "$(changed_file "$1")"
}

# ---- PostgreSQL -------------------------------------------------------------------------------

PG_HOST="" PG_PORT="" PG_USER="" PG_PASSWORD="" PG_DATABASE="" PG_REST=""
PG_SUPERUSER=0

pg_database() { echo "ferry_bench_$1"; }

# The Npgsql connection string of a size's database, for ferry.
pg_connection() {
    local conn
    conn="Host=$PG_HOST;Port=$PG_PORT;Username=$PG_USER;Password=$PG_PASSWORD;Database=$(pg_database "$1")"
    [[ -n $PG_REST ]] && conn+=";$PG_REST"
    echo "$conn"
}

# Each size loads into its own fresh database, so that the sizes' ledgers, staging tables and
# undo logs do not meet; each tool loads into its own schema of it.
pg_fresh_database() {
    local db
    db=$(pg_database "$1")
    pg_sql "$PG_DATABASE" "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
    pg_sql "$PG_DATABASE" "CREATE DATABASE $db" >/dev/null
}

pg_drop_database() {
    pg_sql "$PG_DATABASE" "DROP DATABASE IF EXISTS $(pg_database "$1") WITH (FORCE)" >/dev/null
}

pg_require_database() {
    [[ $(pg_sql "$PG_DATABASE" "SELECT count(*) FROM pg_database WHERE datname = '$(pg_database "$1")'") == 1 ]] \
        || die "database $(pg_database "$1") is missing (it is created when a size starts)"
}

# pg_fresh_table ROWS SCHEMA — an empty SCHEMA.foi_request, the same table for every tool: the
# column types ferry's mapping gives (and creates itself when the table is missing) and the key.
pg_fresh_table() {
    pg_sql "$(pg_database "$1")" "
        DROP SCHEMA IF EXISTS $2 CASCADE;
        CREATE SCHEMA $2;
        CREATE TABLE $2.foi_request (
            reference text PRIMARY KEY, requester_name text, requester_email text, received date,
            due date, status text, department text, pages bigint, fee numeric, subject text);" >/dev/null
}

# Before each case, untimed: the server left quiet, so that no case pays for the previous one's
# aftermath. VACUUM (ANALYZE) does now what autovacuum would otherwise start on the tables the
# previous case filled, a minute or so later and in the middle of the next case (2,000,000 rows
# take it seconds of CPU on a 2-core machine); CHECKPOINT writes out the previous case's pages.
pg_settle() {
    local db
    db=$(pg_database "$1")
    if [[ $PG_SUPERUSER == 1 ]]; then
        pg_sql "$db" "VACUUM (ANALYZE)" >/dev/null
        pg_sql "$db" "CHECKPOINT" >/dev/null
    fi
    return 0
}

# expect_pg_rows ROWS SCHEMA — SCHEMA.foi_request holds ROWS rows and still has its primary key.
expect_pg_rows() {
    local db count pk
    db=$(pg_database "$1")
    count=$(pg_sql "$db" "SELECT count(*) FROM $2.foi_request")
    [[ $count == "$1" ]] || die "$db: $2.foi_request has $count rows, expected $1"
    pk=$(pg_sql "$db" "SELECT count(*) FROM pg_constraint WHERE conrelid = '$2.foi_request'::regclass AND contype = 'p'")
    [[ $pk == 1 ]] || die "$db: $2.foi_request has lost its primary key"
}

# expect_same_as_copy ROWS SCHEMA — SCHEMA.foi_request holds what \copy loaded, row for row (a
# blank `pages` is NULL after COPY and pgloader, 0 after ferry, whose mapping has `default: 0`).
# Not timed; skipped when pg_copy did not run.
expect_same_as_copy() {
    local db columns differ
    db=$(pg_database "$1")
    [[ $(pg_sql "$db" "SELECT to_regclass('via_copy.foi_request') IS NOT NULL") == t ]] || return 0
    columns="reference, requester_name, requester_email, received, due, status, department, coalesce(pages, 0), fee, subject"
    differ=$(pg_sql "$db" "SELECT count(*) FROM (
        (SELECT $columns FROM $2.foi_request EXCEPT ALL SELECT $columns FROM via_copy.foi_request)
        UNION ALL
        (SELECT $columns FROM via_copy.foi_request EXCEPT ALL SELECT $columns FROM $2.foi_request)) d")
    [[ $differ == 0 ]] || die "$db: $2.foi_request differs from via_copy.foi_request in $differ rows"
}

# ---- cases: PostgreSQL's COPY and pgloader -----------------------------------------------------

case_pg_copy() {
    local rows=$1
    pg_require_database "$rows"
    pg_fresh_table "$rows" via_copy
    pg_settle "$rows"
    measure pg_copy "$rows" "0" \
        psql -X -v ON_ERROR_STOP=1 -d "$(pg_database "$rows")" \
        -c "\\copy via_copy.foi_request from '$(csv_file "$rows")' csv header"
    expect_pg_rows "$rows" via_copy
}

# After the ferry cases: it changes via_copy's table, which they are compared with.
case_pg_copy_changed() {
    local rows=$1 db set
    pg_require_database "$rows"
    db=$(pg_database "$rows")
    [[ $(pg_sql "$db" "SELECT count(*) FROM via_copy.foi_request") == "$rows" ]] || die "pg_copy_changed needs pg_copy before it"
    set="requester_name = EXCLUDED.requester_name, requester_email = EXCLUDED.requester_email, received = EXCLUDED.received,
         due = EXCLUDED.due, status = EXCLUDED.status, department = EXCLUDED.department, pages = EXCLUDED.pages,
         fee = EXCLUDED.fee, subject = EXCLUDED.subject"
    pg_settle "$rows"
    measure pg_copy_changed "$rows" "0" \
        psql -X -v ON_ERROR_STOP=1 -d "$db" -c "BEGIN" \
        -c "CREATE TEMP TABLE changed (LIKE via_copy.foi_request) ON COMMIT DROP" \
        -c "\\copy changed from '$(changed_file "$rows")' csv header" \
        -c "INSERT INTO via_copy.foi_request SELECT * FROM changed ON CONFLICT (reference) DO UPDATE SET $set" \
        -c "COMMIT"
    expect_pg_rows "$rows" via_copy
}

# write_pgloader_command ROWS FILE — a LOAD CSV command: the same file, parsed as PostgreSQL's
# CSV (quoted fields, "" for a quote, an empty unquoted field is NULL), into via_pgloader's table.
# `keep unquoted blanks`: by default pgloader trims the spaces around unquoted values (the file
# has names like ` Samuel Wright`), which COPY and ferry keep; the tables must end up identical.
# The password is not in it: pgloader reads PGPASSWORD.
write_pgloader_command() {
    local rows=$1 file=$2 columns="reference, requester_name, requester_email, received, due, status, department, pages, fee, subject"
    cat >"$file" <<EOF2
-- Written by bench/run.sh; regenerated on every run.
LOAD CSV
     FROM '$(csv_file "$rows")' WITH ENCODING 'utf-8'
          ($columns)
     INTO postgresql://$PG_USER@$PG_HOST:$PG_PORT/$(pg_database "$rows")
          TARGET TABLE via_pgloader.foi_request
          ($columns)
     WITH skip header = 1,
          keep unquoted blanks,
          fields optionally enclosed by '"',
          fields escaped by double-quote,
          fields terminated by ','
;
EOF2
}

case_pgloader() {
    local rows=$1 command="$OUT/pgloader_$1.load"
    pg_require_database "$rows"
    pg_fresh_table "$rows" via_pgloader
    write_pgloader_command "$rows" "$command"
    rm -rf "$OUT/pgloader_$rows"
    pg_settle "$rows"
    # pgloader ends 0 even when it rejected rows (they go to its reject files): the count decides.
    # Now and then it stops with exit code 1 and an internal error of its Lisp runtime ("Invalid index 1
    # for (SIMPLE-ARRAY (UNSIGNED-BYTE 32) (1))"): that run is not counted, its log is kept, and it runs
    # once more (a second failure ends the benchmark).
    measure pgloader "$rows" "0 1" pgloader --root-dir "$OUT/pgloader_$rows" "$command"
    if [[ $MEASURED_RC != 0 ]]; then
        cp "$LOGS/pgloader_$rows.log" "$LOGS/pgloader_$rows.failed-$(date +%H%M%S).log"
        echo "  pgloader failed (exit $MEASURED_RC, log kept in $LOGS): not counted, running it again"
        drop_last_sample pgloader "$rows"
        pg_fresh_table "$rows" via_pgloader
        rm -rf "$OUT/pgloader_$rows"
        pg_settle "$rows"
        measure pgloader "$rows" "0" pgloader --root-dir "$OUT/pgloader_$rows" "$command"
    fi
    expect_pg_rows "$rows" via_pgloader
    expect_same_as_copy "$rows" via_pgloader
}

# ---- cases: ferry on PostgreSQL ---------------------------------------------------------------

run_pg_ferry() {
    local name=$1 rows=$2 csv=$3 manifest
    manifest="$OUT/$(basename "$csv" .csv)_pg.yaml"
    # shellcheck disable=SC2016 # ${FERRY_BENCH_PG} is for ferry to expand
    write_manifest "$manifest" "$csv" '  type: postgres
  connection: "${FERRY_BENCH_PG}"
  schema: via_ferry'
    pg_settle "$rows"
    # 0: succeeded; 3: partial (rows rejected). Anything else is a failure.
    measure "$name" "$rows" "0 3" env FERRY_BENCH_PG="$(pg_connection "$rows")" "$FERRY" run "$manifest" --no-reconcile
    expect_pg_rows "$rows" via_ferry
}

case_pg_ferry_first_load() {
    pg_require_database "$1"
    pg_fresh_table "$1" via_ferry
    pg_sql "$(pg_database "$1")" "DROP SCHEMA IF EXISTS ferry CASCADE" >/dev/null
    run_pg_ferry pg_ferry_first_load "$1" "$(csv_file "$1")"
    expect_same_as_copy "$1" via_ferry
}

pg_require_ferry_load() {
    pg_require_database "$1"
    [[ $(pg_sql "$(pg_database "$1")" "SELECT to_regclass('via_ferry.foi_request') IS NOT NULL") == t ]] \
        || die "$2 needs pg_ferry_first_load before it"
}

case_pg_ferry_rerun() {
    pg_require_ferry_load "$1" pg_ferry_rerun
    run_pg_ferry pg_ferry_rerun "$1" "$(csv_file "$1")"
}

reset_pg_ferry_changed() {
    env FERRY_BENCH_PG="$(pg_connection "$1")" "$FERRY" run "$OUT/foi_$1_pg.yaml" --no-reconcile >"$LOGS/reset_pg_ferry_changed_$1.log" 2>&1 \
        || die "reloading the first file before pg_ferry_changed failed (log: $LOGS/reset_pg_ferry_changed_$1.log)"
}

case_pg_ferry_changed() {
    pg_require_ferry_load "$1" pg_ferry_changed
    run_pg_ferry pg_ferry_changed "$1" "$(changed_file "$1")"
}

# ---- report -----------------------------------------------------------------------------------

declare -A BASELINE_OF=([sqlite]=sqlite3_import [postgres]=pg_copy)
declare -A FIRST_LOAD_OF=([sqlite]=ferry_first_load [postgres]=pg_ferry_first_load)

smallest_and_largest() {
    local case=$1 rows small="" large=""
    for rows in $SIZES; do
        [[ -n ${KB_OF[$case:$rows]:-} ]] || continue
        [[ -z $small ]] || ((rows < small)) && small=$rows
        [[ -z $large ]] || ((rows > large)) && large=$rows
    done
    echo "$small $large"
}

report_family() {
    local fam=$1 base=${BASELINE_OF[$1]} first=${FIRST_LOAD_OF[$1]} i any=0 line rows
    for i in "${!RESULT_CASE[@]}"; do [[ $(family "${RESULT_CASE[$i]}") == "$fam" ]] && any=1; done
    [[ $any == 1 ]] || return 0
    local title=SQLite; [[ $fam == postgres ]] && title=PostgreSQL
    echo
    echo "$title (x base: the case's time as a multiple of $base's for the same size)"
    printf '%-20s %10s %9s %11s %13s %9s %8s %6s\n' case rows seconds rows/s "peak RSS MB" "x base" "CPU s" load
    printf '%-20s %10s %9s %11s %13s %9s %8s %6s\n' -------------------- ---------- --------- ----------- ------------- --------- -------- ------
    {
        echo
        echo "### $title"
        echo
        echo "| case | rows | seconds | rows/s | peak RSS MB | × $base | client CPU s | load (1 min) |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    } >>"$OUT/results.md"
    for i in "${!RESULT_CASE[@]}"; do
        [[ $(family "${RESULT_CASE[$i]}") == "$fam" ]] || continue
        local c=${RESULT_CASE[$i]} r=${RESULT_ROWS[$i]} s=${RESULT_SECONDS[$i]} kb=${RESULT_KB[$i]}
        local cpu=${RESULT_CPU[$i]} load=${RESULT_LOAD[$i]} x rate
        x=$(ratio "$s" "${SECONDS_OF[$base:$r]:-}")
        rate=$(awk -v r="$r" -v s="$s" 'BEGIN { print (s > 0 ? sprintf("%.0f", r / s) : "inf") }')
        awk -v c="$c" -v r="$r" -v s="$s" -v rate="$rate" -v kb="$kb" -v x="$x" -v cpu="$cpu" -v la="$load" \
            'BEGIN { printf "%-20s %10d %9.2f %11s %13.1f %9s %8s %6s\n", c, r, s, rate, kb / 1024, x, cpu, la }'
        awk -v c="$c" -v r="$r" -v s="$s" -v rate="$rate" -v kb="$kb" -v x="$x" -v cpu="$cpu" -v la="$load" \
            'BEGIN { printf "| %s | %d | %.2f | %s | %.1f | %s | %s | %s |\n", c, r, s, rate, kb / 1024, x, cpu, la }' >>"$OUT/results.md"
    done
    echo
    echo >>"$OUT/results.md"
    if [[ $fam == postgres ]]; then
        for rows in $SIZES; do
            [[ -n ${SECONDS_OF[pg_copy:$rows]:-} || -n ${SECONDS_OF[pg_ferry_first_load:$rows]:-} ]] || continue
            local fc pf rc cc uc fu
            fc=$(ratio "${SECONDS_OF[pg_ferry_first_load:$rows]:-}" "${SECONDS_OF[pg_copy:$rows]:-}")
            pf=$(ratio "${SECONDS_OF[pgloader:$rows]:-}" "${SECONDS_OF[pg_ferry_first_load:$rows]:-}")
            rc=$(ratio "${SECONDS_OF[pg_ferry_rerun:$rows]:-}" "${SECONDS_OF[pg_copy:$rows]:-}")
            cc=$(ratio "${SECONDS_OF[pg_ferry_changed:$rows]:-}" "${SECONDS_OF[pg_copy:$rows]:-}")
            uc=$(ratio "${SECONDS_OF[pg_copy_changed:$rows]:-}" "${SECONDS_OF[pg_copy:$rows]:-}")
            fu=$(ratio "${SECONDS_OF[pg_ferry_changed:$rows]:-}" "${SECONDS_OF[pg_copy_changed:$rows]:-}")
            line="$rows rows: ferry/copy $fc (target ≤ 1.5: $(verdict "$fc" "<=" 1.5)), pgloader/ferry $pf (≥ 5: $(verdict "$pf" ">=" 5)), re-run/copy $rc (≤ 0.5: $(verdict "$rc" "<=" 0.5)), changed/copy $cc (≤ 2.5: $(verdict "$cc" "<=" 2.5)); PostgreSQL's own upsert of the changed file/copy $uc, ferry changed/that upsert $fu"
            echo "$line"
            echo "- $line" >>"$OUT/results.md"
        done
    fi
    local small large
    read -r small large < <(smallest_and_largest "$first")
    if [[ -n $small && $small != "$large" ]]; then
        local a=${KB_OF[$first:$large]} b=${KB_OF[$first:$small]} r max=0 kb mb
        r=$(ratio "$a" "$b")
        for rows in $SIZES; do
            kb=${KB_OF[$first:$rows]:-0}
            ((kb > max)) && max=$kb
        done
        mb=$(awk -v kb="$max" 'BEGIN { printf "%.1f", kb / 1024 }')
        line="peak RSS, $first, $large rows / $small rows: $r (input ratio $(ratio "$large" "$small")); largest $mb MB"
        [[ $fam == postgres ]] && line+=" (targets: ratio ≤ 1.15: $(verdict "$r" "<=" 1.15), under 300 MB: $(verdict "$mb" "<" 300))"
    else
        line="peak RSS ratio between sizes: n/a (needs $first at two or more sizes)"
    fi
    echo "$line"
    echo "- $line" >>"$OUT/results.md"
}

report() {
    : >"$OUT/results.md"
    echo "$MACHINE" >>"$OUT/results.md"
    report_family sqlite
    report_family postgres
    echo
    echo "(also written to $OUT/results.md)"
}

# ---- main -------------------------------------------------------------------------------------

describe_machine() {
    MACHINE="machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo) RAM; dotnet $(dotnet --version)"
    if uses_family sqlite; then
        MACHINE+="; sqlite3 $(sqlite3 --version | cut -d' ' -f1)"
    fi
    if uses_family postgres; then
        MACHINE+="; PostgreSQL $(pg_sql "$PG_DATABASE" "SHOW server_version") (fsync $(pg_sql "$PG_DATABASE" "SHOW fsync"), synchronous_commit $(pg_sql "$PG_DATABASE" "SHOW synchronous_commit"), shared_buffers $(pg_sql "$PG_DATABASE" "SHOW shared_buffers"), max_wal_size $(pg_sql "$PG_DATABASE" "SHOW max_wal_size"))"
        MACHINE+="; pgloader $(dpkg-query -W -f '${Version}' pgloader 2>/dev/null || true) ($(pgloader --version 2>/dev/null | tr '\n' ' ' | sed 's/ *$//'))"
    fi
    echo "$MACHINE"
}

main() {
    parse_arguments "$@"
    local name rows
    for name in $CASES; do
        declare -F "case_$name" >/dev/null || die "unknown case '$name' (known: $(declare -F | awk '$3 ~ /^case_/ { sub(/^case_/, "", $3); printf "%s%s", sep, $3; sep = ", " }'))"
    done
    mkdir -p "$OUT" "$LOGS"
    : >"$LOGS/generate.log"
    : >"$LOGS/postgres.log"
    require_tools
    build
    if uses_family postgres; then
        start_or_use_postgres
    fi
    describe_machine
    for rows in $SIZES; do
        generate "$rows"
        uses_family postgres && pg_fresh_database "$rows"
        # Round by round, every case once a round: a tool and the floor it is compared with run minutes
        # apart at most, so that the machine speeding up or slowing down moves both.
        local i n
        n=$(repeats_for "$rows")
        for ((i = 1; i <= n; i++)); do
            ((n > 1)) && echo "  round $i of $n"
            for name in $CASES; do
                if ((i > 1)) && declare -F "reset_$name" >/dev/null; then "reset_$name" "$rows"; fi
                "case_$name" "$rows"
            done
        done
        for name in $CASES; do
            finish_case "$name" "$rows"
        done
        # The size's database is no longer needed; keep it with FERRY_BENCH_KEEP_DB=1.
        if uses_family postgres && [[ ${FERRY_BENCH_KEEP_DB:-0} != 1 ]]; then
            pg_drop_database "$rows"
        fi
    done
    report
}

# Run unless sourced (sourcing gives the functions, e.g. to try one case by hand).
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
