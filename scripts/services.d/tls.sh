# shellcheck shell=bash
# Sourced by scripts/services: the TLS set (SERVICES_TLS=1). A second PostgreSQL and a second
# RabbitMQ node beside the plain ones, which accept TLS only, so that the services and tests can
# prove they connect with verified TLS (rustls in sqlx and lapin: SAN required, v3 CA):
#   PostgreSQL  127.0.0.1:${TLS_PGPORT:-5433}, hostssl only (TCP without TLS is rejected by
#               pg_hba.conf), data in .data/tls/postgres, the same superuser, database, roles
#               and privileges as the plain one
#   RabbitMQ    node rabbit-tls@localhost, amqps on 127.0.0.1:${AMQPS_PORT:-5671} and no plain
#               AMQP listener, management over https on 127.0.0.1:${TLS_RABBITMQ_MANAGEMENT_PORT:-15671},
#               Erlang distribution on 127.0.0.1:${TLS_RABBITMQ_DIST_PORT:-25671} (the plain node
#               uses 25672, the cluster 25681-25683); data in .data/tls/rabbitmq
#   CA          .data/tls/ca.crt (what clients trust: DATABASE_CA_CERT, AMQP_CA_CERT) and ca.key;
#               name-constrained to loopback (DNS:localhost, IP:127.0.0.0/8), so that its key
#               can vouch for nothing else, should it leak: a CA made before that is replaced.
#               .data/tls/server.crt and server.key for localhost and 127.0.0.1, made again when
#               missing, within 30 days of expiry or no longer signed by the CA, and copied to
#               each server with the owner and mode it demands (by that server's account:
#               svc_write), which then reloads them.
# Variables: TLS_PGPORT (5433) AMQPS_PORT (5671) TLS_RABBITMQ_MANAGEMENT_PORT (15671)
#            TLS_RABBITMQ_DIST_PORT (25671); RABBITMQ_MANAGEMENT=0 skips management here too.
# Everything is named tls_* / TLS_*: the sibling files are sourced into the same shell.

TLS_PGPORT="${TLS_PGPORT:-5433}"
AMQPS_PORT="${AMQPS_PORT:-5671}"
TLS_RABBITMQ_MANAGEMENT_PORT="${TLS_RABBITMQ_MANAGEMENT_PORT:-15671}"
TLS_RABBITMQ_DIST_PORT="${TLS_RABBITMQ_DIST_PORT:-25671}"

TLS_DIR="$DATA/tls"
TLS_CA_CERT="$TLS_DIR/ca.crt"
TLS_CA_DAYS=3650
TLS_SERVER_DAYS=825
# Certificates are made again this long before they expire, so a running set never serves
# an expired one to a test.
TLS_RENEW_SECONDS=$((30 * 24 * 3600))

TLS_PGDATA_DIR="$TLS_DIR/postgres"
TLS_PG_SOCKET_DIR="$RUN_DIR/postgres-tls"
TLS_PG_LOG="$LOG_DIR/postgres-tls.log"

TLS_RMQ_DIR="$TLS_DIR/rabbitmq"
TLS_RMQ_CERT_DIR="$TLS_RMQ_DIR/tls"
TLS_RMQ_LOG_DIR="$LOG_DIR/rabbitmq-tls"
TLS_RMQ_NODENAME=rabbit-tls@localhost

# --- certificates -------------------------------------------------------------------

# tls_write_file DEST USER MODE < CONTENT: replace DEST, in a directory USER owns, when its
# content differs; owner and mode are set every time. Written by USER itself, through a temporary
# file and a rename (svc_write in scripts/services): root never writes where USER could have put
# a symlink. Returns 0 when the content changed (so callers can reload), 1 if not.
tls_write_file() { svc_write "$2" "$3" "$1"; }

# The CA may only vouch for loopback names: what a leaked ca.key could sign is then no use
# against anything but this machine's own servers (rustls/webpki, libpq's OpenSSL and curl all
# enforce nameConstraints). A CA without them (made before) is replaced, which replaces the
# server certificate, which the servers then reload.
TLS_CA_NAME_CONSTRAINTS='permitted;DNS:localhost, permitted;IP:127.0.0.0/255.0.0.0'

tls_ca_ok() {
  [[ -s "$TLS_DIR/ca.key" && -s "$TLS_CA_CERT" ]] || return 1
  local ext
  ext="$(openssl x509 -noout -checkend "$TLS_RENEW_SECONDS" -ext nameConstraints -in "$TLS_CA_CERT" 2>/dev/null)" ||
    return 1
  [[ "$ext" == *"Name Constraints: critical"* && "$ext" == *"DNS:localhost"* && "$ext" == *"IP:127.0.0.0/255.0.0.0"* ]]
}

tls_server_cert_ok() {
  [[ -s "$TLS_DIR/server.key" && -s "$TLS_DIR/server.crt" ]] || return 1
  openssl x509 -noout -checkend "$TLS_RENEW_SECONDS" -in "$TLS_DIR/server.crt" >/dev/null 2>&1 || return 1
  # Still signed by the current CA (a new CA makes the old server certificate useless)...
  openssl verify -purpose sslserver -CAfile "$TLS_CA_CERT" "$TLS_DIR/server.crt" >/dev/null 2>&1 || return 1
  # ...and still the pair of the key beside it.
  [[ "$(openssl x509 -noout -pubkey -in "$TLS_DIR/server.crt" 2>/dev/null)" == \
    "$(openssl pkey -pubout -in "$TLS_DIR/server.key" 2>/dev/null)" ]]
}

# Both made with explicit config files rather than -addext: the system openssl.cnf adds its own
# v3_ca section to `req -x509`, and what webpki accepts must not depend on that file.
tls_make_ca() {
  log "making a local CA in $TLS_DIR (ca.crt, ca.key)"
  local tmp
  tmp="$(mktemp -d "$TLS_DIR/.ca.XXXXXX")" || die "cannot make a temporary directory in $TLS_DIR"
  cat >"$tmp/ca.cnf" <<EOF
[req]
distinguished_name = dn
x509_extensions = ca
prompt = no
[dn]
CN = patient-registration local development CA
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
nameConstraints = critical, $TLS_CA_NAME_CONSTRAINTS
EOF
  if ! (umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/ca.key" 2>"$tmp/err" &&
    openssl req -new -x509 -config "$tmp/ca.cnf" -key "$tmp/ca.key" -sha256 -days "$TLS_CA_DAYS" \
      -out "$tmp/ca.crt" 2>>"$tmp/err"); then
    cat "$tmp/err" >&2
    rm -rf "$tmp"
    die "openssl could not make the CA"
  fi
  chmod 600 "$tmp/ca.key" && chmod 644 "$tmp/ca.crt"
  { mv -f "$tmp/ca.key" "$TLS_DIR/ca.key" && mv -f "$tmp/ca.crt" "$TLS_CA_CERT"; } || die "cannot move the CA into $TLS_DIR"
  rm -rf "$tmp"
}

# RSA 2048, so that keyEncipherment is meaningful and every TLS stack in play (rustls with ring,
# libpq, Erlang's ssl, curl) takes it in TLS 1.2 and 1.3 alike.
tls_make_server_cert() {
  log "making the server certificate for localhost and 127.0.0.1 (server.crt, server.key)"
  local tmp
  tmp="$(mktemp -d "$TLS_DIR/.server.XXXXXX")" || die "cannot make a temporary directory in $TLS_DIR"
  cat >"$tmp/server.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = localhost
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
  # A random 128-bit serial, so a new certificate never repeats an old one's (no .srl file).
  if ! (umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/server.key" 2>"$tmp/err" &&
    openssl req -new -config "$tmp/server.cnf" -key "$tmp/server.key" -out "$tmp/server.csr" 2>>"$tmp/err" &&
    openssl x509 -req -in "$tmp/server.csr" -CA "$TLS_CA_CERT" -CAkey "$TLS_DIR/ca.key" \
      -set_serial "0x$(openssl rand -hex 16)" -sha256 -days "$TLS_SERVER_DAYS" \
      -extfile "$tmp/server.cnf" -extensions server -out "$tmp/server.crt" 2>>"$tmp/err"); then
    cat "$tmp/err" >&2
    rm -rf "$tmp"
    die "openssl could not make the server certificate"
  fi
  chmod 600 "$tmp/server.key" && chmod 644 "$tmp/server.crt"
  { mv -f "$tmp/server.key" "$TLS_DIR/server.key" && mv -f "$tmp/server.crt" "$TLS_DIR/server.crt"; } ||
    die "cannot move the server certificate into $TLS_DIR"
  rm -rf "$tmp"
}

tls_certs() {
  command -v openssl >/dev/null || apt_install openssl
  mkdir -p "$TLS_DIR"
  # The service accounts reach their directories below; the keys themselves stay 0600.
  chmod 755 "$TLS_DIR"
  # (if, not ||: errexit stays on inside the makers)
  if ! tls_ca_ok; then tls_make_ca; fi
  if ! tls_server_cert_ok; then tls_make_server_cert; fi
  tls_server_cert_ok || die "the server certificate in $TLS_DIR does not verify against $TLS_CA_CERT"
}

# --- PostgreSQL with TLS only ---------------------------------------------------------------

# The postmaster's pid (first line of postmaster.pid, a file of the postgres user's): only a live
# process of the postgres user counts.
tls_pg_pid() {
  local pid
  pid="$(read_pid "$TLS_PGDATA_DIR/postmaster.pid")"
  if pid_runs_as "$pid" postgres; then echo "$pid"; fi
}

# What a client such as sqlx with DATABASE_CA_CERT does: verify-full against our CA.
tls_pg_answers() {
  PGPASSWORD="$PG_PASSWORD" psql -X -q -w -tA -c 'select 1' \
    "host=127.0.0.1 port=$TLS_PGPORT user=$PG_USER dbname=postgres connect_timeout=5 sslmode=verify-full sslrootcert=$TLS_CA_CERT" \
    >/dev/null 2>&1
}

# The same login without TLS must be refused (pg_hba.conf: hostnossl ... reject).
tls_pg_plaintext_refused() {
  ! PGPASSWORD="$PG_PASSWORD" psql -X -q -w -tA -c 'select 1' \
    "host=127.0.0.1 port=$TLS_PGPORT user=$PG_USER dbname=postgres connect_timeout=5 sslmode=disable" \
    >/dev/null 2>&1
}

# pg_hba.conf, the TLS settings and the server's own copy of the certificate and key (Postgres
# refuses a key it does not own or that others may read). Returns 0 when anything changed.
tls_pg_files() {
  local changed=1
  tls_write_file "$TLS_PGDATA_DIR/pg_hba.conf" postgres 600 <<'EOF' && changed=0
# Written by scripts/services (tls.sh) on every `up`; edits here are overwritten.
# The socket for local administration; over TCP, TLS or nothing.
local     all  all                trust
hostssl   all  all  127.0.0.1/32  scram-sha-256
hostssl   all  all  ::1/128       scram-sha-256
hostnossl all  all  0.0.0.0/0     reject
hostnossl all  all  ::/0          reject
EOF
  tls_write_file "$TLS_PGDATA_DIR/tls.conf" postgres 600 <<EOF && changed=0
# Written by scripts/services (tls.sh) on every \`up\`; edits here are overwritten.
ssl = on
ssl_cert_file = '$TLS_PGDATA_DIR/server.crt'
ssl_key_file = '$TLS_PGDATA_DIR/server.key'
ssl_min_protocol_version = 'TLSv1.2'
EOF
  tls_write_file "$TLS_PGDATA_DIR/server.crt" postgres 644 <"$TLS_DIR/server.crt" && changed=0
  tls_write_file "$TLS_PGDATA_DIR/server.key" postgres 600 <"$TLS_DIR/server.key" && changed=0
  return "$changed"
}

tls_pg_up() {
  # The plain helpers (pg_ready, pg_write_conf, pg_ensure_db, pg_ensure_roles) read these
  # globals; bash's dynamic scoping hands them our values for the length of this call, and
  # the plain set's stay as they were. Their psql and pg_isready then connect as a client
  # should: verify-full against our CA.
  # shellcheck disable=SC2034 # read by the plain helpers
  local PGPORT="$TLS_PGPORT" PGDATA_DIR="$TLS_PGDATA_DIR" PG_SOCKET_DIR="$TLS_PG_SOCKET_DIR" PG_LOG="$TLS_PG_LOG"
  local -x PGSSLMODE=verify-full PGSSLROOTCERT="$TLS_CA_CERT"
  ensure_postgres_installed

  local pid
  pid="$(tls_pg_pid)"
  if pid_alive "$pid"; then
    # Ours runs: pick up a new certificate or pg_hba.conf (SIGHUP reloads both), then just
    # make sure of the database and roles, as the plain `up` does.
    if tls_pg_files; then
      log "PostgreSQL (TLS): certificate or configuration changed, reloading"
      as_user postgres "$PG_BIN/pg_ctl" -D "$TLS_PGDATA_DIR" -s reload 9>&- || die "pg_ctl reload failed (log: $TLS_PG_LOG)"
      sleep 1 # the postmaster loads the new files asynchronously
    fi
    wait_for "PostgreSQL (TLS) on 127.0.0.1:$TLS_PGPORT" "$SERVICES_TIMEOUT" tls_pg_answers ||
      die "PostgreSQL (TLS, pid $pid) does not answer with TLS on 127.0.0.1:$TLS_PGPORT (log: $TLS_PG_LOG)"
    pg_ensure_db
    pg_ensure_roles
    return 0
  fi
  if port_open "$TLS_PGPORT"; then
    die "something else listens on 127.0.0.1:$TLS_PGPORT (not the TLS PostgreSQL): stop it or set TLS_PGPORT"
  fi

  mkdir -p "$RUN_DIR" "$LOG_DIR" "$TLS_PG_SOCKET_DIR"
  chmod 755 "$RUN_DIR" "$LOG_DIR"
  check_reachable postgres
  own postgres "$TLS_PG_SOCKET_DIR"
  touch "$TLS_PG_LOG" && own postgres "$TLS_PG_LOG"

  if [[ ! -s "$TLS_PGDATA_DIR/PG_VERSION" ]]; then
    log "initialising the TLS PostgreSQL cluster in $TLS_PGDATA_DIR"
    rm -rf "$TLS_PGDATA_DIR" # never a real cluster: it has no PG_VERSION (an interrupted initdb)
    mkdir -p "$TLS_PGDATA_DIR" && chmod 700 "$TLS_PGDATA_DIR" && own postgres "$TLS_PGDATA_DIR"
    local pwfile
    pwfile="$(mktemp)"
    printf '%s\n' "$PG_PASSWORD" >"$pwfile"
    own postgres "$pwfile"
    as_user postgres "$PG_BIN/initdb" -D "$TLS_PGDATA_DIR" -U "$PG_USER" --pwfile="$pwfile" \
      --auth-host=scram-sha-256 --auth-local=trust --encoding=UTF8 --no-locale \
      >"$LOG_DIR/initdb-tls.log" 2>&1 || { rm -f "$pwfile"; cat "$LOG_DIR/initdb-tls.log" >&2; die "initdb (TLS) failed"; }
    rm -f "$pwfile"
    # services.conf (the plain settings: port, socket, durability, max_connections) and then
    # tls.conf, both rewritten on every start. Appended by postgres, whose file it is.
    printf "\n# Local settings for scripts/services\ninclude 'services.conf'\ninclude 'tls.conf'\n" |
      as_user postgres tee -a "$TLS_PGDATA_DIR/postgresql.conf" >/dev/null
  fi
  pg_write_conf
  tls_pg_files || true

  log "starting PostgreSQL (TLS only) on 127.0.0.1:$TLS_PGPORT"
  if ! as_user postgres "$PG_BIN/pg_ctl" -D "$TLS_PGDATA_DIR" -l "$TLS_PG_LOG" -w -t "$SERVICES_TIMEOUT" -s start 9>&-; then
    tail -n 30 "$TLS_PG_LOG" >&2 || true
    die "PostgreSQL (TLS) did not start (log: $TLS_PG_LOG)"
  fi
  wait_for "PostgreSQL (TLS) on 127.0.0.1:$TLS_PGPORT" "$SERVICES_TIMEOUT" tls_pg_answers ||
    die "PostgreSQL (TLS) does not answer with verify-full on 127.0.0.1:$TLS_PGPORT (log: $TLS_PG_LOG)"
  tls_pg_plaintext_refused || die "PostgreSQL (TLS) on 127.0.0.1:$TLS_PGPORT accepts a login without TLS (pg_hba.conf?)"
  pg_ensure_db
  pg_ensure_roles
}

tls_pg_down() {
  local pid
  pid="$(tls_pg_pid)"
  if pid_alive "$pid" && PG_BIN="$(pg_bindir)"; then
    log "stopping PostgreSQL (TLS)"
    as_user postgres "$PG_BIN/pg_ctl" -D "$TLS_PGDATA_DIR" -m fast -w -t "$SERVICES_TIMEOUT" -s stop ||
      log "pg_ctl stop (TLS) failed (log: $TLS_PG_LOG)"
  fi
}

# --- RabbitMQ with TLS only ------------------------------------------------------------------

# The environment of the TLS node and of every rabbitmqctl call against it (HOME decides the
# Erlang cookie), as rmq_env does for the plain node. RABBITMQ_NODE_PORT/IP_ADDRESS are left
# out, and unset in case the caller exports them: they would add a plain AMQP listener.
tls_rmq_env() {
  local erl_loopback='-kernel inet_dist_use_interface {127,0,0,1}'
  TLS_RMQ_ENV=(
    -u RABBITMQ_NODE_PORT -u RABBITMQ_NODE_IP_ADDRESS
    HOME="$TLS_RMQ_DIR"
    RABBITMQ_NODENAME="$TLS_RMQ_NODENAME"
    RABBITMQ_DIST_PORT="$TLS_RABBITMQ_DIST_PORT"
    RABBITMQ_CONF_ENV_FILE="$TLS_RMQ_DIR/rabbitmq-env.conf"
    RABBITMQ_CONFIG_FILE="$TLS_RMQ_DIR/rabbitmq.conf"
    RABBITMQ_ADVANCED_CONFIG_FILE="$TLS_RMQ_DIR/advanced.config"
    RABBITMQ_ENABLED_PLUGINS_FILE="$TLS_RMQ_DIR/enabled_plugins"
    RABBITMQ_MNESIA_BASE="$TLS_RMQ_DIR/mnesia"
    RABBITMQ_LOG_BASE="$TLS_RMQ_LOG_DIR"
    RABBITMQ_PID_FILE="$TLS_RMQ_DIR/rabbitmq.pid"
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none $erl_loopback"
    RABBITMQ_CTL_ERL_ARGS="$erl_loopback"
    ERL_EPMD_ADDRESS=127.0.0.1
  )
}

# The node's pid (RABBITMQ_PID_FILE, a file of the rabbitmq user's): only a live process of the
# rabbitmq user counts.
tls_rmq_pid() {
  local pid
  pid="$(read_pid "$TLS_RMQ_DIR/rabbitmq.pid")"
  if pid_runs_as "$pid" rabbitmq; then echo "$pid"; fi
}

tls_rmq_management() {
  [[ "$RABBITMQ_MANAGEMENT" == 1 && -f "$TLS_RMQ_DIR/enabled_plugins" ]] &&
    grep -q rabbitmq_management "$TLS_RMQ_DIR/enabled_plugins"
}

# A TLS handshake that verifies the certificate (chain and IP SAN) against our CA.
tls_amqps_answers() {
  timeout 10 openssl s_client -connect "127.0.0.1:$AMQPS_PORT" -CAfile "$TLS_CA_CERT" \
    -verify_return_error -verify_ip 127.0.0.1 </dev/null >/dev/null 2>&1
}

tls_management_answers() {
  curl -sf --max-time 10 --cacert "$TLS_CA_CERT" -u guest:guest -o /dev/null \
    "https://127.0.0.1:$TLS_RABBITMQ_MANAGEMENT_PORT/api/overview"
}

tls_rmq_ready() {
  tls_amqps_answers || return 1
  if tls_rmq_management; then tls_management_answers || return 1; fi
}

# The AMQP protocol header sent in the clear must get no AMQP answer: a plain listener replies
# with a connection.start frame (first byte 01) or its own header ("AMQP", 41); a TLS one sends
# an alert (15) or closes.
tls_amqp_plaintext_refused() {
  local first
  # shellcheck disable=SC2016 # expanded by the inner shell
  first="$(timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 0
    printf "AMQP\x00\x00\x09\x01" >&3; head -c 1 <&3 | od -An -tx1' _ "$AMQPS_PORT" 2>/dev/null || true)"
  first="${first//[[:space:]]/}"
  [[ "$first" != 01 && "$first" != 41 ]]
}

# rabbitmq.conf, enabled_plugins and the node's own copy of the CA, certificate and key.
# Returns 0 when a certificate or key changed (the configuration is read only at start).
tls_rmq_files() {
  local changed=1 cert
  # An empty env file keeps /etc/rabbitmq/rabbitmq-env.conf out of the picture.
  tls_write_file "$TLS_RMQ_DIR/rabbitmq-env.conf" rabbitmq 644 </dev/null || true
  for cert in ca.crt server.crt; do
    tls_write_file "$TLS_RMQ_CERT_DIR/$cert" rabbitmq 644 <"$TLS_DIR/$cert" && changed=0
  done
  tls_write_file "$TLS_RMQ_CERT_DIR/server.key" rabbitmq 600 <"$TLS_DIR/server.key" && changed=0
  local conf plugins='[].'
  conf="# Written by scripts/services (tls.sh) on every \`up\`; edits here are overwritten.
# TLS only: no plain AMQP listener (and no RABBITMQ_NODE_PORT, which would add one).
loopback_users.guest = true
log.console = false
log.file.level = info
listeners.tcp = none
listeners.ssl.1 = 127.0.0.1:$AMQPS_PORT
ssl_options.cacertfile = $TLS_RMQ_CERT_DIR/ca.crt
ssl_options.certfile = $TLS_RMQ_CERT_DIR/server.crt
ssl_options.keyfile = $TLS_RMQ_CERT_DIR/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
ssl_options.versions.1 = tlsv1.3
ssl_options.versions.2 = tlsv1.2"
  if [[ "$RABBITMQ_MANAGEMENT" == 1 ]]; then
    plugins='[rabbitmq_management].'
    # management.ssl.* alone gives an https listener only (no management.tcp.*: no http one).
    conf+="
management.ssl.ip = 127.0.0.1
management.ssl.port = $TLS_RABBITMQ_MANAGEMENT_PORT
management.ssl.cacertfile = $TLS_RMQ_CERT_DIR/ca.crt
management.ssl.certfile = $TLS_RMQ_CERT_DIR/server.crt
management.ssl.keyfile = $TLS_RMQ_CERT_DIR/server.key
management.ssl.versions.1 = tlsv1.3
management.ssl.versions.2 = tlsv1.2"
  fi
  tls_write_file "$TLS_RMQ_DIR/rabbitmq.conf" rabbitmq 644 <<<"$conf" || true
  tls_write_file "$TLS_RMQ_DIR/enabled_plugins" rabbitmq 644 <<<"$plugins" || true
  return "$changed"
}

tls_rmqctl() {
  ensure_rabbitmq_installed
  tls_rmq_env
  # Root reads the node's 0400 cookie under HOME=$TLS_RMQ_DIR; Erlang only checks the mode.
  env "${TLS_RMQ_ENV[@]}" "$RMQ_BIN/rabbitmqctl" -n "$TLS_RMQ_NODENAME" "$@"
}

tls_rmq_up() {
  command -v curl >/dev/null || apt_install curl
  ensure_rabbitmq_installed
  mkdir -p "$LOG_DIR"
  chmod 755 "$LOG_DIR"
  check_reachable rabbitmq
  # The node's directories are the rabbitmq user's, and its files are written by that user.
  rmq_dirs "$TLS_RMQ_DIR" "$TLS_RMQ_LOG_DIR" mnesia "${TLS_RMQ_CERT_DIR#"$TLS_RMQ_DIR"/}"

  local pid
  pid="$(tls_rmq_pid)"
  if pid_alive "$pid"; then
    if tls_rmq_files; then
      # The listeners keep their file names; Erlang's ssl caches the PEM files behind them.
      log "RabbitMQ (TLS): certificate changed, clearing the node's PEM cache"
      tls_rmqctl -q eval 'ssl:clear_pem_cache().' >/dev/null 9>&- || die "could not clear the TLS node's PEM cache"
    fi
    # Running (maybe still booting plugins): wait for the rest.
    wait_for "RabbitMQ (TLS)" "$SERVICES_TIMEOUT" tls_rmq_ready ||
      die "RabbitMQ (TLS, pid $pid) not answering with TLS on 127.0.0.1:$AMQPS_PORT (logs: $TLS_RMQ_LOG_DIR)"
    return 0
  fi
  if port_open "$AMQPS_PORT"; then
    die "something else listens on 127.0.0.1:$AMQPS_PORT (not the TLS RabbitMQ node): stop it or set AMQPS_PORT"
  fi

  # Its own cookie, shared by the node and tls_rmqctl (via HOME).
  rmq_cookie "$TLS_RMQ_DIR"
  tls_rmq_files || true
  own rabbitmq "$TLS_RMQ_DIR" "$TLS_RMQ_LOG_DIR"

  log "starting RabbitMQ $TLS_RMQ_NODENAME (amqps 127.0.0.1:$AMQPS_PORT only)"
  as_user rabbitmq rm -f "$TLS_RMQ_DIR/rabbitmq.pid"
  tls_rmq_env
  # As rmq_up: the real script as the rabbitmq user (the /usr/sbin wrapper would force the
  # system HOME and cookie), -detached, open-files limit raised, the lock (fd 9) not inherited.
  (cd "$TLS_RMQ_DIR" && rmq_launch "$TLS_RMQ_LOG_DIR/startup.log" "${TLS_RMQ_ENV[@]}") ||
    die "rabbitmq-server (TLS) failed to launch (log: $TLS_RMQ_LOG_DIR/startup.log)"
  if ! wait_for "RabbitMQ (TLS) on 127.0.0.1:$AMQPS_PORT" "$SERVICES_TIMEOUT" tls_rmq_ready; then
    as_user rabbitmq tail -n 30 "$TLS_RMQ_LOG_DIR/$TLS_RMQ_NODENAME.log" >&2 2>/dev/null || true
    die "RabbitMQ (TLS) did not start (logs: $TLS_RMQ_LOG_DIR)"
  fi
  tls_amqp_plaintext_refused || die "RabbitMQ (TLS) answers plain AMQP on 127.0.0.1:$AMQPS_PORT"
}

# epmd is left alone: other nodes (plain, cluster) may still be registered, and rmq_down,
# which `down` runs after us, stops it once none is.
tls_rmq_down() {
  local pid
  pid="$(tls_rmq_pid)"
  if pid_alive "$pid"; then
    log "stopping RabbitMQ $TLS_RMQ_NODENAME (pid $pid)"
    tls_rmqctl -q shutdown >/dev/null 2>&1 9>&- || kill -TERM "$pid" 2>/dev/null || true
    if ! wait_for "RabbitMQ (TLS) to stop" "$SERVICES_TIMEOUT" pid_gone "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  if [[ -d "$TLS_RMQ_DIR" ]]; then as_user rabbitmq rm -f "$TLS_RMQ_DIR/rabbitmq.pid" || true; fi
}

# --- the hooks scripts/services calls ---------------------------------------------------------

tls_running() { pid_alive "$(tls_pg_pid)" || pid_alive "$(tls_rmq_pid)"; }

tls_up() {
  tls_certs
  tls_pg_up
  tls_rmq_up
}

tls_down() {
  tls_rmq_down
  tls_pg_down
}

tls_status() {
  [[ "$SERVICES_TLS" == 1 ]] || tls_running || return 0
  local ok=0
  if ! tls_pg_answers; then
    echo "postgres-tls  down"; ok=1
  elif tls_pg_plaintext_refused; then
    echo "postgres-tls  up    127.0.0.1:$TLS_PGPORT (TLS only)"
  else
    echo "postgres-tls  up    127.0.0.1:$TLS_PGPORT BUT ALSO WITHOUT TLS"; ok=1
  fi
  local mgmt=""
  if tls_rmq_management; then mgmt=", management https 127.0.0.1:$TLS_RABBITMQ_MANAGEMENT_PORT"; fi
  if ! tls_rmq_ready; then
    echo "rabbitmq-tls  down"; ok=1
  elif tls_amqp_plaintext_refused; then
    echo "rabbitmq-tls  up    amqps 127.0.0.1:$AMQPS_PORT$mgmt"
  else
    echo "rabbitmq-tls  up    127.0.0.1:$AMQPS_PORT BUT ANSWERS PLAIN AMQP"; ok=1
  fi
  if [[ "$SERVICES_TLS" == 1 ]]; then return "$ok"; fi
  return 0
}

tls_urls() {
  [[ "$SERVICES_TLS" == 1 ]] || tls_running || return 0
  local q="sslmode=verify-full"
  cat <<EOF
PostgreSQL (TLS)  postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$TLS_PGPORT/$PG_DB?$q   with DATABASE_CA_CERT=$TLS_CA_CERT
                  migrations (owner)  postgres://$PG_OWNER_USER:$PG_OWNER_PASSWORD@127.0.0.1:$TLS_PGPORT/$PG_DB?$q
                  services (app)      postgres://$PG_APP_USER:$PG_APP_PASSWORD@127.0.0.1:$TLS_PGPORT/$PG_DB?$q
RabbitMQ (TLS)    amqps://guest:guest@127.0.0.1:$AMQPS_PORT/%2f   with AMQP_CA_CERT=$TLS_CA_CERT
EOF
  if [[ "$RABBITMQ_MANAGEMENT" == 1 ]]; then
    echo "                  management https://127.0.0.1:$TLS_RABBITMQ_MANAGEMENT_PORT (guest/guest)"
  fi
  echo "TLS CA            $TLS_CA_CERT   (server certificate for localhost and 127.0.0.1)"
}
