-- The audit trail has no holes (HIPAA 164.312(b)): status reads (they show
-- contact details) and refused partner keys are audited too. (Refused
-- profile reads, idempotent replays and lockouts reuse the `profile_read`,
-- `registration` and `login` actions with their own outcomes.)
ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check CHECK (action IN (
    'registration', 'login', 'email_verification',
    'verification_resend', 'profile_read',
    'admin_partner_create', 'admin_partner_list', 'admin_partner_revoke',
    'admin_dlq_list', 'admin_dlq_replay', 'admin_reseal_phi',
    'registration_status_read', 'partner_authentication'));
