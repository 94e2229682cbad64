-- The patient's journey: sessions with rotating refresh tokens, password
-- reset tokens, the notification kinds that tell of them, and an outbox for
-- the events intake-api must not lose once its transaction commits.

-- One row per login. Access tokens carry the session's id and generation:
-- they are accepted only while the session is unrevoked and at that
-- generation, so a logout or a password change voids them at once. A
-- password change keeps the changing session but bumps its generation.
-- No foreign key to patients: a token whose patient is gone reaches the
-- route, which answers for that itself (the profile's documented 404).
CREATE TABLE sessions (
    id             UUID PRIMARY KEY,
    patient_id     UUID NOT NULL,
    generation     INTEGER NOT NULL DEFAULT 0,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- When the newest refresh token of the session expires.
    expires_at     TIMESTAMPTZ NOT NULL,
    revoked_at     TIMESTAMPTZ,
    revoked_reason TEXT CHECK (revoked_reason IN
        ('logout', 'refresh_token_reuse', 'password_reset', 'password_change', 'superseded')),
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE INDEX sessions_patient_live ON sessions (patient_id, created_at) WHERE revoked_at IS NULL;
-- The sweeper deletes ended sessions (their refresh tokens with them).
CREATE INDEX sessions_ended ON sessions (COALESCE(revoked_at, expires_at));

-- Only the SHA-256 of a refresh token is stored. A rotated token keeps its
-- row (`rotated_at`): presenting it again is reuse, and revokes its session.
CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    session_id UUID NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    rotated_at TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Issued by the notification worker (which emails them), used by intake-api.
-- A new one revokes the patient's earlier unused ones.
CREATE TABLE password_reset_tokens (
    token_hash BYTEA PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    patient_id UUID NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX password_reset_tokens_patient ON password_reset_tokens (patient_id);
CREATE INDEX password_reset_tokens_expiry ON password_reset_tokens (expires_at);

ALTER TABLE notification_deliveries DROP CONSTRAINT notification_deliveries_kind_check;
ALTER TABLE notification_deliveries ADD CONSTRAINT notification_deliveries_kind_check
    CHECK (kind IN ('email_verification', 'password_reset', 'password_changed'));

-- Events written in the transaction that makes them true, published after
-- it commits (at once, and by a relay if that first try failed), deleted
-- once the broker confirmed them. Only ids travel (see shared::messages).
CREATE TABLE outbox (
    event_id   UUID PRIMARY KEY,
    event      JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX outbox_created ON outbox (created_at);

ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check CHECK (action IN (
    'registration', 'login', 'email_verification',
    'verification_resend', 'profile_read',
    'admin_partner_create', 'admin_partner_list', 'admin_partner_revoke',
    'admin_dlq_list', 'admin_dlq_replay', 'admin_reseal_phi',
    'registration_status_read', 'partner_authentication',
    'password_reset_request', 'password_reset', 'password_change',
    'token_refresh', 'logout'));
