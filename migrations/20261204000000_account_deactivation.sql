-- Account deactivation (DELETE /api/v1/patient/profile/{patient_id}, and
-- `admin patient deactivate|reactivate`). The patient's row is kept, only
-- `is_active` turns false: medical records must be retained, so nothing is
-- deleted. A deactivation ends every session of the patient (its own
-- revocation reason) and emails the patient a notice (its own delivery kind).

ALTER TABLE sessions DROP CONSTRAINT sessions_revoked_reason_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_revoked_reason_check CHECK (revoked_reason IN
    ('logout', 'refresh_token_reuse', 'password_reset', 'password_change', 'superseded',
     'deactivation'));

ALTER TABLE notification_deliveries DROP CONSTRAINT notification_deliveries_kind_check;
ALTER TABLE notification_deliveries ADD CONSTRAINT notification_deliveries_kind_check
    CHECK (kind IN ('email_verification', 'password_reset', 'password_changed',
                    'account_deactivated'));

-- The full list again, with the patient's own deactivation and the
-- operator's commands.
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
    'account_deactivate', 'admin_patient_deactivate', 'admin_patient_reactivate'));
