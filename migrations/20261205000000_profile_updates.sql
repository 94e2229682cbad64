-- Profile changes (PATCH /api/v1/patient/profile/{patient_id}): each is
-- audited with the names of the fields it changed, never their values.
-- The names come from a fixed set, so the column is bounded.
ALTER TABLE audit_log ADD COLUMN fields TEXT[] CHECK (
    fields <@ ARRAY['first_name', 'last_name', 'phone_number', 'date_of_birth', 'gender',
                    'address', 'emergency_contact', 'medical_history', 'insurance_info']::TEXT[]);

-- The full list again, with the profile change.
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
    'profile_update'));
