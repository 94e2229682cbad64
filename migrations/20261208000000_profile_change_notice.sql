-- A profile change (PATCH /api/v1/patient/profile/{patient_id}) emails the
-- patient a notice naming the changed fields: its own delivery kind.
ALTER TABLE notification_deliveries DROP CONSTRAINT notification_deliveries_kind_check;
ALTER TABLE notification_deliveries ADD CONSTRAINT notification_deliveries_kind_check
    CHECK (kind IN ('email_verification', 'password_reset', 'password_changed',
                    'account_deactivated', 'phone_verification',
                    'email_change', 'email_change_notice', 'profile_changed'));
