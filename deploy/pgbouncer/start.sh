#!/bin/sh
# The pgbouncer service's entrypoint in docker-compose.multihost.yml. The image's own would
# write a configuration from environment variables; this one runs pgbouncer.ini as it is.
#
# auth_file lists one user, pgbouncer_auth (the auth_user that runs auth_query), with the
# password from PGBOUNCER_AUTH_PASSWORD. It goes to /tmp, a tmpfs (the root filesystem is
# read-only), readable by PgBouncer's user only, and the variable is not passed on.
set -eu
: "${PGBOUNCER_AUTH_PASSWORD:?PGBOUNCER_AUTH_PASSWORD is not set}"
umask 077
# In auth_file a double quote inside a quoted field is written twice.
escaped="$(printf '%s' "$PGBOUNCER_AUTH_PASSWORD" | sed 's/"/""/g')"
printf '"pgbouncer_auth" "%s"\n' "$escaped" >/tmp/userlist.txt
unset PGBOUNCER_AUTH_PASSWORD escaped
exec pgbouncer "$(dirname "$0")/pgbouncer.ini"
