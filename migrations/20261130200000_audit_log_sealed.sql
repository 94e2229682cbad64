-- An audit trail with no holes (HIPAA 164.312(b)): rows can be added,
-- never changed or removed, by any path, and operator commands are
-- audited with who ran them where.

-- TRUNCATE fires no row trigger, so the append-only trigger of
-- 20261121000002 never saw it: refuse it with a statement trigger, for
-- every role, the owner and superusers included. (Only the owner can
-- disable a trigger; the services never connect as the owner.)
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();

-- Privileges say it too, so that the triggers are a second wall and not
-- the only one. The services' role gets its table privileges through
-- default privileges (scripts/postgres/privileges.sql), which grant it
-- UPDATE and DELETE on every table the migrations create, audit_log
-- included. Here every role but the owner is left with INSERT on the
-- trail and nothing else: not UPDATE, DELETE or TRUNCATE; not TRIGGER (a
-- BEFORE INSERT trigger could swallow rows) nor REFERENCES; not SELECT
-- (who read which patient's record is itself confidential: auditors are
-- granted it by name). And with nothing at all on sqlx's
-- _sqlx_migrations, whose rows decide which migrations (this one
-- included) are applied.
DO $$
DECLARE
    target RECORD;
BEGIN
    FOR target IN
        SELECT DISTINCT c.oid::regclass AS tbl, acl.grantee
        FROM pg_class c, aclexplode(c.relacl) acl
        WHERE c.oid IN ('audit_log'::regclass, to_regclass('_sqlx_migrations'))
          AND acl.grantee <> c.relowner
    LOOP
        EXECUTE format('REVOKE %s ON %s FROM %s',
            CASE WHEN target.tbl = 'audit_log'::regclass
                 THEN 'SELECT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'
                 ELSE 'ALL' END,
            target.tbl,
            CASE WHEN target.grantee = 0 THEN 'PUBLIC' ELSE target.grantee::regrole::text END);
    END LOOP;
END;
$$;

-- Who ran an operator command (`admin`), as the operating system knows
-- them: the account and the machine. Set on operator rows, and only there.
ALTER TABLE audit_log
    ADD COLUMN operator_user TEXT CHECK (char_length(operator_user) BETWEEN 1 AND 256),
    ADD COLUMN operator_host TEXT CHECK (char_length(operator_host) BETWEEN 1 AND 256),
    ADD CONSTRAINT audit_log_operator_rows CHECK (
        (operator_user IS NOT NULL) = starts_with(action, 'admin_')
        AND (operator_host IS NOT NULL) = starts_with(action, 'admin_'));

-- One action per operator command. The list is the earlier one plus these.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check CHECK (action IN (
    'registration', 'login', 'email_verification',
    'verification_resend', 'profile_read',
    'admin_partner_create', 'admin_partner_list', 'admin_partner_revoke',
    'admin_dlq_list', 'admin_dlq_replay', 'admin_reseal_phi'));
