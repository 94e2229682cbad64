# shellcheck shell=bash
# Sourced by scripts/services: PgBouncer in transaction mode in front of the plain Postgres.
#
#   PGBOUNCER=1          `up` also starts PgBouncer (after Postgres); `status` and `urls` then
#                        report it, and report it anyway whenever it runs
#   PGBOUNCER_PORT=6432  its listener, 127.0.0.1 only (the admin console is database `pgbouncer`)
#
# The services' DATABASE_URL may point here; LISTEN and migrations need a session of their own,
# so DATABASE_LISTEN_URL and DATABASE_MIGRATION_URL stay direct (see pgbouncer_urls).
#
# Any database name is passed through to the plain Postgres (tests make one per test), as any of
# the three roles, which log in with SCRAM to PgBouncer and PgBouncer with SCRAM to Postgres.
# Config, auth file: $DATA/pgbouncer (written on every start); log: $LOG_DIR/pgbouncer.log.

PGBOUNCER_PORT="${PGBOUNCER_PORT:-6432}"

# sqlx prepares named protocol-level statements on every connection. In transaction mode the next
# transaction may run on another server connection, where that name does not exist, unless
# PgBouncer tracks them itself: `max_prepared_statements`, new in PgBouncer 1.21. Debian 12 ships
# 1.18.0 (and bookworm-backports nothing newer), so unless a pgbouncer >= 1.21 is installed we
# build Debian 13's 1.24.1 from its source tarball (deb.debian.org is reachable where the
# registries are; the SHA-256 is the one trixie's Sources index gives) and keep the binary in
# $TOOLS_DIR, so only the first `up` on a machine pays for the build (about 20 s on 2 cores).
# The build (configure, make) runs as the postgres user, never as root, and root only copies the
# one binary it produced into place; root never runs it either (its version is asked as postgres).
PGBOUNCER_MIN_VERSION=1.21
PGBOUNCER_BUILD_VERSION=1.24.1
PGBOUNCER_TARBALL_URL="http://deb.debian.org/debian/pool/main/p/pgbouncer/pgbouncer_${PGBOUNCER_BUILD_VERSION}.orig.tar.gz"
PGBOUNCER_TARBALL_SHA256=da72a3aba13072876d055a3e58dd4aba4a5de4ed6148e73033185245598fd3e0
PGBOUNCER_PREFIX="$TOOLS_DIR/pgbouncer-$PGBOUNCER_BUILD_VERSION"

PGB_DIR="$DATA/pgbouncer"
PGB_CONF="$PGB_DIR/pgbouncer.ini"
PGB_AUTH="$PGB_DIR/userlist.txt"
# PgBouncer (as the postgres user) creates its pid file itself, with O_EXCL, and removes a stale
# one: it needs a directory of its own that it may write, beside its unix socket.
PGB_RUN_DIR="$RUN_DIR/pgbouncer"
PGB_PID="$PGB_RUN_DIR/pgbouncer.pid"
PGB_LOG="$LOG_DIR/pgbouncer.log"

# --- the binary ---------------------------------------------------------------------

pgb_version_of() { # BIN: print its version (e.g. 1.24.1), fail if it does not run
  local out
  # As postgres, the user it runs as: root runs nothing that a build produced.
  out="$(as_user postgres "$1" --version 2>/dev/null)" || return 1
  out="$(sed -n '1s/^PgBouncer \([0-9][0-9.]*\).*/\1/p' <<<"$out")"
  [[ -n "$out" ]] && echo "$out"
}

pgb_new_enough() { # VERSION >= PGBOUNCER_MIN_VERSION?
  [[ "$(printf '%s\n' "$PGBOUNCER_MIN_VERSION" "$1" | sort -V | head -n1)" == "$PGBOUNCER_MIN_VERSION" ]]
}

# Sets PGB_BIN and PGB_VERSION to the first pgbouncer >= 1.21 found: an installed one (PATH,
# /usr/sbin, which a non-root PATH may lack), else the one we built earlier.
pgb_find_bin() {
  local bin version
  for bin in "$(command -v pgbouncer || true)" /usr/sbin/pgbouncer "$PGBOUNCER_PREFIX/bin/pgbouncer"; do
    [[ -n "$bin" && -x "$bin" ]] || continue
    version="$(pgb_version_of "$bin")" || continue
    if pgb_new_enough "$version"; then
      PGB_BIN="$bin"
      PGB_VERSION="$version"
      return 0
    fi
  done
  return 1
}

pgb_missing_packages() {
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q ' installed$' || echo "$pkg"
  done
}

pgb_build() {
  local log="$LOG_DIR/pgbouncer-build.log" t0=$SECONDS build work tarball staged
  # libevent is PgBouncer's only hard dependency (its evdns does the DNS, so no c-ares; the
  # [databases] hosts are numeric anyway), OpenSSL for SCRAM; configure finds both with pkg-config.
  local -a deps=(gcc libc6-dev make pkg-config libevent-dev libssl-dev)
  command -v curl >/dev/null || deps+=(curl)
  local -a missing
  mapfile -t missing < <(pgb_missing_packages "${deps[@]}")
  if ((${#missing[@]})); then apt_install "${missing[@]}"; fi

  log "building PgBouncer $PGBOUNCER_BUILD_VERSION into $PGBOUNCER_PREFIX (one-off; log: $log)"
  mkdir -p "$TOOLS_DIR" "$LOG_DIR"
  check_reachable postgres
  rm -rf "$TOOLS_DIR/build" # where builds as root used to happen
  # Ours (mode 0700 until the tarball has been checked), in a directory of ours.
  build="$(mktemp -d "$TOOLS_DIR/.pgbouncer-build.XXXXXX")" || die "cannot make a build directory in $TOOLS_DIR"
  tarball="$build/pgbouncer-$PGBOUNCER_BUILD_VERSION.tar.gz"
  work="$build/work"
  curl -fsSL --retry 3 -o "$tarball" "$PGBOUNCER_TARBALL_URL" ||
    { rm -rf "$build"; die "could not download $PGBOUNCER_TARBALL_URL"; }
  local sum
  sum="$(sha256sum "$tarball" | cut -d' ' -f1)"
  if [[ "$sum" != "$PGBOUNCER_TARBALL_SHA256" ]]; then
    rm -rf "$build"
    die "$PGBOUNCER_TARBALL_URL has SHA-256 $sum, not $PGBOUNCER_TARBALL_SHA256: refusing to build it"
  fi
  # The build user may read the checked tarball and write in work/ only.
  chmod 755 "$build"
  chmod 644 "$tarball"
  mkdir "$work"
  own postgres "$work"
  # Unpacked, configured, compiled and installed into a staging directory (DESTDIR) by the
  # postgres user, which is what PgBouncer runs as: whatever the sources or the build could be
  # made to do, they do with no more rights than the binary has anyway. A tarball of `make dist`:
  # configure and the man pages are in it (no autotools, no pandoc). The log is opened by us, in
  # a directory of ours; 9>&-: nothing the build starts may hold on to the services lock.
  # shellcheck disable=SC2016 # expanded by the inner shell, as postgres
  if ! as_user postgres bash -c 'set -e; cd "$1"; tar -xzf "$2"; cd "pgbouncer-$3"
      ./configure --prefix="$4" --without-cares; make -j2; make install DESTDIR="$1/stage"' \
    pgbouncer-build "$work" "$tarball" "$PGBOUNCER_BUILD_VERSION" "$PGBOUNCER_PREFIX" >"$log" 2>&1 9>&-; then
    tail -n 30 "$log" >&2
    die "the PgBouncer build failed (log: $log; sources kept in $work)"
  fi
  # Ours again before we read anything in it (chown -R follows no symlink): from here on the build
  # user can change nothing there. Then the binary alone, which must be a plain file reached
  # through no symlink and linked nowhere else, is copied into place, owned by root.
  if is_root; then chown -R root:root "$work"; fi
  staged="$work/stage$PGBOUNCER_PREFIX/bin/pgbouncer"
  if [[ ! -f "$staged" || -L "$staged" || "$(realpath -e -- "$staged" 2>/dev/null)" != "$staged" ||
    "$(stat -c %h -- "$staged")" != 1 ]]; then
    die "the PgBouncer build left no plain binary at $staged (kept for a look)"
  fi
  rm -rf "$PGBOUNCER_PREFIX"
  install -d -m 755 "$PGBOUNCER_PREFIX/bin"
  install -m 755 "$staged" "$PGBOUNCER_PREFIX/bin/pgbouncer"
  rm -rf "$build"
  PGB_BIN="$PGBOUNCER_PREFIX/bin/pgbouncer"
  PGB_VERSION="$(pgb_version_of "$PGB_BIN")" || die "the PgBouncer just built does not run: $PGB_BIN --version"
  log "PgBouncer $PGB_VERSION built in $((SECONDS - t0))s"
}

ensure_pgbouncer_installed() {
  pgb_find_bin || pgb_build
}

# --- config -------------------------------------------------------------------------

pgb_conf() { # the configuration, on stdout
  cat <<EOF
;; Written by scripts/services on every start; edits here are overwritten.
[databases]
;; Any database name goes to the database of that name on the plain Postgres (tests make one
;; per test), with the client's own role and, from the auth file, its password.
* = host=127.0.0.1 port=$PGPORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir = $PGB_RUN_DIR
logfile = $PGB_LOG
pidfile = $PGB_PID
;; Connections are logged by the clients' own errors; a test run makes thousands.
log_connections = 0
log_disconnections = 0

;; Plain passwords in the auth file, so PgBouncer can answer the client's SCRAM exchange and
;; run its own with Postgres (which only takes scram-sha-256 over TCP).
auth_type = scram-sha-256
auth_file = $PGB_AUTH
;; The admin console (dbname=pgbouncer): SHOW POOLS, SHOW STATS, ...
admin_users = $PG_USER
stats_users = $PG_USER

;; A server connection is lent for one transaction, then goes back to the pool.
pool_mode = transaction
;; sqlx prepares named protocol-level statements (up to 100 per connection by default) and uses
;; them in later transactions, which may run on another server connection: PgBouncer keeps
;; track of them and prepares them where they are missing. 0 would turn that off, and sqlx would
;; fail with "prepared statement ... does not exist". This is an LRU per server connection.
max_prepared_statements = 200
;; Nothing to reset between transactions (transaction mode never runs it anyway).
server_reset_query =
default_pool_size = 20
max_client_conn = 2000
max_db_connections = 0
;; After a failed server login (say, during scripts/services restart-postgres) retry after 1 s,
;; not the default 15 s during which every new client is refused.
server_login_retry = 1
;; Loopback, and the plain Postgres has no TLS: do not even ask for it.
server_tls_sslmode = disable

;; sqlx's startup packet has DateStyle, client_encoding, TimeZone and application_name, which
;; PgBouncer tracks per client, and extra_float_digits, which it cannot (Postgres does not report
;; it) and would refuse the connection for. Ignored, the server's default (1: shortest exact
;; float text) applies, and sqlx reads floats in binary anyway.
ignore_startup_parameters = extra_float_digits
EOF
}

pgb_quote() { local s="${1//\"/\"\"}"; printf '"%s"' "$s"; }

pgb_auth() { # the auth file, on stdout: the three roles with their plain passwords
  echo "$(pgb_quote "$PG_USER") $(pgb_quote "$PG_PASSWORD")"
  echo "$(pgb_quote "$PG_OWNER_USER") $(pgb_quote "$PG_OWNER_PASSWORD")"
  echo "$(pgb_quote "$PG_APP_USER") $(pgb_quote "$PG_APP_PASSWORD")"
}

# --- the daemon -----------------------------------------------------------------------

pgb_pid() {
  local pid
  # The pid file is the postgres user's: a plain pid or nothing (read_pid), and only a pgbouncer
  # process of the postgres user counts (a pid file left by a crash may name a reused pid).
  pid="$(read_pid "$PGB_PID")"
  if pid_runs_as "$pid" postgres && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == pgbouncer ]]; then
    echo "$pid"
  fi
}

pgb_running() { [[ -n "$(pgb_pid)" ]]; }

pgb_psql() { # DBNAME ARGS...: psql as the superuser through PgBouncer
  local db="$1"; shift
  PGPASSWORD="$PG_PASSWORD" PGCONNECT_TIMEOUT=2 psql -X -q -w -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$PGBOUNCER_PORT" -U "$PG_USER" -d "$db" "$@"
}

# Ready: a query goes through PgBouncer to Postgres and back.
pgb_ready() { pgb_psql postgres -tAc 'select 1' >/dev/null 2>&1; }

pgb_admin_version() { # e.g. "PgBouncer 1.24.1", from the admin console (simple protocol only)
  local v
  v="$(pgb_psql pgbouncer -tAc 'SHOW VERSION' 2>/dev/null)" && [[ "$v" == PgBouncer* ]] && echo "$v"
}

pgbouncer_up() {
  mkdir -p "$DATA" "$RUN_DIR" "$LOG_DIR" "$PGB_DIR" "$PGB_RUN_DIR"
  chmod 700 "$PGB_DIR"
  chmod 755 "$PGB_RUN_DIR"
  check_reachable postgres
  # Both directories are the postgres user's (in directories of ours), and so are the files in
  # them: the config and the auth file (0600) are written by that user (svc_write), never by root.
  if is_root; then chown postgres:postgres "$PGB_DIR" "$PGB_RUN_DIR"; fi
  local changed=1
  svc_write postgres 600 "$PGB_CONF" < <(pgb_conf) && changed=0
  svc_write postgres 600 "$PGB_AUTH" < <(pgb_auth) && changed=0

  local pid
  pid="$(pgb_pid)"
  if [[ -n "$pid" ]]; then
    if ((changed)); then
      # Already running with this config: quick and quiet (it may still be opening its port).
      wait_for "PgBouncer on 127.0.0.1:$PGBOUNCER_PORT" 10 pgb_ready && return 0
      log "PgBouncer (pid $pid) runs but does not answer on 127.0.0.1:$PGBOUNCER_PORT; restarting it"
    else
      # Port, passwords or this file changed: listen_port needs a restart, not a reload.
      log "PgBouncer's configuration changed; restarting it"
    fi
    pgbouncer_down
  fi
  if port_open "$PGBOUNCER_PORT"; then
    die "127.0.0.1:$PGBOUNCER_PORT is taken by something other than our PgBouncer (set PGBOUNCER_PORT)"
  fi

  ensure_pgbouncer_installed
  touch "$PGB_LOG"
  own postgres "$PGB_DIR" "$PGB_RUN_DIR" "$PGB_LOG"

  log "starting PgBouncer $PGB_VERSION on 127.0.0.1:$PGBOUNCER_PORT (transaction pooling)"
  # PgBouncer refuses to run as root. -d daemonises it (a session of its own, so Ctrl-C here does
  # not reach it) once the config has been read; what it says before that goes to the log too.
  # Its open-files limit is raised to the hard limit (runuser resets it to 1024): up to 2000
  # clients plus the server connections, each a descriptor.
  # shellcheck disable=SC2016 # expanded by the inner shell, as the postgres user
  if ! (cd "$PGB_DIR" && as_user postgres \
    bash -c 'ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; exec "$@"' pgbouncer "$PGB_BIN" -d "$PGB_CONF") \
    >>"$PGB_LOG" 2>&1 </dev/null 9>&-; then
    tail -n 20 "$PGB_LOG" >&2 || true
    die "PgBouncer did not start (log: $PGB_LOG)"
  fi
  if ! wait_for "PgBouncer on 127.0.0.1:$PGBOUNCER_PORT" "$SERVICES_TIMEOUT" pgb_ready; then
    tail -n 20 "$PGB_LOG" >&2 || true
    die "PgBouncer not answering on 127.0.0.1:$PGBOUNCER_PORT (log: $PGB_LOG)"
  fi
}

pgbouncer_down() {
  local pid
  pid="$(pgb_pid)"
  if [[ -n "$pid" ]]; then
    log "stopping PgBouncer (pid $pid)"
    # SIGINT: safe shutdown, once every server connection is back in the pool (in transaction
    # mode, at the end of the transactions in flight). Then SIGQUIT (immediate), then KILL.
    kill -INT "$pid" 2>/dev/null || true
    if ! wait_for "PgBouncer to stop" 15 pid_gone "$pid"; then
      kill -QUIT "$pid" 2>/dev/null || true
      if ! wait_for "PgBouncer to stop" 5 pid_gone "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
      fi
    fi
  fi
  # PgBouncer removes its pid file on a clean exit; after a KILL or a crash it is ours to remove
  # (as postgres: the directory is that user's).
  if ! pgb_running && [[ -d "$PGB_RUN_DIR" ]]; then as_user postgres rm -f "$PGB_PID" || true; fi
}

pgbouncer_status() {
  if [[ "$PGBOUNCER" != 1 ]] && ! pgb_running; then return 0; fi
  local version
  # The admin console answers even while Postgres is down: this is PgBouncer's own status.
  if version="$(pgb_admin_version)"; then
    echo "pgbouncer up    127.0.0.1:$PGBOUNCER_PORT (transaction pooling, $version)"
  else
    echo "pgbouncer down"
    if [[ "$PGBOUNCER" == 1 ]]; then return 1; fi
  fi
  return 0
}

pgbouncer_urls() {
  if [[ "$PGBOUNCER" != 1 ]] && ! pgb_running; then return 0; fi
  cat <<EOF
PgBouncer   postgres://$PG_APP_USER:$PG_APP_PASSWORD@127.0.0.1:$PGBOUNCER_PORT/$PG_DB   DATABASE_URL (transaction pooling)
            direct      postgres://$PG_APP_USER:$PG_APP_PASSWORD@127.0.0.1:$PGPORT/$PG_DB   DATABASE_LISTEN_URL (LISTEN needs a session)
            direct      postgres://$PG_OWNER_USER:$PG_OWNER_PASSWORD@127.0.0.1:$PGPORT/$PG_DB   DATABASE_MIGRATION_URL (migrations hold a session lock)
            console     postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PGBOUNCER_PORT/pgbouncer   SHOW POOLS, SHOW STATS (simple query protocol only)
EOF
}
