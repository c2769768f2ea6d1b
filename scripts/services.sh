# shellcheck shell=bash
# Throw-away PostgreSQL and MariaDB servers for Ferry's tests and benchmarks.
#
# Source this file, then call:
#   ensure_service_packages   install postgresql, mariadb-server, sqlite3 and time if missing
#   start_postgres            initdb + start a private cluster on 127.0.0.1, export FERRY_TEST_PG
#   start_mariadb             install-db + start a private server on 127.0.0.1, export FERRY_TEST_MYSQL
#   stop_services             stop both servers and delete their temporary directories (idempotent)
#
# Each server lives in its own fresh `mktemp -d` directory (data, socket, log), listens on
# 127.0.0.1 only, on a free non-default port, and never touches the system clusters/services.
# The first start_* call installs an EXIT/INT/TERM trap that runs stop_services, so nothing is
# left running or on disk when the calling script ends. A caller that needs its own exit
# cleanup adds a command with `ferry_on_exit 'cmd …'` instead of replacing the trap.
#
# Exported after a successful start:
#   FERRY_TEST_PG     Host=127.0.0.1;Port=…;Username=ferry;Password=…;Database=ferry_test
#   FERRY_PG_PORT, FERRY_PG_BIN (server/client binaries), FERRY_PG_SOCKET_DIR, FERRY_PG_URL (libpq URL)
#   FERRY_TEST_MYSQL  Server=127.0.0.1;Port=…;User ID=ferry;Password=…;Database=ferry_test
#   FERRY_MYSQL_PORT, FERRY_MYSQL_SOCKET
# The `ferry` role is a superuser on PostgreSQL (the cluster has wal_level=logical, so it can
# create publications and replication slots) and has ALL PRIVILEGES WITH GRANT OPTION on
# MariaDB, so tests may create and drop their own databases.
#
# Tunables (environment): FERRY_DB_USER (ferry), FERRY_DB_PASSWORD (ferry_test_pw),
# FERRY_DB_NAME (ferry_test), FERRY_PG_PORT_START (54329), FERRY_MYSQL_PORT_START (33069),
# FERRY_SERVICE_TIMEOUT (seconds to wait for a server, 60), FERRY_DB_DURABLE=1 (keep fsync and
# durable commits; by default the throw-away servers trade durability for speed; benchmarks
# that compare with production should set it), FERRY_SERVICES_TMP (parent of the temp dirs, /tmp).

FERRY_DB_USER="${FERRY_DB_USER:-ferry}"
FERRY_DB_PASSWORD="${FERRY_DB_PASSWORD:-ferry_test_pw}"
FERRY_DB_NAME="${FERRY_DB_NAME:-ferry_test}"
FERRY_SERVICE_TIMEOUT="${FERRY_SERVICE_TIMEOUT:-60}"

_ferry_pg_dir=""
_ferry_pg_started=""
_ferry_my_dir=""
_ferry_my_pid=""
_ferry_exit_cmds=()
_ferry_trap_set=""

_svc_log() { echo "[services] $*" >&2; }

# Milliseconds since the epoch (for start-up timings).
_svc_now_ms() { date +%s%3N; }

# ferry_on_exit CMD: run CMD (a string, eval'd) when the script exits, after stopping servers.
ferry_on_exit() {
  _ferry_exit_cmds+=("$1")
  _ferry_install_trap
}

_ferry_run_exit() {
  local rc=$?
  trap - EXIT INT TERM
  stop_services >/dev/null 2>&1 || true
  local c
  for c in "${_ferry_exit_cmds[@]+"${_ferry_exit_cmds[@]}"}"; do
    eval "$c" >/dev/null 2>&1 || true
  done
  return "$rc"
}

# ferry_install_cleanup_trap: install the EXIT/INT/TERM trap now (start_* do it anyway). A caller
# may then replace the INT/TERM traps with its own, as long as they end with `exit`.
ferry_install_cleanup_trap() { _ferry_install_trap; }

_ferry_install_trap() {
  [ -n "$_ferry_trap_set" ] && return 0
  _ferry_trap_set=1
  trap '_ferry_run_exit' EXIT
  trap '_ferry_run_exit; exit 130' INT
  trap '_ferry_run_exit; exit 143' TERM
}

# The newest installed PostgreSQL server's bin directory (Debian layout), e.g. /usr/lib/postgresql/15/bin.
ferry_pg_bin() {
  if [ -n "${FERRY_PG_BIN:-}" ] && [ -x "$FERRY_PG_BIN/initdb" ]; then echo "$FERRY_PG_BIN"; return 0; fi
  local d best=""
  # Ascending numeric sort on the version component: the last usable one (highest) wins.
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5,5n); do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && best="$d"
  done
  [ -n "$best" ] && echo "$best"
}

_ferry_find_mariadbd() {
  local c
  for c in mariadbd /usr/sbin/mariadbd mysqld /usr/sbin/mysqld; do
    if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
  done
  return 1
}

# ensure_service_packages: install the Debian packages the tests need, only if one is missing.
ensure_service_packages() {
  local missing=()
  [ -n "$(ferry_pg_bin)" ] || missing+=(postgresql)
  { _ferry_find_mariadbd >/dev/null && command -v mariadb-install-db >/dev/null 2>&1 &&
    command -v mariadb >/dev/null 2>&1 && command -v mariadb-admin >/dev/null 2>&1; } || missing+=(mariadb-server)
  command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
  [ -x /usr/bin/time ] || missing+=(time)
  [ ${#missing[@]} -eq 0 ] && return 0

  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo="sudo -n"
    else
      _svc_log "missing packages: ${missing[*]}; run as root or install them: apt-get install ${missing[*]}"
      return 1
    fi
  fi
  _svc_log "installing missing packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Wait (bounded) for another apt/dpkg run to release its lock instead of failing at once.
  local lock=(-o DPkg::Lock::Timeout=600)
  $sudo apt-get "${lock[@]}" update </dev/null || { _svc_log "apt-get update failed"; return 1; }
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y --no-install-recommends \
    postgresql mariadb-server sqlite3 time </dev/null || { _svc_log "apt-get install failed"; return 1; }
  [ -n "$(ferry_pg_bin)" ] || { _svc_log "PostgreSQL installed but no /usr/lib/postgresql/*/bin/initdb found"; return 1; }
  _ferry_find_mariadbd >/dev/null || { _svc_log "mariadb-server installed but mariadbd not found"; return 1; }
}

# _ferry_port_busy PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
_ferry_port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# _ferry_free_port START: the first port >= START nobody listens on (tries 200 ports).
_ferry_free_port() {
  local p="$1" end=$(( $1 + 200 ))
  while [ "$p" -lt "$end" ]; do
    if ! _ferry_port_busy "$p"; then echo "$p"; return 0; fi
    p=$((p + 1))
  done
  return 1
}

# Run a command as the postgres OS user when we are root (initdb/pg_ctl refuse to run as root).
_ferry_as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

_ferry_tail_log() {
  local f="$1"
  if [ -f "$f" ]; then
    _svc_log "---- last lines of $f ----"
    tail -n 40 "$f" >&2
    _svc_log "----"
  fi
}

# start_postgres: private PostgreSQL cluster on 127.0.0.1:<free port>. Returns non-zero (with the
# server log on stderr) if it does not accept connections within FERRY_SERVICE_TIMEOUT seconds.
start_postgres() {
  local t0; t0=$(_svc_now_ms)
  local bin; bin="$(ferry_pg_bin)" || true
  if [ -z "$bin" ]; then _svc_log "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin)"; return 1; fi
  if [ -n "$_ferry_pg_started" ]; then _svc_log "PostgreSQL already started on port $FERRY_PG_PORT"; return 0; fi
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    _svc_log "user 'postgres' does not exist (is the postgresql package installed?)"; return 1
  fi

  local port; port="$(_ferry_free_port "${FERRY_PG_PORT_START:-54329}")" ||
    { _svc_log "no free port for PostgreSQL"; return 1; }
  _ferry_install_trap
  _ferry_pg_dir="$(mktemp -d "${FERRY_SERVICES_TMP:-/tmp}/ferry-pg.XXXXXX")" ||
    { _svc_log "mktemp failed"; return 1; }
  chmod 700 "$_ferry_pg_dir"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$_ferry_pg_dir"
  local data="$_ferry_pg_dir/data" log="$_ferry_pg_dir/postgres.log"

  if ! (cd "$_ferry_pg_dir" && _ferry_as_pg "$bin/initdb" -D "$data" -U postgres --encoding=UTF8 \
          --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 \
          >"$_ferry_pg_dir/initdb.log" 2>&1 </dev/null); then
    _svc_log "initdb failed"; _ferry_tail_log "$_ferry_pg_dir/initdb.log"; return 1
  fi

  {
    echo "# ferry test cluster"
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = '$_ferry_pg_dir'"
    echo "max_connections = 200"
    echo "wal_level = logical"
    echo "max_wal_senders = 10"
    echo "max_replication_slots = 10"
    echo "password_encryption = 'scram-sha-256'"
    if [ "${FERRY_DB_DURABLE:-0}" != 1 ]; then
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
  } | _ferry_as_pg tee -a "$data/postgresql.conf" >/dev/null

  if ! (cd "$_ferry_pg_dir" && _ferry_as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w \
          -t "$FERRY_SERVICE_TIMEOUT" start >"$_ferry_pg_dir/pg_ctl.log" 2>&1 </dev/null); then
    _svc_log "PostgreSQL failed to start on 127.0.0.1:$port (waited up to ${FERRY_SERVICE_TIMEOUT}s)"
    _ferry_tail_log "$_ferry_pg_dir/pg_ctl.log"; _ferry_tail_log "$log"
    _ferry_pg_started=1   # so stop_services still tries to stop whatever half-started
    return 1
  fi
  _ferry_pg_started=1

  # Bounded wait until it accepts TCP connections.
  local deadline=$(( $(date +%s) + FERRY_SERVICE_TIMEOUT ))
  until "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2 </dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      _svc_log "PostgreSQL does not accept connections on 127.0.0.1:$port"; _ferry_tail_log "$log"; return 1
    fi
    sleep 0.2
  done

  # Role and database, created over the unix socket as the superuser (trust for local only).
  local u="$FERRY_DB_USER" pw="${FERRY_DB_PASSWORD//\'/\'\'}" db="$FERRY_DB_NAME"
  if ! "$bin/psql" -X -q -h "$_ferry_pg_dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
         -c "CREATE ROLE \"$u\" LOGIN SUPERUSER REPLICATION PASSWORD '$pw'" \
         -c "CREATE DATABASE \"$db\" OWNER \"$u\"" >"$_ferry_pg_dir/setup.log" 2>&1 </dev/null; then
    _svc_log "could not create role/database on PostgreSQL"; _ferry_tail_log "$_ferry_pg_dir/setup.log"; return 1
  fi

  # Readiness check exactly as the tests connect: TCP, password authentication.
  local url="postgresql://$u:$FERRY_DB_PASSWORD@127.0.0.1:$port/$db"
  local out
  if ! out="$("$bin/psql" -X -At "$url" -c 'select 1' 2>&1 </dev/null)" || [ "$out" != 1 ]; then
    _svc_log "PostgreSQL readiness check failed (psql as $u over TCP): $out"; _ferry_tail_log "$log"; return 1
  fi

  export FERRY_PG_BIN="$bin" FERRY_PG_PORT="$port" FERRY_PG_SOCKET_DIR="$_ferry_pg_dir" FERRY_PG_URL="$url"
  export FERRY_TEST_PG="Host=127.0.0.1;Port=$port;Username=$u;Password=$FERRY_DB_PASSWORD;Database=$db"
  _svc_log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') ready on 127.0.0.1:$port" \
    "(data in $_ferry_pg_dir) in $(( $(_svc_now_ms) - t0 )) ms"
}

# start_mariadb: private MariaDB server on 127.0.0.1:<free port>; same contract as start_postgres.
start_mariadb() {
  local t0; t0=$(_svc_now_ms)
  local mysqld; mysqld="$(_ferry_find_mariadbd)" || { _svc_log "mariadbd not found"; return 1; }
  if [ -n "$_ferry_my_pid" ]; then _svc_log "MariaDB already started on port $FERRY_MYSQL_PORT"; return 0; fi
  local port; port="$(_ferry_free_port "${FERRY_MYSQL_PORT_START:-33069}")" ||
    { _svc_log "no free port for MariaDB"; return 1; }
  # Do not pick the port PostgreSQL just took (both searches start from independent bases).
  if [ "$port" = "${FERRY_PG_PORT:-}" ]; then port="$(_ferry_free_port $((port + 1)))" || return 1; fi
  _ferry_install_trap
  _ferry_my_dir="$(mktemp -d "${FERRY_SERVICES_TMP:-/tmp}/ferry-mariadb.XXXXXX")" ||
    { _svc_log "mktemp failed"; return 1; }
  local data="$_ferry_my_dir/data" sock="$_ferry_my_dir/mysqld.sock" log="$_ferry_my_dir/error.log"
  mkdir -p "$_ferry_my_dir/tmp"
  local runas; runas="$(id -un)"

  if ! mariadb-install-db --no-defaults --datadir="$data" --user="$runas" --skip-test-db \
         --auth-root-authentication-method=socket --skip-name-resolve \
         >"$_ferry_my_dir/install-db.log" 2>&1 </dev/null; then
    _svc_log "mariadb-install-db failed"; _ferry_tail_log "$_ferry_my_dir/install-db.log"; return 1
  fi

  local extra=()
  if [ "${FERRY_DB_DURABLE:-0}" != 1 ]; then
    extra+=(--innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0 --sync-binlog=0)
  fi
  "$mysqld" --no-defaults --datadir="$data" --socket="$sock" --port="$port" \
    --bind-address=127.0.0.1 --user="$runas" --pid-file="$_ferry_my_dir/mysqld.pid" \
    --log-error="$log" --tmpdir="$_ferry_my_dir/tmp" --skip-name-resolve \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --max-connections=300 --innodb-buffer-pool-size=256M "${extra[@]}" \
    </dev/null >>"$log" 2>&1 &
  _ferry_my_pid=$!

  local deadline=$(( $(date +%s) + FERRY_SERVICE_TIMEOUT ))
  until mariadb-admin --no-defaults --socket="$sock" -u root --connect-timeout=2 ping \
          >/dev/null 2>&1 </dev/null; do
    if ! kill -0 "$_ferry_my_pid" 2>/dev/null; then
      _svc_log "MariaDB exited during start-up"; _ferry_tail_log "$log"; _ferry_my_pid=""; return 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      _svc_log "MariaDB did not start on 127.0.0.1:$port within ${FERRY_SERVICE_TIMEOUT}s"; _ferry_tail_log "$log"
      return 1
    fi
    sleep 0.2
  done

  local u="$FERRY_DB_USER" pw="${FERRY_DB_PASSWORD//\'/\'\'}" db="$FERRY_DB_NAME" h sql=""
  sql+="CREATE DATABASE \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
  for h in 127.0.0.1 localhost '%'; do
    sql+="CREATE USER '$u'@'$h' IDENTIFIED BY '$pw';"
    sql+="GRANT ALL PRIVILEGES ON *.* TO '$u'@'$h' WITH GRANT OPTION;"
  done
  sql+="FLUSH PRIVILEGES;"
  if ! mariadb --no-defaults --socket="$sock" -u root -e "$sql" >"$_ferry_my_dir/setup.log" 2>&1 </dev/null; then
    _svc_log "could not create user/database on MariaDB"; _ferry_tail_log "$_ferry_my_dir/setup.log"; return 1
  fi

  # Readiness check exactly as the tests connect: TCP to 127.0.0.1, password authentication.
  local out deadline2=$(( $(date +%s) + FERRY_SERVICE_TIMEOUT ))
  until out="$(MYSQL_PWD="$FERRY_DB_PASSWORD" mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$port" \
                 -u "$u" -N -B -e 'select 1' "$db" 2>&1 </dev/null)" && [ "$out" = 1 ]; do
    if [ "$(date +%s)" -ge "$deadline2" ]; then
      _svc_log "MariaDB readiness check failed (mariadb as $u over TCP): $out"; _ferry_tail_log "$log"; return 1
    fi
    sleep 0.2
  done

  export FERRY_MYSQL_PORT="$port" FERRY_MYSQL_SOCKET="$sock"
  export FERRY_TEST_MYSQL="Server=127.0.0.1;Port=$port;User ID=$u;Password=$FERRY_DB_PASSWORD;Database=$db"
  _svc_log "MariaDB $("$mysqld" --version | awk '{print $3}') ready on 127.0.0.1:$port" \
    "(data in $_ferry_my_dir) in $(( $(_svc_now_ms) - t0 )) ms"
}

# stop_services: stop whatever start_* started and remove the temporary directories. Idempotent.
stop_services() {
  local rc=0
  if [ -n "$_ferry_pg_dir" ]; then
    if [ -n "$_ferry_pg_started" ] && [ -f "$_ferry_pg_dir/data/postmaster.pid" ]; then
      local bin; bin="${FERRY_PG_BIN:-$(ferry_pg_bin)}"
      if ! (cd "$_ferry_pg_dir" && _ferry_as_pg "$bin/pg_ctl" -D "$_ferry_pg_dir/data" -m fast -w -t 30 stop \
              >/dev/null 2>&1 </dev/null); then
        local pid; pid="$(head -n 1 "$_ferry_pg_dir/data/postmaster.pid" 2>/dev/null)"
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
          _svc_log "PostgreSQL (pid $pid) did not stop; killing it"
          kill -9 "$pid" 2>/dev/null || true
          rc=1
        fi
      fi
    fi
    rm -rf "$_ferry_pg_dir"
    _ferry_pg_dir=""; _ferry_pg_started=""
  fi
  if [ -n "$_ferry_my_pid" ]; then
    if kill -0 "$_ferry_my_pid" 2>/dev/null; then
      kill -TERM "$_ferry_my_pid" 2>/dev/null || true
      local i=0
      while kill -0 "$_ferry_my_pid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
      if kill -0 "$_ferry_my_pid" 2>/dev/null; then
        _svc_log "MariaDB (pid $_ferry_my_pid) did not stop in 30s; killing it"
        kill -9 "$_ferry_my_pid" 2>/dev/null || true
        rc=1
      fi
      wait "$_ferry_my_pid" 2>/dev/null || true
    fi
    _ferry_my_pid=""
  fi
  if [ -n "$_ferry_my_dir" ]; then
    rm -rf "$_ferry_my_dir"
    _ferry_my_dir=""
  fi
  unset FERRY_TEST_PG FERRY_TEST_MYSQL FERRY_PG_URL
  return $rc
}
