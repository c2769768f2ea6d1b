#!/usr/bin/env bash
# Ferry consolidation benchmark (user scenario 2: legacy databases into one PostgreSQL database).
#
#   bench/consolidation.sh                      # 1,000,000 students, 3,000,000 enrollments
#   bench/consolidation.sh --students 100000    # a smaller run
#
# Generates, with bench/Ferry.Bench (deterministic, seed 42), a legacy SQLite database of schools
# (one per 2,000 students), students and three enrollments per student, and the same rows split
# into three district databases (a school with its students and their enrollments per district).
# Then times, with /usr/bin/time (wall seconds and peak RSS), each case in its own fresh
# PostgreSQL database (so no case meets another's ledger or key map):
#
#   pgloader      `pgloader` with a LOAD DATABASE FROM sqlite command: it creates the legacy tables
#                 (bigint keys, text, its own type casts), COPYs them and builds their primary keys
#   ferry         `ferry run` of the whole database into schema via_ferry: every legacy key mapped to
#                 a UUID through the key map (legacy_key, uuid: legacy), every foreign key rewritten
#                 by a lookup (student -> school, enrollment -> student and school), staging, ledger
#                 and undo log, and the reconciliation at the end of the run (not --no-reconcile)
#   ferry_p1      `ferry run --parallel 1` of the three districts (tenants) into schema via_tenants
#   ferry_p3      the same with `--parallel 3`
#   pg_copy       PostgreSQL alone: the three legacy tables (exported once by sqlite3 as CSV, untimed)
#                 loaded by one psql session's `\copy … csv header` into tables with their integer
#                 primary keys: what the server needs for these rows with keys maintained while
#                 they arrive, and no key mapped, no lookup, no ledger, no reconciliation
#   pg_copy_bare  the same into tables without any index: the floor of moving the rows at all
#
# and prints a table (wall seconds, rows/s over all three tables, peak RSS, client CPU, load) and
# the ratios the targets are stated in: pgloader / ferry (≥ 5), ferry's peak RSS (< 400 MB), and
# the speed-up of --parallel 3 over --parallel 1. Also written, as Markdown, to
# bench/out/consolidation.md; data, manifests and logs go to bench/out/consolidation/ (gitignored).
#
# PostgreSQL: FERRY_BENCH_PG (an Npgsql connection string of a role allowed to CREATE DATABASE)
# reuses a server; otherwise a private, durable (fsync on) server is started with
# scripts/services.sh and stopped at the end, as bench/run.sh does. Missing tools (postgresql,
# pgloader, sqlite3, time) are installed with apt-get when running as root. The generated
# databases are kept and reused while the size and seed are the same (FERRY_BENCH_REGENERATE=1
# makes them again).
#
# Usage: bench/consolidation.sh [--students N] [--cases "pgloader ferry ferry_p1 ferry_p3"]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/bench/out
WORK=$OUT/consolidation
LOGS=$WORK/logs
GEN=$ROOT/bench/Ferry.Bench/bin/Release/net10.0/Ferry.Bench
FERRY=$OUT/ferry/ferry
SEED=42
BATCH_SIZE=10000
STUDENTS=1000000
CASES="pgloader ferry ferry_p1 ferry_p3 pg_copy pg_copy_bare"

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

die() {
    echo "consolidation.sh: $*" >&2
    exit 1
}

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

parse_arguments() {
    while [[ $# -gt 0 ]]; do
        case $1 in
            --students) [[ $# -ge 2 ]] || die "--students needs a value"; STUDENTS=$2; shift 2 ;;
            --students=*) STUDENTS=${1#*=}; shift ;;
            --cases) [[ $# -ge 2 ]] || die "--cases needs a value"; CASES=$2; shift 2 ;;
            --cases=*) CASES=${1#*=}; shift ;;
            -h|--help) usage; exit 0 ;;
            *) usage >&2; die "unknown argument '$1'" ;;
        esac
    done
    STUDENTS=${STUDENTS//_/}
    [[ $STUDENTS =~ ^[1-9][0-9]*$ ]] || die "--students: '$STUDENTS' is not a positive integer"
    local name
    for name in $CASES; do
        declare -F "case_$name" >/dev/null || die "unknown case '$name' (known: pgloader ferry ferry_p1 ferry_p3 pg_copy pg_copy_bare)"
    done
}

# ---- tools and build --------------------------------------------------------------------------

require_tools() {
    command -v dotnet >/dev/null || die "dotnet is not on PATH"
    [[ -x /usr/bin/time ]] || apt_install time
    command -v sqlite3 >/dev/null || apt_install sqlite3
    # shellcheck source-path=SCRIPTDIR/.. source=scripts/services.sh
    source "$ROOT/scripts/services.sh"
    if [[ -z ${FERRY_BENCH_PG:-} ]]; then
        [[ -n $(ferry_pg_bin) ]] || apt_install postgresql
    fi
    command -v psql >/dev/null || apt_install postgresql-client
    command -v pgloader >/dev/null || apt_install pgloader
}

build() {
    echo "building Ferry.Bench (Release)…"
    dotnet build -c Release -nologo -v q "$ROOT/bench/Ferry.Bench" >"$LOGS/build-bench.log" 2>&1 \
        || { tail -n 30 "$LOGS/build-bench.log" >&2; die "Ferry.Bench failed to build (log: $LOGS/build-bench.log)"; }
    if [[ " $CASES " == *" ferry"* ]]; then
        publish_ferry "$ROOT" "$OUT" # the same build as bench/run.sh's
    fi
}

# ---- data -------------------------------------------------------------------------------------

LEGACY=""       # the whole legacy database
SPLIT=""        # the folder of district_1.db … district_3.db
SCHOOLS=0
ENROLLMENTS=0
TOTAL_ROWS=0

generate() {
    LEGACY=$WORK/legacy_$STUDENTS.db
    SPLIT=$WORK/split_$STUDENTS
    local stamp=$WORK/legacy_$STUDENTS.stamp
    if [[ ${FERRY_BENCH_REGENERATE:-0} == 1 || ! -f $stamp || $(cat "$stamp") != "seed $SEED" ]]; then
        echo "generating $STUDENTS students (seed $SEED), whole and split into 3 districts…"
        rm -f "$stamp"
        "$GEN" consolidation --students "$STUDENTS" --seed "$SEED" --out "$LEGACY" --split "$SPLIT" --districts 3 2>>"$LOGS/generate.log" \
            || { tail -n 20 "$LOGS/generate.log" >&2; die "the generator failed (log: $LOGS/generate.log)"; }
        echo "seed $SEED" >"$stamp"
    else
        echo "reusing $LEGACY and $SPLIT (same size and seed)"
    fi
    SCHOOLS=$(sqlite3 "$LEGACY" "SELECT count(*) FROM schools")
    ENROLLMENTS=$(sqlite3 "$LEGACY" "SELECT count(*) FROM enrollments")
    TOTAL_ROWS=$((SCHOOLS + STUDENTS + ENROLLMENTS))
    echo "  $SCHOOLS schools, $STUDENTS students, $ENROLLMENTS enrollments: $TOTAL_ROWS rows"
}

# ---- PostgreSQL -------------------------------------------------------------------------------

PG_HOST="" PG_PORT="" PG_USER="" PG_PASSWORD="" PG_DATABASE="" PG_REST=""
PG_SUPERUSER=0

case_database() { echo "ferry_consolidation_$1"; }

pg_connection() {
    local conn="Host=$PG_HOST;Port=$PG_PORT;Username=$PG_USER;Password=$PG_PASSWORD;Database=$(case_database "$1")"
    [[ -n $PG_REST ]] && conn+=";$PG_REST"
    echo "$conn"
}

pg_fresh_database() {
    local db
    db=$(case_database "$1")
    pg_sql "$PG_DATABASE" "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
    pg_sql "$PG_DATABASE" "CREATE DATABASE $db" >/dev/null
    [[ $PG_SUPERUSER == 1 ]] && pg_sql "$db" "CHECKPOINT" >/dev/null
    return 0
}

pg_drop_database() {
    [[ ${FERRY_BENCH_KEEP_DB:-0} == 1 ]] || pg_sql "$PG_DATABASE" "DROP DATABASE IF EXISTS $(case_database "$1") WITH (FORCE)" >/dev/null
}

# expect_counts CASE SCHEMA SCHOOLS_TABLE STUDENTS_TABLE ENROLLMENTS_TABLE — every row arrived.
expect_counts() {
    local db s st e
    db=$(case_database "$1")
    s=$(pg_sql "$db" "SELECT count(*) FROM $2.$3")
    st=$(pg_sql "$db" "SELECT count(*) FROM $2.$4")
    e=$(pg_sql "$db" "SELECT count(*) FROM $2.$5")
    [[ $s == "$SCHOOLS" && $st == "$STUDENTS" && $e == "$ENROLLMENTS" ]] \
        || die "$1: $2 holds $s schools, $st students, $e enrollments; expected $SCHOOLS, $STUDENTS, $ENROLLMENTS"
}

# ---- measuring (as bench/run.sh) --------------------------------------------------------------

RESULT_CASE=()
declare -A SECONDS_OF=() KB_OF=() CPU_OF=() LOAD_OF=()

measure() {
    local name=$1 allowed=$2
    shift 2
    local log="$LOGS/$name.log" timing="$LOGS/$name.time" rc user system load
    printf '  %-12s %10s rows … ' "$name" "$TOTAL_ROWS"
    # Untimed: files the machine still has to write (the generated data, the previous case's output)
    # written now, not by the kernel in the middle of the case.
    sync
    if /usr/bin/time -f '%e %M %U %S' -o "$timing" "$@" >"$log" 2>&1; then rc=0; else rc=$?; fi
    load=$(cut -d' ' -f1 /proc/loadavg)
    if [[ " $allowed " != *" $rc "* ]]; then
        echo "exit code $rc"
        tail -n 30 "$log" >&2
        die "$name exited with code $rc (allowed: $allowed); log: $log"
    fi
    local seconds kb
    read -r seconds kb user system < <(tail -n 1 "$timing")
    [[ $kb =~ ^[0-9]+$ ]] || die "could not read /usr/bin/time output in $timing"
    echo "${seconds}s, $((kb / 1024)) MB, exit $rc (CPU ${user}s user ${system}s system, load $load)"
    RESULT_CASE+=("$name")
    SECONDS_OF[$name]=$seconds
    KB_OF[$name]=$kb
    CPU_OF[$name]=$(awk -v u="$user" -v s="$system" 'BEGIN { printf "%.2f", u + s }')
    LOAD_OF[$name]=$load
}

# ---- cases ------------------------------------------------------------------------------------

case_pgloader() {
    local db command=$WORK/pgloader.load
    db=$(case_database pgloader)
    pg_fresh_database pgloader
    pg_sql "$db" "CREATE SCHEMA via_pgloader" >/dev/null
    # pgloader's usual migration of a whole SQLite database: create the tables, COPY, then build
    # the indexes and primary keys. The password is not in the file: pgloader reads PGPASSWORD.
    cat >"$command" <<EOF2
-- Written by bench/consolidation.sh; regenerated on every run.
LOAD DATABASE
     FROM sqlite://$LEGACY
     INTO postgresql://$PG_USER@$PG_HOST:$PG_PORT/$db
     WITH include drop, create tables, create indexes, reset sequences
     SET search_path to 'via_pgloader'
;
EOF2
    rm -rf "$WORK/pgloader"
    # pgloader ends 0 even when it rejected rows: the counts decide.
    measure pgloader "0" pgloader --root-dir "$WORK/pgloader" "$command"
    expect_counts pgloader via_pgloader schools students enrollments
    pg_drop_database pgloader
}

# The entities of both ferry manifests: keys mapped to UUIDs, foreign keys rewritten by lookups.
ENTITIES_YAML=$(cat <<EOF2
entities:
  - name: school
    from: { table: schools, key: [id] }
    legacy_key: [id]
    key: [id]
    batch_size: $BATCH_SIZE
    columns:
      id: { uuid: legacy }
      legacy_id: { from: id, type: int }
      name: name
      city: city
  - name: student
    from: { table: students, key: [id] }
    legacy_key: [id]
    key: [id]
    batch_size: $BATCH_SIZE
    rules:
      - { column: birth_date, type: date, format: yyyy-MM-dd }
      - { column: grade, type: int, range: { min: 1, max: 12 } }
    columns:
      id: { uuid: legacy }
      legacy_id: { from: id, type: int }
      school_id: { from: school_id, lookup: school }
      first_name: first_name
      last_name: last_name
      birth_date: { from: birth_date, type: date, format: yyyy-MM-dd }
      grade: { from: grade, type: int }
  - name: enrollment
    from: { table: enrollments, key: [id] }
    legacy_key: [id]
    key: [id]
    batch_size: $BATCH_SIZE
    columns:
      id: { uuid: legacy }
      legacy_id: { from: id, type: int }
      student_id: { from: student_id, lookup: student }
      school_id: { from: school_id, lookup: school }
      school_year: school_year
      grade: { from: grade, type: int }
      enrolled_on: { from: enrolled_on, type: date, format: yyyy-MM-dd }
EOF2
)

# run_ferry CASE MANIFEST [ARGS…] — time `ferry run` (with its reconciliation) into CASE's database.
run_ferry() {
    local name=$1 manifest=$2
    shift 2
    pg_fresh_database "$name"
    # 0: succeeded. 3 (rows rejected) or 4 (a reconciliation mismatch) would mean a wrong load here.
    measure "$name" "0" env FERRY_BENCH_PG="$(pg_connection "$name")" "$FERRY" run "$manifest" "$@"
}

case_ferry() {
    local manifest=$WORK/ferry.yaml
    cat >"$manifest" <<EOF2
# Written by bench/consolidation.sh; regenerated on every run.
name: consolidation-bench
source: { type: sqlite, connection: "Data Source=$LEGACY" }
target: { type: postgres, connection: "\${FERRY_BENCH_PG}", schema: via_ferry }
$ENTITIES_YAML
EOF2
    run_ferry ferry "$manifest"
    expect_counts ferry via_ferry school student enrollment
    pg_drop_database ferry
}

write_tenant_manifest() {
    cat >"$1" <<EOF2
# Written by bench/consolidation.sh; regenerated on every run.
name: consolidation-bench-tenants
tenant_column: district
tenants:
  - { id: district_1, source: { type: sqlite, connection: "Data Source=$SPLIT/district_1.db" } }
  - { id: district_2, source: { type: sqlite, connection: "Data Source=$SPLIT/district_2.db" } }
  - { id: district_3, source: { type: sqlite, connection: "Data Source=$SPLIT/district_3.db" } }
target: { type: postgres, connection: "\${FERRY_BENCH_PG}", schema: via_tenants }
$ENTITIES_YAML
EOF2
}

run_tenants() {
    local name=$1 parallel=$2 manifest=$WORK/tenants.yaml
    write_tenant_manifest "$manifest"
    run_ferry "$name" "$manifest" --parallel "$parallel"
    expect_counts "$name" via_tenants school student enrollment
    pg_drop_database "$name"
}

case_ferry_p1() { run_tenants ferry_p1 1; }
case_ferry_p3() { run_tenants ferry_p3 3; }

# run_pg_copy CASE KEY — psql's \copy of the legacy tables' CSV into tables typed as the legacy ones,
# with KEY ("primary key" or nothing) on each id.
run_pg_copy() {
    local name=$1 key=$2 db csv=$WORK/csv_$STUDENTS table
    db=$(case_database "$name")
    mkdir -p "$csv"
    for table in schools students enrollments; do
        [[ -s $csv/$table.csv && $csv/$table.csv -nt $LEGACY ]] || sqlite3 -csv -header "$LEGACY" "SELECT * FROM $table ORDER BY id" >"$csv/$table.csv"
    done
    pg_fresh_database "$name"
    pg_sql "$db" "CREATE SCHEMA via_copy;
        CREATE TABLE via_copy.schools (id bigint $key, name text NOT NULL, city text);
        CREATE TABLE via_copy.students (id bigint $key, school_id bigint NOT NULL, first_name text, last_name text, birth_date date, grade integer);
        CREATE TABLE via_copy.enrollments (id bigint $key, student_id bigint NOT NULL, school_id bigint NOT NULL, school_year text, grade integer, enrolled_on date)" >/dev/null
    measure "$name" "0" psql -X -q -v ON_ERROR_STOP=1 -d "$db" \
        -c "\\copy via_copy.schools from '$csv/schools.csv' csv header" \
        -c "\\copy via_copy.students from '$csv/students.csv' csv header" \
        -c "\\copy via_copy.enrollments from '$csv/enrollments.csv' csv header"
    expect_counts "$name" via_copy schools students enrollments
    pg_drop_database "$name"
}

case_pg_copy() { run_pg_copy pg_copy "PRIMARY KEY"; }
case_pg_copy_bare() { run_pg_copy pg_copy_bare ""; }

# ---- report -----------------------------------------------------------------------------------

report() {
    local md=$OUT/consolidation.md name
    {
        echo "$MACHINE"
        echo
        echo "$SCHOOLS schools, $STUDENTS students, $ENROLLMENTS enrollments ($TOTAL_ROWS rows), batch $BATCH_SIZE"
        echo
        echo "| case | rows | seconds | rows/s | peak RSS MB | client CPU s | load (1 min) |"
        echo "|---|---:|---:|---:|---:|---:|---:|"
    } >"$md"
    echo
    printf '%-12s %10s %9s %9s %13s %8s %6s\n' case rows seconds rows/s "peak RSS MB" "CPU s" load
    printf '%-12s %10s %9s %9s %13s %8s %6s\n' ------------ ---------- --------- --------- ------------- -------- ------
    for name in "${RESULT_CASE[@]}"; do
        local s=${SECONDS_OF[$name]} kb=${KB_OF[$name]} cpu=${CPU_OF[$name]} la=${LOAD_OF[$name]}
        awk -v c="$name" -v r="$TOTAL_ROWS" -v s="$s" -v kb="$kb" -v cpu="$cpu" -v la="$la" 'BEGIN {
            printf "%-12s %10d %9.2f %9.0f %13.1f %8s %6s\n", c, r, s, (s > 0 ? r / s : 0), kb / 1024, cpu, la }'
        awk -v c="$name" -v r="$TOTAL_ROWS" -v s="$s" -v kb="$kb" -v cpu="$cpu" -v la="$la" 'BEGIN {
            printf "| %s | %d | %.2f | %.0f | %.1f | %s | %s |\n", c, r, s, (s > 0 ? r / s : 0), kb / 1024, cpu, la }' >>"$md"
    done
    local pf rss speedup lines=()
    pf=$(ratio "${SECONDS_OF[pgloader]:-}" "${SECONDS_OF[ferry]:-}")
    rss=$(awk -v kb="${KB_OF[ferry]:-}" 'BEGIN { if (kb == "") print "n/a"; else printf "%.1f\n", kb / 1024 }')
    speedup=$(ratio "${SECONDS_OF[ferry_p1]:-}" "${SECONDS_OF[ferry_p3]:-}")
    lines+=("pgloader / ferry: $pf (target ≥ 5: $(verdict "$pf" ">=" 5))")
    lines+=("ferry peak RSS: $rss MB (target < 400 MB: $(verdict "$rss" "<" 400))")
    lines+=("ferry --parallel 3 speed-up over --parallel 1 (three districts): $speedup")
    if [[ -n ${SECONDS_OF[pgloader]:-} && -n ${SECONDS_OF[pg_copy_bare]:-} ]]; then
        local goal
        goal=$(awk -v p="${SECONDS_OF[pgloader]}" 'BEGIN { printf "%.2f", p / 5 }')
        lines+=("5x faster than pgloader is ${goal}s; PostgreSQL's own \\copy of the legacy rows: ${SECONDS_OF[pg_copy]:-n/a}s with primary keys, ${SECONDS_OF[pg_copy_bare]}s without any index")
    fi
    echo >>"$md"
    local line
    for line in "${lines[@]}"; do
        echo "$line"
        echo "- $line" >>"$md"
    done
    echo
    echo "(also written to $md)"
}

describe_machine() {
    MACHINE="machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo) RAM; dotnet $(dotnet --version)"
    MACHINE+="; PostgreSQL $(pg_sql "$PG_DATABASE" "SHOW server_version") (fsync $(pg_sql "$PG_DATABASE" "SHOW fsync"), shared_buffers $(pg_sql "$PG_DATABASE" "SHOW shared_buffers"))"
    MACHINE+="; pgloader $(dpkg-query -W -f '${Version}' pgloader 2>/dev/null || true)"
    echo "$MACHINE"
}

main() {
    parse_arguments "$@"
    mkdir -p "$WORK" "$LOGS"
    : >"$LOGS/generate.log"
    : >"$LOGS/postgres.log"
    require_tools
    build
    start_or_use_postgres
    describe_machine
    generate
    local name
    for name in $CASES; do
        "case_$name"
    done
    report
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
