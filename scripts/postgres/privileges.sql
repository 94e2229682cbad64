-- Who may do what in one registration database, for the two roles that
-- scripts/services creates (cluster-wide, each with its password):
--   registration_owner  owns the schema and applies the migrations
--                       (DATABASE_MIGRATION_URL);
--   registration_app    what the services connect as (DATABASE_URL): rows
--                       read, written and deleted, never the schema, and on
--                       the audit trail INSERT only.
-- Run as a superuser, connected to that database. Idempotent: scripts/services
-- runs it on every `up`. Plain SQL without psql variables, so that any client
-- (a test harness through sqlx, say) can run it on a database of its own.

-- Only the owner creates objects (PostgreSQL 15's default, stated for older ones).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO registration_owner;
GRANT USAGE ON SCHEMA public TO registration_app;

-- What migrations applied as a superuser created passes to the owner, so that
-- its own migrations can alter it later. A serial column's sequence and a
-- table's indexes and row type follow their table.
DO $$
DECLARE
    object RECORD;
BEGIN
    FOR object IN
        SELECT c.oid::regclass AS name,
               CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                              WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind
        FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace
          AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND c.relowner <> 'registration_owner'::regrole
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO registration_owner', object.kind, object.name);
    END LOOP;
    FOR object IN
        SELECT c.oid::regclass AS name FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S'
          AND c.relowner <> 'registration_owner'::regrole
    LOOP
        EXECUTE format('ALTER SEQUENCE %s OWNER TO registration_owner', object.name);
    END LOOP;
    FOR object IN
        SELECT p.oid::regprocedure AS name FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace
          AND p.proowner <> 'registration_owner'::regrole
    LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO registration_owner', object.name);
    END LOOP;
    FOR object IN
        SELECT t.oid::regtype AS name, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END AS kind
        FROM pg_type t
        WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e', 'd')
          AND t.typowner <> 'registration_owner'::regrole
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO registration_owner', object.kind, object.name);
    END LOOP;
END;
$$;

-- What the services may do: on the tables and sequences there are now, and by
-- default on those that migrations create later, whether the owner or a
-- superuser (the role running this) applies them.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO registration_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO registration_app;
ALTER DEFAULT PRIVILEGES FOR ROLE registration_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO registration_app;
ALTER DEFAULT PRIVILEGES FOR ROLE registration_owner IN SCHEMA public
    GRANT USAGE ON SEQUENCES TO registration_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO registration_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE ON SEQUENCES TO registration_app;

-- Except where the migrations say otherwise (20261130200000_audit_log_sealed
-- does this for a database it migrates; here for one it has already
-- migrated, once the grants above have run again): the audit trail takes
-- rows and gives nothing back, and sqlx's bookkeeping is the owner's alone.
DO $$
BEGIN
    IF to_regclass('audit_log') IS NOT NULL THEN
        REVOKE ALL ON audit_log FROM registration_app;
        GRANT INSERT ON audit_log TO registration_app;
    END IF;
    IF to_regclass('_sqlx_migrations') IS NOT NULL THEN
        REVOKE ALL ON _sqlx_migrations FROM registration_app;
    END IF;
END;
$$;
