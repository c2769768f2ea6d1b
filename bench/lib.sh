# shellcheck shell=bash
# shellcheck disable=SC2034  # the PG_* variables set here are read by the scripts that source this file
# Functions the benchmark scripts share (bench/run.sh, bench/consolidation.sh, bench/pipeline.sh). Source it after
# defining die() and LOGS; start_or_use_postgres also needs scripts/services.sh sourced.

# apt_install PACKAGE — as root, install a missing Debian package.
apt_install() {
    local package=$1
    [[ $(id -u) -eq 0 ]] || die "'$package' is missing; install it (apt-get install $package)"
    echo "$(basename "$0"): installing $package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "$package" </dev/null >/dev/null 2>&1 \
        || { apt-get update -q </dev/null >/dev/null && apt-get install -y -q --no-install-recommends "$package" </dev/null >/dev/null; } \
        || die "could not install $package"
}

# cpu_has_x86_64_v3 — whether this processor runs x86-64-v3 code: glibc's loader says so, or (without
# it) /proc/cpuinfo lists every flag of the level.
cpu_has_x86_64_v3() {
    local loader flag levels
    for loader in /lib64/ld-linux-x86-64.so.2 /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2; do
        [[ -x $loader ]] || continue
        levels=$("$loader" --help 2>/dev/null) || true
        [[ $levels == *"x86-64-v3 (supported"* ]] && return 0
        [[ $levels == *x86-64-v3* ]] && return 1
    done
    for flag in avx avx2 bmi1 bmi2 f16c fma movbe; do
        grep -qw "$flag" /proc/cpuinfo 2>/dev/null || return 1
    done
    grep -qwE 'abm|lzcnt' /proc/cpuinfo 2>/dev/null
}

# publish_ferry ROOT OUT — the ferry CLI as a release would ship it, into OUT/ferry: self-contained and
# ReadyToRun composite (the app and the .NET runtime compiled ahead of time together, so a run spends
# its first second neither in the JIT nor in code that crosses assembly boundaries). Its build files
# go to OUT/artifacts, apart from the tree's own obj/ and bin/. The first publish takes about four
# minutes on 2 cores; later ones only redo what changed. On a processor of level x86-64-v3 (AVX2,
# BMI2, FMA, LZCNT …: every x86 server of the last ten years) the code is compiled for that level, so
# that the vector paths of the CSV reader and the hashes are compiled ahead of time too rather than
# by the JIT during each run (a 200,000-row re-run about 10% faster); on another processor the
# runtime would not use such code, so the baseline is kept there. The level is the one the C
# library's loader finds (`ld.so --help`), which reads the processor itself: a virtual machine's
# /proc/cpuinfo may leave out a flag (this one lists no `abm`, though LZCNT works).
publish_ferry() {
    local root=$1 out=$2 isa=()
    cpu_has_x86_64_v3 && isa=(-p:PublishReadyToRunCrossgen2ExtraArgs=--instruction-set:x86-64-v3)
    echo "publishing the ferry CLI (Release, self-contained, ReadyToRun composite${isa:+, x86-64-v3}) to $out/ferry…"
    rm -rf "$out/ferry"
    dotnet publish "$root/src/Ferry.Cli" -c Release -r linux-x64 --self-contained true \
        -p:PublishReadyToRun=true -p:PublishReadyToRunComposite=true "${isa[@]}" --artifacts-path "$out/artifacts" \
        -nologo -v q -o "$out/ferry" >"$LOGS/build-cli.log" 2>&1 \
        || { tail -n 30 "$LOGS/build-cli.log" >&2; die "the ferry CLI failed to build (log: $LOGS/build-cli.log)"; }
    [[ -x $out/ferry/ferry ]] || die "the build did not produce $out/ferry/ferry"
}

# start_or_use_postgres — FERRY_BENCH_PG's server, or a private durable one from scripts/services.sh;
# exports the libpq variables for psql and sets PG_SUPERUSER when the role is a superuser.
start_or_use_postgres() {
    if [[ -z ${FERRY_BENCH_PG:-} ]]; then
        echo "starting a private PostgreSQL (durable: fsync on) with scripts/services.sh…"
        export FERRY_DB_DURABLE=1
        start_postgres 2>>"$LOGS/postgres.log" || { tail -n 40 "$LOGS/postgres.log" >&2; die "PostgreSQL did not start (log: $LOGS/postgres.log)"; }
        FERRY_BENCH_PG=$FERRY_TEST_PG
    fi
    parse_pg_connection "$FERRY_BENCH_PG"
    export PGHOST=$PG_HOST PGPORT=$PG_PORT PGUSER=$PG_USER PGPASSWORD=$PG_PASSWORD PGDATABASE=$PG_DATABASE
    export PGAPPNAME=ferry-bench PGCONNECT_TIMEOUT=10
    local out
    out=$(psql -X -At -c "SELECT rolsuper FROM pg_roles WHERE rolname = current_user" 2>&1) \
        || die "cannot connect to PostgreSQL ($PG_HOST:$PG_PORT/$PG_DATABASE as $PG_USER): $out"
    [[ $out == t ]] && PG_SUPERUSER=1
    return 0
}

# parse_pg_connection CONNECTION — the parts of an Npgsql connection string that psql and
# pgloader need. Other keywords are kept (PG_REST) for ferry, which gets them back verbatim.
parse_pg_connection() {
    local part key value rest=()
    local IFS=';'
    for part in $1; do
        [[ $part == *=* ]] || continue
        key=${part%%=*}
        value=${part#*=}
        key=${key//[[:space:]]/}
        value=${value#"${value%%[![:space:]]*}"}
        value=${value%"${value##*[![:space:]]}"}
        case ${key,,} in
            host|server) PG_HOST=$value ;;
            port) PG_PORT=$value ;;
            username|user|userid|uid) PG_USER=$value ;;
            password|pwd|psw) PG_PASSWORD=$value ;;
            database|db) PG_DATABASE=$value ;;
            *) rest+=("$part") ;;
        esac
    done
    PG_HOST=${PG_HOST:-127.0.0.1} PG_PORT=${PG_PORT:-5432} PG_USER=${PG_USER:-$(id -un)}
    PG_DATABASE=${PG_DATABASE:-$PG_USER}
    PG_REST="${rest[*]}"
}

# pg_sql DATABASE SQL — one statement through psql, its output unaligned; dies on an error.
pg_sql() {
    local db=$1 sql=$2 out
    out=$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "$sql" 2>&1) || die "psql ($db): $out"
    [[ -z $out ]] || echo "$out"
}

# ratio A B — A / B to two decimals, or n/a.
ratio() {
    awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b + 0 <= 0) print "n/a"; else printf "%.2f\n", a / b }'
}

# verdict VALUE OP LIMIT — "ok" or "MISSED" against a target (OP: <, <= or >=).
verdict() {
    [[ $1 == n/a ]] && { echo "n/a"; return; }
    awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
        ok = op == "<" ? v < l : op == "<=" ? v <= l : v >= l
        print ok ? "ok" : "MISSED"
    }'
}
