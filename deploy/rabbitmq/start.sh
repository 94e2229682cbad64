#!/bin/sh
# The RabbitMQ nodes' entrypoint in docker-compose.multihost.yml: writes the broker's users, its
# virtual host and their permissions as a definitions file, which rabbitmq.conf
# (definitions.local.path) has every node import at boot, then hands over to the image's own
# entrypoint. Two users, so that what the services hold cannot administer the broker:
#
#   admin         tag administrator, all permissions on the vhost /: for operators only
#                 (management UI and HTTP API, rabbitmqadmin). Password RABBITMQ_ADMIN_PASSWORD,
#                 which no service is given.
#   registration  no tag (no management UI or API at all), configure/write/read on the vhost /
#                 and nowhere else: what the services log in as (AMQP_URL). Password
#                 RABBITMQ_PASSWORD.
#
# A node that imports definitions at boot makes neither the default user nor the default vhost
# (so RABBITMQ_DEFAULT_USER/PASS are not set): both are in the file. The import runs at every
# boot of every node, and for a user that exists it sets the password and tags of the file: a
# changed password takes effect as the nodes restart, and the `registration` user of a cluster
# made before (then RABBITMQ_DEFAULT_USER, an administrator) loses its administrator tag.
#
# The file goes to a tmpfs (nothing of it on the data volume), readable by the rabbitmq user
# only, and neither password is passed on to the broker's environment.
set -eu

: "${RABBITMQ_ADMIN_PASSWORD:?RABBITMQ_ADMIN_PASSWORD is not set}"
: "${RABBITMQ_PASSWORD:?RABBITMQ_PASSWORD is not set}"
DEFS_DIR=/run/rabbitmq-definitions
DEFS="$DEFS_DIR/definitions.json"

# A JSON string's contents: printable ASCII only (the passwords go into URLs anyway), with
# backslash and double quote escaped.
json_string() {
  if [ -n "$(printf '%s' "$2" | LC_ALL=C tr -d '[:print:]')" ]; then
    echo "start.sh: $1 must be printable ASCII" >&2
    exit 1
  fi
  printf '%s' "$2" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'
}
admin_password="$(json_string RABBITMQ_ADMIN_PASSWORD "$RABBITMQ_ADMIN_PASSWORD")"
app_password="$(json_string RABBITMQ_PASSWORD "$RABBITMQ_PASSWORD")"
if [ "$RABBITMQ_ADMIN_PASSWORD" = "$RABBITMQ_PASSWORD" ]; then
  echo "start.sh: RABBITMQ_ADMIN_PASSWORD must differ from RABBITMQ_PASSWORD (the services')" >&2
  exit 1
fi

umask 077
mkdir -p "$DEFS_DIR"
# Root's (the tmpfs comes up 1777): the broker may read the file, not replace it.
if [ "$(id -u)" = 0 ]; then chown root:root "$DEFS_DIR"; fi
chmod 0755 "$DEFS_DIR"
tmp="$(mktemp "$DEFS_DIR/.definitions.XXXXXX")"
cat >"$tmp" <<EOF
{
  "users": [
    {"name": "admin", "password": "$admin_password", "tags": "administrator"},
    {"name": "registration", "password": "$app_password", "tags": ""}
  ],
  "vhosts": [{"name": "/"}],
  "permissions": [
    {"user": "admin", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"},
    {"user": "registration", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
  ]
}
EOF
# The image's entrypoint starts the broker as the rabbitmq user (when it starts as root).
if [ "$(id -u)" = 0 ]; then chown rabbitmq:rabbitmq "$tmp"; fi
mv -f "$tmp" "$DEFS"
unset RABBITMQ_ADMIN_PASSWORD RABBITMQ_PASSWORD admin_password app_password

exec docker-entrypoint.sh rabbitmq-server
