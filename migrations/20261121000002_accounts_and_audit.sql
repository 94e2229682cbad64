-- Patient accounts: login lockout, token revocation, and an append-only
-- audit trail of every access to PHI and every authentication event.

-- A resend revokes the earlier tokens of a patient; only the newest works.
ALTER TABLE email_verification_tokens ADD COLUMN revoked_at TIMESTAMPTZ;

-- Where a registration came from, for its audit row (never shown to clients).
ALTER TABLE registration_requests ADD COLUMN client_addr TEXT;

-- Failed logins per email, for the lockout. Keyed by the SHA-256 of the
-- lowercased email so that unknown emails are counted the same way as
-- known ones, without storing the address itself.
CREATE TABLE login_failures (
    email_hash   BYTEA NOT NULL CHECK (octet_length(email_hash) = 32),
    attempted_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX login_failures_by_email ON login_failures (email_hash, attempted_at DESC);

-- The audit trail: when, what, which patient, from where, with what
-- outcome. Never a secret, a token or PHI.
CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    occurred_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    action      TEXT NOT NULL CHECK (action IN (
                    'registration', 'login', 'email_verification',
                    'verification_resend', 'profile_read')),
    patient_id  UUID,
    request_id  UUID,
    client_addr TEXT,
    outcome     TEXT NOT NULL CHECK (outcome ~ '^[a-z_]+$')
);

CREATE INDEX audit_log_by_patient ON audit_log (patient_id, occurred_at);

-- Append-only from the application's side: rows can be added, never
-- changed or removed (retention is an operator's job, as another role).
CREATE FUNCTION audit_log_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
