-- Email change: POST /api/v1/patient/change-email (with the password)
-- writes a pending change (intake-api, at most 3 an hour per patient, under
-- the patient's row lock) and stages its event, whose id is the row's. The
-- notification worker, under its delivery claim, draws the token, keeps only
-- its SHA-256 here, emails the link to the new address and a notice to the
-- old one. The address changes only when the link is confirmed, and only if
-- it is still free then: patients_email_key decides a race with a
-- registration or another change.
CREATE TABLE email_changes (
    id           UUID PRIMARY KEY,
    patient_id   UUID NOT NULL REFERENCES patients (id),
    -- As patients.email stores it: trimmed, lowercased, at most 254
    -- characters (the SMTP path limit), checked by shared::domain::Email.
    new_email    TEXT NOT NULL CHECK (
        char_length(new_email) BETWEEN 3 AND 254 AND new_email = lower(btrim(new_email))),
    requested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set by the worker when it issues the link (and again if the email had
    -- to be sent again: only the latest link works).
    token_hash   BYTEA UNIQUE CHECK (octet_length(token_hash) = 32),
    expires_at   TIMESTAMPTZ,
    used_at      TIMESTAMPTZ,
    -- A newer request, or a confirmed change, ends the earlier ones.
    revoked_at   TIMESTAMPTZ,
    CHECK ((token_hash IS NULL) = (expires_at IS NULL)),
    CHECK (used_at IS NULL OR token_hash IS NOT NULL)
);
CREATE INDEX email_changes_patient ON email_changes (patient_id, requested_at DESC);

-- The full list again, with the two emails of an email change: the link to
-- the new address and the notice to the old one.
ALTER TABLE notification_deliveries DROP CONSTRAINT notification_deliveries_kind_check;
ALTER TABLE notification_deliveries ADD CONSTRAINT notification_deliveries_kind_check
    CHECK (kind IN ('email_verification', 'password_reset', 'password_changed',
                    'account_deactivated', 'phone_verification',
                    'email_change', 'email_change_notice'));

-- The full list again, with the email change.
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
    'phone_verification_request', 'phone_verification_confirm',
    'email_change_request', 'email_change_confirm'));

-- A confirmed change ends every session of the patient (its own reason):
-- a change confirmed by the wrong hands strands no one signed in.
ALTER TABLE sessions DROP CONSTRAINT sessions_revoked_reason_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_revoked_reason_check CHECK (revoked_reason IN
    ('logout', 'refresh_token_reuse', 'password_reset', 'password_change', 'superseded',
     'deactivation', 'email_change'));
