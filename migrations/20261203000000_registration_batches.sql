-- Registration batches: POST /api/v1/patient/registration-batches takes up
-- to 500 registrations at once. Each valid item becomes an ordinary
-- registration request (pending, published, settled by the worker); each
-- invalid one is answered inline with its field errors. Everything needed
-- to give the same answer again (a replay with the same Idempotency-Key)
-- and to report the batch's progress is kept here: ids, the partner's own
-- item references and field error messages, never a registration's values.

CREATE TABLE registration_batches (
    id         UUID PRIMARY KEY,
    partner_id UUID NOT NULL REFERENCES partners (id),
    total      INTEGER NOT NULL CHECK (total BETWEEN 1 AND 500),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every item in the order it was sent: an accepted one points at its
-- request, an invalid one holds its field errors (as a 422 would carry them).
-- `client_ref` is the partner's own reference, unique within its batch,
-- 1 to 100 printable ASCII characters (checked by intake-api as well).
CREATE TABLE registration_batch_items (
    batch_id   UUID NOT NULL REFERENCES registration_batches (id),
    position   INTEGER NOT NULL CHECK (position BETWEEN 0 AND 499),
    client_ref TEXT NOT NULL CHECK (client_ref ~ '^[\x20-\x7E]{1,100}$' AND btrim(client_ref) <> ''),
    request_id UUID UNIQUE REFERENCES registration_requests (id),
    errors     JSONB,
    PRIMARY KEY (batch_id, position),
    UNIQUE (batch_id, client_ref),
    CHECK ((request_id IS NULL) = (errors IS NOT NULL))
);

-- A request knows its batch, so that whoever handles its outcome (the
-- webhook fan-out) can tell whether it was the batch's last one: a probe of
-- this partial index, not a scan of the batch.
ALTER TABLE registration_requests ADD COLUMN batch_id UUID REFERENCES registration_batches (id);
CREATE INDEX registration_requests_batch_pending
    ON registration_requests (batch_id) WHERE batch_id IS NOT NULL AND status = 'pending';

-- A batch's Idempotency-Key (scope `batch:<partner id>`, apart from the
-- single registrations' keys) ends `accepted` with its batch instead of a
-- request.
ALTER TABLE idempotency_keys ADD COLUMN batch_id UUID REFERENCES registration_batches (id);
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_check;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_check CHECK (
    (status = 'accepted') = (request_id IS NOT NULL OR batch_id IS NOT NULL)
    AND (request_id IS NULL OR batch_id IS NULL));

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
    'admin_webhook_rotate', 'admin_webhook_retry',
    'registration_batch_replay', 'registration_batch_read'));
