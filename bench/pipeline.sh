#!/usr/bin/env bash
# bench/pipeline.sh — the file-fed pipeline of examples/citizen-mart, timed on PostgreSQL.
#
# For each size (people registered in the first month; 550000 makes a ~50 MB XLSX, 55000 a ~5 MB
# one) it generates two monthly extracts with examples/citizen-mart/generator (deterministic, seed
# 2026), creates a fresh database ferry_pipeline_<people>, and times two cases with /usr/bin/time
# (wall seconds, peak RSS of the ferry process):
#
#   first_month    month 1 dropped into landing/, `ferry pipeline run`: ingest (SHA-256, registry),
#                  validate (the contract over every row, Parquet stage), history (scd2: every
#                  row a first version), publish (the mart's four SQL files, one transaction)
#   second_month   month 2 dropped, `ferry pipeline run` again: the history closes the leavers,
#                  opens versions for movers, corrections and new numbers, keeps the rest, and
#                  the mart is rebuilt
#
# Each step's own time comes from ferry's audit trail (`ferry audit --json`, duration_ms).
# ferry is published to bench/out/ferry/ as bench/run.sh does (publish_ferry in bench/lib.sh). PostgreSQL: FERRY_BENCH_PG
# (an Npgsql connection string of a role that may CREATE DATABASE), or else a private durable
# server (FERRY_DB_DURABLE=1) started with scripts/services.sh and stopped when the script ends.
#
# Usage: bench/pipeline.sh [--sizes "55000 550000"]
# Output: bench/out/pipeline/ (gitignored): extracts, work folders, logs, results.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/bench/out
WORK=$OUT/pipeline
LOGS=$WORK/logs
FERRY=$OUT/ferry/ferry
GEN=$ROOT/examples/citizen-mart/generator/bin/Release/net10.0/citizen-gen
SIZES="55000 550000"

die() { echo "pipeline.sh: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --sizes) SIZES=${2:?--sizes needs a value}; shift 2 ;;
        -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (try --help)" ;;
    esac
done

mkdir -p "$LOGS"
command -v dotnet >/dev/null || die "dotnet is not on PATH"
command -v jq >/dev/null || die "jq is missing (apt-get install jq)"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing (apt-get install time)"
command -v psql >/dev/null || die "psql is missing (apt-get install postgresql-client)"

echo "building the generator…"
dotnet build -c Release -nologo -v q "$ROOT/examples/citizen-mart/generator" >"$LOGS/build-gen.log" 2>&1 \
    || { tail -n 30 "$LOGS/build-gen.log" >&2; die "the generator failed to build"; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
publish_ferry "$ROOT" "$OUT"

if [[ -z ${FERRY_BENCH_PG:-} ]]; then
    echo "starting a private PostgreSQL (durable: fsync on) with scripts/services.sh…"
    # shellcheck source=scripts/services.sh
    source "$ROOT/scripts/services.sh"
    export FERRY_DB_DURABLE=1
    start_postgres 2>>"$LOGS/postgres.log" || { tail -n 40 "$LOGS/postgres.log" >&2; die "PostgreSQL did not start"; }
    FERRY_BENCH_PG=$FERRY_TEST_PG
fi

# The connection string's parts for psql; ferry gets the string itself, with the size's database.
declare -A PG=()
IFS=';' read -ra parts <<<"$FERRY_BENCH_PG"
for part in "${parts[@]}"; do
    [[ $part == *=* ]] || continue
    key=${part%%=*}; key=${key//[[:space:]]/}
    PG[${key,,}]=${part#*=}
done
export PGHOST=${PG[host]:-127.0.0.1} PGPORT=${PG[port]:-5432} PGUSER=${PG[username]:-${PG[user]:-$(id -un)}}
export PGPASSWORD=${PG[password]:-} PGDATABASE=${PG[database]:-postgres} PGAPPNAME=ferry-bench
psql -X -q -c "SELECT 1" >/dev/null || die "cannot connect to PostgreSQL ($PGHOST:$PGPORT/$PGDATABASE as $PGUSER)"

RESULTS=()

# run_case PEOPLE CASE MONTH — drop month MONTH's extract into landing/ and time the pipeline.
run_case() {
    local people=$1 name=$2 month=$3 dir=$WORK/run_$1
    local file log="$LOGS/${name}_$1.log" timing="$LOGS/${name}_$1.time"
    file=$(ls "$WORK/gen_$people"/register_*.xlsx | sed -n "${month}p")
    cp "$file" "$dir/landing/"
    local before
    before=$(MART_DB=$MART_DB "$FERRY" audit "$dir/ferry.yaml" --json | jq '[.[].id] | max // 0')
    printf '  %-13s %7s people, %s (%s MB) … ' "$name" "$people" "$(basename "$file")" "$(du -m "$file" | cut -f1)"
    local rc=0
    MART_DB=$MART_DB /usr/bin/time -f '%e %M' -o "$timing" "$FERRY" pipeline run "$dir/ferry.yaml" >"$log" 2>&1 || rc=$?
    [[ $rc == 0 || $rc == 3 ]] || { tail -n 20 "$log" >&2; die "$name ($people) exited with $rc; log: $log"; }
    local seconds kb
    read -r seconds kb < <(tail -n 1 "$timing")
    # Each step's time, summed over its audit events of this case (seconds).
    local steps
    steps=$(MART_DB=$MART_DB "$FERRY" audit "$dir/ferry.yaml" --json --limit 1000 | jq -r --argjson b "$before" '
        [.[] | select(.id > $b)] as $e
        | ["ingest", "validate", "history", "publish"]
        | map(. as $s | ([$e[] | select(.step == $s) | .duration_ms] | add // 0) / 1000 | . * 100 | round / 100)
        | @tsv')
    local rows
    rows=$(psql -X -At -d "ferry_pipeline_$people" -c "SELECT count(*) FROM citizen_history WHERE is_current")
    echo "${seconds}s, $((kb / 1024)) MB (steps: $steps; current versions $rows)"
    RESULTS+=("$name|$people|$(du -m "$file" | cut -f1)|$(tr '\t' '|' <<<"$steps")|$seconds|$((kb / 1024))")
}

for people in $SIZES; do
    echo "size: $people people"
    gen=$WORK/gen_$people
    if [[ ! -d $gen ]]; then
        "$GEN" --people "$people" --months 2 --out "$gen" >>"$LOGS/generate.log"
    fi
    dir=$WORK/run_$people
    rm -rf "$dir" && mkdir -p "$dir/landing"
    cp "$ROOT/examples/citizen-mart/ferry.yaml" "$dir/"
    cp -r "$ROOT/examples/citizen-mart/mart" "$dir/"
    db=ferry_pipeline_$people
    psql -X -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
    MART_DB="Host=$PGHOST;Port=$PGPORT;Username=$PGUSER;Password=$PGPASSWORD;Database=$db"
    run_case "$people" first_month 1
    run_case "$people" second_month 2
    [[ -n ${FERRY_BENCH_KEEP_DB:-} ]] || psql -X -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
done

{
    echo "| case | people | XLSX MB | ingest s | validate s | history s | publish s | total s | peak RSS MB |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for r in "${RESULTS[@]}"; do echo "| ${r//|/ | } |"; done
} | tee "$WORK/results.md"
