#!/usr/bin/env bash
# Ferry load benchmark.
#
# For each size it generates a FOI-request CSV (and its "every row changed" twin) with
# bench/Ferry.Bench, then times, with /usr/bin/time (wall seconds and peak RSS):
#   sqlite3_import    the sqlite3 shell's `.import --csv` into a fresh table (the baseline)
#   ferry_first_load  `ferry run` into a fresh SQLite target (upsert, 5 rules, staging, batch 5000)
#   ferry_rerun       the same run again: nothing changed
#   ferry_changed     a run over the same references with one value of every row changed
# and prints a table, with each case's time as a multiple of sqlite3's for the same size, and the
# peak-RSS ratio between the largest and the smallest first load (memory should not grow with input).
#
# Usage: bench/run.sh [--sizes "200000 2000000"] [--cases "sqlite3_import ferry_first_load …"]
#
# A case is a function `case_<name> ROWS` that calls `measure`; add one (PostgreSQL, say) by
# writing the function and adding its name to CASES. Output and logs go to bench/out/ (gitignored).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/bench/out
LOGS=$OUT/logs
GEN=$ROOT/bench/Ferry.Bench/bin/Release/net10.0/Ferry.Bench
FERRY=$ROOT/src/Ferry.Cli/bin/Release/net10.0/ferry
SEED=42
BATCH_SIZE=5000

SIZES="200000 2000000"
CASES="sqlite3_import ferry_first_load ferry_rerun ferry_changed"

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

die() {
    echo "run.sh: $*" >&2
    exit 1
}

while [[ $# -gt 0 ]]; do
    case $1 in
        --sizes) [[ $# -ge 2 ]] || die "--sizes needs a value"; SIZES=$2; shift 2 ;;
        --sizes=*) SIZES=${1#*=}; shift ;;
        --cases) [[ $# -ge 2 ]] || die "--cases needs a value"; CASES=$2; shift 2 ;;
        --cases=*) CASES=${1#*=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument '$1'" ;;
    esac
done

for rows in $SIZES; do
    [[ $rows =~ ^[1-9][0-9]*$ ]] || die "--sizes: '$rows' is not a positive integer"
done

# ---- tools ------------------------------------------------------------------------------------

apt_install() {
    local package=$1
    [[ $(id -u) -eq 0 ]] || die "'$package' is missing; install it (apt-get install $package)"
    echo "run.sh: installing $package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "$package" >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && apt-get install -y -q "$package" >/dev/null; } \
        || die "could not install $package"
}

require_tools() {
    command -v dotnet >/dev/null || die "dotnet is not on PATH"
    [[ -x /usr/bin/time ]] || apt_install time
    command -v sqlite3 >/dev/null || apt_install sqlite3
}

uses_ferry() {
    [[ " $CASES " == *" ferry_"* ]]
}

build() {
    echo "building Ferry.Bench (Release)…"
    dotnet build -c Release -nologo -v q "$ROOT/bench/Ferry.Bench" >"$LOGS/build-bench.log" 2>&1 \
        || { tail -n 30 "$LOGS/build-bench.log" >&2; die "Ferry.Bench failed to build (log: $LOGS/build-bench.log)"; }
    if uses_ferry; then
        echo "building the ferry CLI (Release)…"
        dotnet build -c Release -nologo -v q "$ROOT/src/Ferry.Cli" >"$LOGS/build-cli.log" 2>&1 \
            || { tail -n 30 "$LOGS/build-cli.log" >&2; die "the ferry CLI failed to build (log: $LOGS/build-cli.log)"; }
        [[ -x $FERRY ]] || die "the build did not produce $FERRY"
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
declare -A BASELINE_SECONDS=()   # rows -> sqlite3 .import seconds
declare -A FIRST_LOAD_KB=()      # rows -> ferry first-load peak RSS

# measure CASE ROWS ALLOWED_EXIT_CODES COMMAND… — runs COMMAND under /usr/bin/time, records the
# result, and sets MEASURED_SECONDS and MEASURED_KB. Exit codes outside ALLOWED (e.g. "0 3") abort.
measure() {
    local name=$1 rows=$2 allowed=$3
    shift 3
    local log="$LOGS/${name}_$rows.log" timing="$LOGS/${name}_$rows.time" rc
    printf '  %-18s %10s rows … ' "$name" "$rows"
    if /usr/bin/time -f '%e %M' -o "$timing" "$@" >"$log" 2>&1; then rc=0; else rc=$?; fi
    if [[ " $allowed " != *" $rc "* ]]; then
        echo "exit code $rc"
        tail -n 20 "$log" >&2
        die "$name ($rows rows) exited with code $rc (allowed: $allowed); log: $log"
    fi
    read -r MEASURED_SECONDS MEASURED_KB < <(tail -n 1 "$timing")
    [[ $MEASURED_KB =~ ^[0-9]+$ ]] || die "could not read /usr/bin/time output in $timing"
    echo "${MEASURED_SECONDS}s, $((MEASURED_KB / 1024)) MB, exit $rc"
    RESULT_CASE+=("$name")
    RESULT_ROWS+=("$rows")
    RESULT_SECONDS+=("$MEASURED_SECONDS")
    RESULT_KB+=("$MEASURED_KB")
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
    BASELINE_SECONDS[$rows]=$MEASURED_SECONDS
}

# ---- cases: ferry on SQLite -------------------------------------------------------------------

ferry_db() { echo "$OUT/ferry_$1.db"; }

# write_manifest ROWS CSV — a manifest in bench/out for CSV, loading into ferry_ROWS.db.
write_manifest() {
    local rows=$1 csv=$2 manifest
    manifest="$OUT/$(basename "$csv" .csv).yaml"
    cat >"$manifest" <<EOF
# Written by bench/run.sh; regenerated on every run.
name: foi-bench
source:
  type: csv
  path: $(basename "$csv")
target:
  type: sqlite
  connection: "Data Source=$(basename "$(ferry_db "$rows")")"
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
EOF
    echo "$manifest"
}

run_ferry() {
    local name=$1 rows=$2 csv=$3 manifest
    manifest=$(write_manifest "$rows" "$csv")
    # 0: succeeded; 3: partial (rows rejected). Anything else is a failure.
    measure "$name" "$rows" "0 3" "$FERRY" run "$manifest"
    expect_rows "$(ferry_db "$rows")" foi_request "$rows"
}

case_ferry_first_load() {
    fresh_db "$(ferry_db "$1")"
    run_ferry ferry_first_load "$1" "$(csv_file "$1")"
    FIRST_LOAD_KB[$1]=$MEASURED_KB
}

case_ferry_rerun() {
    [[ -f $(ferry_db "$1") ]] || die "ferry_rerun needs ferry_first_load before it"
    run_ferry ferry_rerun "$1" "$(csv_file "$1")"
}

case_ferry_changed() {
    [[ -f $(ferry_db "$1") ]] || die "ferry_changed needs ferry_first_load before it"
    run_ferry ferry_changed "$1" "$(changed_file "$1")"
}

# ---- report -----------------------------------------------------------------------------------

report() {
    echo
    printf '%-18s %10s %9s %11s %13s %11s\n' case rows seconds rows/s "peak RSS MB" "x sqlite3"
    printf '%-18s %10s %9s %11s %13s %11s\n' ------------------ ---------- --------- ----------- ------------- -----------
    local i
    for i in "${!RESULT_CASE[@]}"; do
        awk -v c="${RESULT_CASE[$i]}" -v r="${RESULT_ROWS[$i]}" -v s="${RESULT_SECONDS[$i]}" \
            -v kb="${RESULT_KB[$i]}" -v base="${BASELINE_SECONDS[${RESULT_ROWS[$i]}]:-}" 'BEGIN {
                rate = s > 0 ? sprintf("%.0f", r / s) : "inf"
                ratio = (base != "" && base > 0) ? sprintf("%.2f", s / base) : "n/a"
                printf "%-18s %10d %9.2f %11s %13.1f %11s\n", c, r, s, rate, kb / 1024, ratio
            }'
    done
    echo
    local sizes=() rows
    for rows in $SIZES; do [[ -n ${FIRST_LOAD_KB[$rows]:-} ]] && sizes+=("$rows"); done
    if [[ ${#sizes[@]} -ge 2 ]]; then
        local small=${sizes[0]} large=${sizes[0]}
        for rows in "${sizes[@]}"; do
            ((rows < small)) && small=$rows
            ((rows > large)) && large=$rows
        done
        awk -v a="${FIRST_LOAD_KB[$large]}" -v b="${FIRST_LOAD_KB[$small]}" -v l="$large" -v s="$small" \
            'BEGIN { printf "peak RSS, ferry first load, %d rows / %d rows: %.2f (input ratio %.1f)\n", l, s, a / b, l / s }'
    else
        echo "peak RSS ratio between sizes: n/a (needs ferry_first_load at two or more sizes)"
    fi
}

# ---- main -------------------------------------------------------------------------------------

main() {
    local name rows
    for name in $CASES; do
        declare -F "case_$name" >/dev/null || die "unknown case '$name' (known: $(declare -F | awk '$3 ~ /^case_/ { sub(/^case_/, "", $3); printf "%s%s", sep, $3; sep = ", " }'))"
    done
    mkdir -p "$OUT" "$LOGS"
    : >"$LOGS/generate.log"
    require_tools
    build
    echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo); sqlite3 $(sqlite3 --version | cut -d' ' -f1); dotnet $(dotnet --version)"
    for rows in $SIZES; do
        generate "$rows"
        for name in $CASES; do
            "case_$name" "$rows"
        done
    done
    report
}

# Run unless sourced (sourcing gives the functions, e.g. to try one case by hand).
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main
fi
