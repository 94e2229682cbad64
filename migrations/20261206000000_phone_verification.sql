-- Phone verification: POST /api/v1/patient/phone/verification asks for a
-- code (intake-api writes the row, at most 3 an hour per patient, and
-- stages the event); the notification worker draws the six digits, keeps
-- only their keyed hash (HMAC under a key derived from the PHI key, bound to
-- the row) and sends them by SMS; /phone/verification/confirm checks a code
-- at most 5 times. The number a code was sent to is kept with it: a code
-- verifies that number only.
CREATE TABLE phone_verification_codes (
    id           UUID PRIMARY KEY,
    patient_id   UUID NOT NULL REFERENCES patients (id),
    phone_number TEXT NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set when the code is drawn (and drawn again if the SMS had to be
    -- sent again): the key's id and the hash.
    code_kid     TEXT,
    code_hash    BYTEA CHECK (octet_length(code_hash) = 32),
    expires_at   TIMESTAMPTZ,
    checks       INTEGER NOT NULL DEFAULT 0 CHECK (checks BETWEEN 0 AND 5),
    used_at      TIMESTAMPTZ,
    -- A newer request (or a used code) ends the earlier ones.
    revoked_at   TIMESTAMPTZ,
    CHECK ((code_hash IS NULL) = (code_kid IS NULL) AND (code_hash IS NULL) = (expires_at IS NULL))
);
CREATE INDEX phone_verification_codes_patient
    ON phone_verification_codes (patient_id, requested_at DESC);

ALTER TABLE notification_deliveries DROP CONSTRAINT notification_deliveries_kind_check;
ALTER TABLE notification_deliveries ADD CONSTRAINT notification_deliveries_kind_check
    CHECK (kind IN ('email_verification', 'password_reset', 'password_changed',
                    'account_deactivated', 'phone_verification'));

-- The full list again, with phone verification.
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
    'registration_batch_replay', 'registration_batch_read',
    'account_deactivate', 'admin_patient_deactivate', 'admin_patient_reactivate',
    'profile_update',
    'phone_verification_request', 'phone_verification_confirm'));
