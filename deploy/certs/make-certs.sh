#!/bin/sh
# The TLS certificates of docker-compose.multihost.yml's self-contained trial: a private CA
# and one certificate per server, written into the volumes the `certs` service mounts under
# /tls. Each server mounts only its own volume (at /certs); the services only the CA's.
#
#   /tls/ca/ca.pem        the CA certificate, all the services need to trust
#                         (DATABASE_CA_CERT, AMQP_CA_CERT, SMTP_CA_CERT)
#   /tls/<server>/ca.pem, server.pem, server.key, for
#     postgres    DNS:postgres                             key: uid 999 (postgres in postgres:16), 0600
#     pgbouncer   DNS:pgbouncer                            key: uid 70 (the pgbouncer service's user), 0600
#     rabbitmq    DNS:rabbitmq-1, rabbitmq-2, rabbitmq-3,  key: uid 999 (rabbitmq in rabbitmq:4.x), 0600
#                 localhost (the management UI)
#                 extendedKeyUsage serverAuth AND clientAuth: the nodes' inter-node TLS (Erlang
#                 distribution, deploy/rabbitmq/inter_node_tls.config) presents this one
#                 certificate both ways, node to node and CLI tool to node, and each side
#                 requires the other's (verify_peer, fail_if_no_peer_cert)
#     mailpit     DNS:mailpit, localhost (the inbox)       key: root (Mailpit's user), 0640
#   (every other certificate: extendedKeyUsage serverAuth only)
#
# Postgres refuses a key that others can read; the other servers read theirs as the user
# they run as, so each key belongs to that user and nobody else.
#
# Once: run again, it does nothing while every file is there, was made for this same list and
# has more than 30 days left. Otherwise it issues everything anew, CA included; running
# servers keep the old certificates until they restart. The CA's private key exists only in
# this container's /tmp while it signs: nothing can sign another certificate with it later.
#
# Needs openssl (installed with apk when missing, which only happens when issuing) and root,
# to hand each key to its server's user. On real hosts certificates come from the operator's
# own CA, delivered to the same paths; this script is only there so that the trial needs
# nothing but Docker.
set -eu

OUT="${TLS_OUT:-/tls}"
DAYS="${TLS_DAYS:-825}"
CA_DAYS=$((DAYS + 30))
RENEW_BEFORE=$((30 * 86400))
SERVERS="postgres pgbouncer rabbitmq mailpit"

names() {
  case "$1" in
    postgres) echo "postgres" ;;
    pgbouncer) echo "pgbouncer" ;;
    rabbitmq) echo "rabbitmq-1 rabbitmq-2 rabbitmq-3 localhost" ;;
    mailpit) echo "mailpit localhost" ;;
  esac
}

key_owner() {
  case "$1" in
    postgres | rabbitmq) echo "999:999" ;;
    pgbouncer) echo "70:70" ;;
    mailpit) echo "0:0" ;;
  esac
}

# What each certificate may be used for. The RabbitMQ nodes' certificate is a client's too: in
# inter-node TLS every connection, node to node or CLI tool to node, shows it from both ends.
eku() {
  case "$1" in
    rabbitmq) echo "serverAuth, clientAuth" ;;
    *) echo "serverAuth" ;;
  esac
}

key_mode() {
  case "$1" in
    mailpit) echo 0640 ;;
    *) echo 0600 ;;
  esac
}

# What the certificates were made for, on one line: a change to the list re-issues them.
spec() {
  for s in $SERVERS; do
    printf '%s=%s,%s,%s,%s;' "$s" "$(names "$s" | tr ' ' '+')" "$(key_owner "$s")" "$(key_mode "$s")" \
      "$(eku "$s" | tr -d ' ')"
  done
  printf 'days=%s' "$DAYS"
}

say() { printf 'certs: %s\n' "$*"; }

up_to_date() {
  stamp="$OUT/ca/issued"
  [ -f "$stamp" ] && [ -s "$OUT/ca/ca.pem" ] || return 1
  [ "$(sed -n 's/^spec=//p' "$stamp")" = "$(spec)" ] || return 1
  renew_at="$(sed -n 's/^renew_at=//p' "$stamp")"
  case "$renew_at" in '' | *[!0-9]*) return 1 ;; esac
  [ "$(date +%s)" -lt "$renew_at" ] || return 1
  for s in $SERVERS; do
    for f in ca.pem server.pem server.key; do
      [ -e "$OUT/$s/$f" ] || return 1
    done
    cmp -s "$OUT/ca/ca.pem" "$OUT/$s/ca.pem" || return 1
  done
}

# SRC DEST MODE OWNER: DEST replaced in one rename, so that a server starting meanwhile
# reads the old file or the new one, never half of one.
place() {
  rm -f "$2.new"
  cp "$1" "$2.new"
  chmod "$3" "$2.new"
  chown "$4" "$2.new"
  mv -f "$2.new" "$2"
}

if up_to_date; then
  say "certificates in $OUT are up to date"
  exit 0
fi

if ! command -v openssl >/dev/null 2>&1; then
  if command -v apk >/dev/null 2>&1; then
    say "installing openssl"
    apk add --no-cache --quiet openssl
  else
    say "openssl is missing" >&2
    exit 1
  fi
fi

umask 077
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
now="$(date +%s)"

# The CA: may sign server certificates only (pathlen 0), for DAYS plus a month.
cat >"$work/ca.cnf" <<EOF
[req]
prompt = no
distinguished_name = dn
x509_extensions = ext
[dn]
CN = Patient registration trial CA $now
[ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/ca.key"
openssl req -config "$work/ca.cnf" -new -x509 -sha256 -days "$CA_DAYS" \
  -key "$work/ca.key" -out "$work/ca.pem"

# One certificate per server: TLS server use (and for RabbitMQ's, client use too: eku), its
# names as subjectAltName (what the clients check with verify-full: rustls reads no common
# name; Erlang's inter-node TLS checks the host part of the node name, rabbit@rabbitmq-N).
for s in $SERVERS; do
  san=""
  for n in $(names "$s"); do
    san="${san:+$san, }DNS:$n"
  done
  cat >"$work/$s.cnf" <<EOF
[req]
prompt = no
distinguished_name = dn
[dn]
CN = $(names "$s" | cut -d' ' -f1)
[ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = $(eku "$s")
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/$s.key"
  openssl req -config "$work/$s.cnf" -new -key "$work/$s.key" -out "$work/$s.csr"
  # (OpenSSL 3 chats on stderr about the request: shown only if signing fails.)
  if ! openssl x509 -req -sha256 -days "$DAYS" -in "$work/$s.csr" \
    -CA "$work/ca.pem" -CAkey "$work/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -extfile "$work/$s.cnf" -extensions ext -out "$work/$s.pem" 2>"$work/x509.log"; then
    cat "$work/x509.log" >&2
    exit 1
  fi
  openssl verify -x509_strict -purpose sslserver -CAfile "$work/ca.pem" "$work/$s.pem" >/dev/null
  case "$(eku "$s")" in
    *clientAuth*) openssl verify -x509_strict -purpose sslclient -CAfile "$work/ca.pem" "$work/$s.pem" >/dev/null ;;
  esac
done

for d in ca $SERVERS; do
  mkdir -p "$OUT/$d"
  chmod 0755 "$OUT/$d"
done
for s in $SERVERS; do
  place "$work/ca.pem" "$OUT/$s/ca.pem" 0644 0:0
  place "$work/$s.pem" "$OUT/$s/server.pem" 0644 0:0
  place "$work/$s.key" "$OUT/$s/server.key" "$(key_mode "$s")" "$(key_owner "$s")"
  say "$s: $(names "$s"), key owned by $(key_owner "$s") mode $(key_mode "$s")"
done
place "$work/ca.pem" "$OUT/ca/ca.pem" 0644 0:0
# Written last: its presence says that everything above is complete.
printf 'spec=%s\nrenew_at=%s\n' "$(spec)" "$((now + DAYS * 86400 - RENEW_BEFORE))" >"$work/issued"
place "$work/issued" "$OUT/ca/issued" 0644 0:0
say "issued a new CA and certificates valid for $DAYS days into $OUT"
