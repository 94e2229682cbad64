-- Partners at volume: when a request settled (the status URL's contact
-- details expire after it), the partner's own listing, webhook endpoints,
-- their deliveries and every attempt.

ALTER TABLE registration_requests ADD COLUMN settled_at TIMESTAMPTZ;
-- The backfill leaves updated_at as it was (the status URL shows it).
-- The backfill changes no status: nobody is notified either.
ALTER TABLE registration_requests DISABLE TRIGGER registration_requests_updated_at;
ALTER TABLE registration_requests DISABLE TRIGGER registration_requests_notify;
UPDATE registration_requests SET settled_at = updated_at WHERE status <> 'pending';
ALTER TABLE registration_requests ENABLE TRIGGER registration_requests_updated_at;
ALTER TABLE registration_requests ENABLE TRIGGER registration_requests_notify;

CREATE FUNCTION set_settled_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status <> 'pending' AND OLD.status = 'pending' THEN
        NEW.settled_at := now();
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER registration_requests_settled_at BEFORE UPDATE ON registration_requests
    FOR EACH ROW EXECUTE FUNCTION set_settled_at();

-- GET /api/v1/partner/registrations: newest first, keyset pagination.
CREATE INDEX registration_requests_partner_newest
    ON registration_requests (partner_id, created_at DESC, id DESC) WHERE partner_id IS NOT NULL;

-- A partner's endpoints (at most WEBHOOK_MAX_ENDPOINTS each, enforced by
-- intake-api). Secrets are sealed with the PHI keyring, bound to the row's
-- id; after a rotation the previous secret also signs until it expires.
CREATE TABLE webhook_endpoints (
    id                         UUID PRIMARY KEY,
    partner_id                 UUID NOT NULL REFERENCES partners (id),
    url                        TEXT NOT NULL CHECK (char_length(url) BETWEEN 8 AND 2048),
    event_types                TEXT[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 5),
    secret                     JSONB NOT NULL CHECK (secret ?& ARRAY['kid', 'nonce', 'ct']),
    previous_secret            JSONB CHECK (previous_secret IS NULL OR previous_secret ?& ARRAY['kid', 'nonce', 'ct']),
    previous_secret_expires_at TIMESTAMPTZ,
    created_at                 TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Since when every attempt has failed (NULL after a success).
    failing_since              TIMESTAMPTZ,
    -- Disabled after failing for WEBHOOK_DISABLE_AFTER; deleted by its partner.
    disabled_at                TIMESTAMPTZ,
    deleted_at                 TIMESTAMPTZ
);
CREATE INDEX webhook_endpoints_partner ON webhook_endpoints (partner_id) WHERE deleted_at IS NULL;

-- One delivery per (event, endpoint): its id is the `webhook-id` of every
-- attempt. The payload holds ids, status and field errors only.
CREATE TABLE webhook_deliveries (
    id            UUID PRIMARY KEY,
    endpoint_id   UUID NOT NULL REFERENCES webhook_endpoints (id),
    partner_id    UUID NOT NULL REFERENCES partners (id),
    event_id      UUID NOT NULL,
    event_type    TEXT NOT NULL,
    payload       JSONB NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_attempt_at TIMESTAMPTZ,
    delivered_at  TIMESTAMPTZ,
    failed_at     TIMESTAMPTZ,
    UNIQUE (event_id, endpoint_id)
);
-- The partner's listing, newest first, with and without a status filter.
CREATE INDEX webhook_deliveries_partner_newest ON webhook_deliveries (partner_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_partner_status ON webhook_deliveries (partner_id, status, created_at DESC, id DESC);

-- Every attempt: when, the HTTP status (NULL when none came back), how
-- long it took, and a short error class. Never the body.
CREATE TABLE webhook_attempts (
    id           BIGSERIAL PRIMARY KEY,
    delivery_id  UUID NOT NULL REFERENCES webhook_deliveries (id),
    attempt      INTEGER NOT NULL,
    attempted_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    status_code  INTEGER,
    latency_ms   INTEGER NOT NULL,
    error        TEXT CHECK (char_length(error) <= 200)
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id);

ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check CHECK (action IN (
    'registration', 'login', 'email_verification',
    'verification_resend', 'profile_read',
    'admin_partner_create', 'admin_partner_list', 'admin_partner_revoke',
    'admin_dlq_list', 'admin_dlq_replay', 'admin_reseal_phi',
    'registration_status_read', 'partner_authentication',
    'password_reset_request', 'password_reset', 'password_change',
    'token_refresh', 'logout',
    'webhook_endpoint_create', 'webhook_endpoint_delete', 'webhook_secret_rotate',
    'webhook_delivery_retry', 'partner_registrations_list',
    'admin_webhook_create', 'admin_webhook_list', 'admin_webhook_delete',
    'admin_webhook_rotate', 'admin_webhook_retry'));
