#!/bin/sh
# The roles of docker-compose.multihost.yml's database, made once: the postgres image runs
# /docker-entrypoint-initdb.d/ only when it initialises an empty data directory, this file
# first, then 20-privileges.sql (scripts/postgres/privileges.sql, as scripts/services does).
#
#   registration_owner  owns the schema and applies the migrations
#                       (DATABASE_MIGRATION_URL, straight to postgres:5432)
#   registration_app    what the services run as (DATABASE_URL through PgBouncer,
#                       DATABASE_LISTEN_URL straight to postgres:5432)
#   pgbouncer_auth      PgBouncer's auth_user: may only call pgbouncer.get_auth() in the
#                       postgres database, which hands PgBouncer registration_app's SCRAM
#                       verifier (and nobody else's) so that it can check the services'
#                       logins; the application's database holds nothing of PgBouncer's
#
# Passwords come from the environment (PG_OWNER_PASSWORD, PG_APP_PASSWORD,
# PGBOUNCER_AUTH_PASSWORD) and reach psql as variables, never spliced into SQL by the shell.
# A data directory initialised earlier keeps its roles and passwords: to change one later,
# ALTER ROLE ... PASSWORD as postgres (docker compose exec -u postgres postgres psql).
#
# The image runs this as the postgres OS user over the Unix socket (peer, pg_hba.conf), and
# sources it instead when it is not executable: hence no `exit` and no shell options the
# entrypoint would not want.
set -e
: "${PG_OWNER_PASSWORD:?PG_OWNER_PASSWORD is not set}"
: "${PG_APP_PASSWORD:?PG_APP_PASSWORD is not set}"
: "${PGBOUNCER_AUTH_PASSWORD:?PGBOUNCER_AUTH_PASSWORD is not set}"

psql -X -q -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v owner_password="$PG_OWNER_PASSWORD" \
  -v app_password="$PG_APP_PASSWORD" \
  -v auth_password="$PGBOUNCER_AUTH_PASSWORD" <<'SQL'
CREATE ROLE registration_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'owner_password';
CREATE ROLE registration_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'app_password';
CREATE ROLE pgbouncer_auth LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'auth_password';

-- In the postgres database: a schema of PgBouncer's own, closed to everyone else.
CREATE SCHEMA pgbouncer;
REVOKE ALL ON SCHEMA pgbouncer FROM PUBLIC;
GRANT USAGE ON SCHEMA pgbouncer TO pgbouncer_auth;

-- PgBouncer's auth_query. SECURITY DEFINER (owned by the superuser) so that pgbouncer_auth
-- reads one row of pg_authid without being able to read the table; a fixed search_path so
-- that nothing the caller creates can stand in for the catalog.
CREATE FUNCTION pgbouncer.get_auth(p_username text)
RETURNS TABLE (username text, password text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT rolname::text, rolpassword
    FROM pg_catalog.pg_authid
    WHERE rolname = p_username
      AND rolname = 'registration_app'
      AND rolcanlogin
      AND (rolvaliduntil IS NULL OR rolvaliduntil > now())
$$;
REVOKE ALL ON FUNCTION pgbouncer.get_auth(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbouncer.get_auth(text) TO pgbouncer_auth;
SQL
