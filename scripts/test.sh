#!/usr/bin/env bash
# Ferry's whole test suite in one command, on a fresh Debian 12 machine with the .NET SDK.
#
#   scripts/test.sh [extra dotnet test arguments, e.g. --filter "FullyQualifiedName~Ledger"]
#
# 1. installs postgresql, mariadb-server, sqlite3 and time from Debian if any is missing;
# 2. builds tests/Ferry.Tests (Release);
# 3. starts private PostgreSQL and MariaDB servers on 127.0.0.1 (scripts/services.sh) and exports
#    FERRY_TEST_PG / FERRY_TEST_MYSQL;
# 4. runs the tests with a TRX logger and prints, as the very last line,
#    "N passed, N failed" (", N skipped" when some were skipped).
# Exit status: 0 only when at least one test passed and none failed; non-zero when the build
# failed, a server did not come up, the TRX is missing, no test executed, or a test failed.
# Environment: FERRY_TEST_RESULTS_DIR (keep the TRX there instead of a temp dir),
# FERRY_TEST_HANG_TIMEOUT (per-test hang timeout, default 20m), plus those of services.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export DOTNET_CLI_UI_LANGUAGE=en MSBUILDTERMINALLOGGER=off
TEST_PROJECT="tests/Ferry.Tests"

# shellcheck source=scripts/services.sh
source "$ROOT/scripts/services.sh"

# finish PASSED FAILED SKIPPED [EXPLANATION]: stop servers, print the summary as the last line, exit.
finish() {
  local passed="$1" failed="$2" skipped="$3" why="${4:-}"
  stop_services || true
  [ -n "$why" ] && echo "test.sh: $why"
  local line="$passed passed, $failed failed"
  [ "$skipped" -gt 0 ] && line+=", $skipped skipped"
  echo "$line"
  if [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; then exit 0; fi
  exit 1
}

# Any unexpected failure or interruption of this script still ends with a summary line and a
# non-zero exit; the EXIT trap of services.sh (installed first) stops the servers in any case.
ferry_install_cleanup_trap
trap 'finish 0 1 0 "test.sh failed unexpectedly at line $LINENO"' ERR
trap 'trap - INT; finish 0 1 0 "interrupted (SIGINT)"' INT
trap 'trap - TERM; finish 0 1 0 "terminated (SIGTERM)"' TERM

# Where the TRX goes: a fresh temp dir removed at exit, unless the caller names one.
if [ -n "${FERRY_TEST_RESULTS_DIR:-}" ]; then
  RESULTS="$FERRY_TEST_RESULTS_DIR"
  mkdir -p "$RESULTS"
  rm -f "$RESULTS/results.trx"
else
  RESULTS="$(mktemp -d "${TMPDIR:-/tmp}/ferry-test-results.XXXXXX")"
  ferry_on_exit "rm -rf '$RESULTS'"
fi
TRX="$RESULTS/results.trx"

# Build servers (compiler server, MSBuild nodes) must not outlive a CI run.
BUILD_SERVER_ARGS=()
if [ "${CI:-}" = "true" ]; then BUILD_SERVER_ARGS=(--disable-build-servers); fi

echo "== dependencies"
ensure_service_packages || finish 0 1 0 "could not install the required Debian packages"
command -v dotnet >/dev/null 2>&1 || finish 0 1 0 "dotnet (the .NET SDK) is not on PATH"
[ -d "$TEST_PROJECT" ] || finish 0 1 0 "$TEST_PROJECT not found under $ROOT"

echo "== build ($TEST_PROJECT, Release)"
if ! dotnet build "$TEST_PROJECT" -c Release "${BUILD_SERVER_ARGS[@]}" </dev/null; then
  finish 0 1 0 "build failed (see the compiler output above)"
fi

echo "== services"
start_postgres || finish 0 1 0 "PostgreSQL test server did not come up (see the log above)"
start_mariadb || finish 0 1 0 "MariaDB test server did not come up (see the log above)"
echo "FERRY_TEST_PG=${FERRY_TEST_PG}"
echo "FERRY_TEST_MYSQL=${FERRY_TEST_MYSQL}"

echo "== tests"
# The console output is also kept, so that the failures can be repeated just above the summary:
# a CI log that shows only its last lines still shows what failed and why.
CONSOLE="$RESULTS/console.log"
# Failing tests are counted from the TRX below, not by the ERR trap: a command on the left of ||
# does not fire it.
test_rc=0
dotnet test "$TEST_PROJECT" -c Release --no-build "${BUILD_SERVER_ARGS[@]}" \
  --logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" \
  --results-directory "$RESULTS" \
  --blame-hang-timeout "${FERRY_TEST_HANG_TIMEOUT:-20m}" --blame-hang-dump-type none \
  "$@" </dev/null 2>&1 | tee "$CONSOLE" || test_rc=$?

# failure_recap: each failed test's block of the console output (name, message, the start of its
# stack trace), at most 60 lines a test.
failure_recap() {
  [ -f "$CONSOLE" ] || return 0
  awk '
    /^  Failed / { on = 1; n = 0; print ""; }
    /^  (Passed|Skipped) / || /^Results File:/ || /^Test Run / || /^\[xUnit/ { on = 0 }
    on && n < 60 { print; n++ }
  ' "$CONSOLE"
}

if [ ! -f "$TRX" ]; then
  finish 0 1 0 "no test results ($TRX missing; dotnet test exited with $test_rc)"
fi

# <Counters total="…" executed="…" passed="…" failed="…" error="…" timeout="…" aborted="…" … notExecuted="…" />
counters="$(tr -d '\r\n' <"$TRX" | grep -o '<Counters [^>]*>' | head -n 1 || true)"
attr() {
  local v
  v="$(printf '%s' "$counters" | grep -o " $1=\"[0-9]*\"" | head -n 1 | grep -o '[0-9][0-9]*' || true)"
  echo "${v:-0}"
}
if [ -z "$counters" ]; then
  finish 0 1 0 "no <Counters> element in $TRX (dotnet test exited with $test_rc)"
fi
executed="$(attr executed)"
passed="$(attr passed)"
failed=$(( $(attr failed) + $(attr error) + $(attr timeout) + $(attr aborted) ))
# Skipped tests are results with outcome NotExecuted (xunit Skip); the counter may or may not have them.
skipped="$(attr notExecuted)"
skipped_results="$( (grep -o 'outcome="NotExecuted"' "$TRX" || true) | wc -l | tr -d ' ')"
[ "$skipped_results" -gt "$skipped" ] && skipped="$skipped_results"

if [ "$failed" -eq 0 ] && [ "$test_rc" -ne 0 ]; then
  echo "== what dotnet test said of the test host (repeated from above)"
  grep -iE -A 8 "test run was aborted|host process crashed|hang timeout|exited with error" "$CONSOLE" | head -n 40 || true
  finish "$passed" 1 "$skipped" "dotnet test exited with $test_rc although no test failed (test host crash or hang?)"
fi
if [ "$executed" -eq 0 ] && [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
  finish 0 1 "$skipped" "no test executed"
fi
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
  finish 0 1 "$skipped" "no test passed"
fi
if [ "$failed" -gt 0 ]; then
  echo "== failed tests (repeated from above)"
  failure_recap
fi
finish "$passed" "$failed" "$skipped"
