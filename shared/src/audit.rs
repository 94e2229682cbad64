//! The audit trail: one append-only row per registration outcome, login
//! attempt, email verification, resend and profile read, and for every
//! operator command. Only ids, an action, an outcome and the client address
//! (or the operator's account and host): never a secret or PHI.

use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Registration,
    Login,
    EmailVerification,
    VerificationResend,
    ProfileRead,
    /// A patient changed their profile; the row names the fields changed.
    ProfileUpdate,
    /// A patient asked for a phone verification code (`sent`, `too_many`…).
    PhoneVerificationRequest,
    /// A patient checked a phone verification code.
    PhoneVerificationConfirm,
    /// A patient asked to change their email address (`sent`, `email_taken`…).
    EmailChangeRequest,
    /// The link sent to the new address used (`success`, `email_taken`…).
    EmailChangeConfirm,
    /// Operator commands (`admin ...`), written with [`record_operator`].
    AdminPartnerCreate,
    AdminPartnerList,
    AdminPartnerRevoke,
    AdminDlqList,
    AdminDlqReplay,
    AdminResealPhi,
    /// A poll of a registration's status (it shows contact details).
    RegistrationStatusRead,
    /// A partner key refused (unknown, revoked, or required and missing).
    PartnerAuthentication,
    /// forgot-password: a reset email asked for (sent or not applicable).
    PasswordResetRequest,
    /// A password set through a reset token.
    PasswordReset,
    /// A password changed by the logged-in patient.
    PasswordChange,
    /// A refresh token exchanged (or refused, or reused).
    TokenRefresh,
    /// A session ended by its patient.
    Logout,
    /// A partner's webhook endpoints and deliveries, through the API.
    WebhookEndpointCreate,
    WebhookEndpointDelete,
    WebhookSecretRotate,
    WebhookDeliveryRetry,
    /// A partner listed its own registrations.
    PartnerRegistrationsList,
    /// The same through `admin webhook ...`.
    AdminWebhookCreate,
    AdminWebhookList,
    AdminWebhookDelete,
    AdminWebhookRotate,
    AdminWebhookRetry,
    /// A batch submitted again with its Idempotency-Key: the first answer
    /// given again (the batch's id as the request id).
    RegistrationBatchReplay,
    /// A partner read one of its batches (the batch's id as the request id).
    RegistrationBatchRead,
    /// A patient deactivated their own account (with their password).
    AccountDeactivate,
    /// `admin patient deactivate|reactivate`.
    AdminPatientDeactivate,
    AdminPatientReactivate,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Login => "login",
            Self::EmailVerification => "email_verification",
            Self::VerificationResend => "verification_resend",
            Self::ProfileRead => "profile_read",
            Self::ProfileUpdate => "profile_update",
            Self::PhoneVerificationRequest => "phone_verification_request",
            Self::PhoneVerificationConfirm => "phone_verification_confirm",
            Self::EmailChangeRequest => "email_change_request",
            Self::EmailChangeConfirm => "email_change_confirm",
            Self::AdminPartnerCreate => "admin_partner_create",
            Self::AdminPartnerList => "admin_partner_list",
            Self::AdminPartnerRevoke => "admin_partner_revoke",
            Self::AdminDlqList => "admin_dlq_list",
            Self::AdminDlqReplay => "admin_dlq_replay",
            Self::AdminResealPhi => "admin_reseal_phi",
            Self::RegistrationStatusRead => "registration_status_read",
            Self::PartnerAuthentication => "partner_authentication",
            Self::PasswordResetRequest => "password_reset_request",
            Self::PasswordReset => "password_reset",
            Self::PasswordChange => "password_change",
            Self::TokenRefresh => "token_refresh",
            Self::Logout => "logout",
            Self::WebhookEndpointCreate => "webhook_endpoint_create",
            Self::WebhookEndpointDelete => "webhook_endpoint_delete",
            Self::WebhookSecretRotate => "webhook_secret_rotate",
            Self::WebhookDeliveryRetry => "webhook_delivery_retry",
            Self::PartnerRegistrationsList => "partner_registrations_list",
            Self::AdminWebhookCreate => "admin_webhook_create",
            Self::AdminWebhookList => "admin_webhook_list",
            Self::AdminWebhookDelete => "admin_webhook_delete",
            Self::AdminWebhookRotate => "admin_webhook_rotate",
            Self::AdminWebhookRetry => "admin_webhook_retry",
            Self::RegistrationBatchReplay => "registration_batch_replay",
            Self::RegistrationBatchRead => "registration_batch_read",
            Self::AccountDeactivate => "account_deactivate",
            Self::AdminPatientDeactivate => "admin_patient_deactivate",
            Self::AdminPatientReactivate => "admin_patient_reactivate",
        }
    }
}

/// One audit row.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub action: Action,
    /// A short snake_case word: `success`, `invalid_credentials`, `rejected`…
    pub outcome: &'static str,
    pub patient_id: Option<Uuid>,
    pub request_id: Option<Uuid>,
    pub client_addr: Option<&'a str>,
}

/// Writes the row. An audit failure is logged, not hidden: callers decide
/// whether the action may go on without it.
pub async fn record(db: &PgPool, entry: &Entry<'_>) -> sqlx::Result<()> {
    let written = sqlx::query(
        "INSERT INTO audit_log (action, outcome, patient_id, request_id, client_addr) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(entry.action.as_str())
    .bind(entry.outcome)
    .bind(entry.patient_id)
    .bind(entry.request_id)
    .bind(entry.client_addr)
    .execute(db)
    .await
    .map(drop);
    if let Err(e) = &written {
        tracing::error!(error = %e, action = entry.action.as_str(), "could not write an audit row");
    }
    written
}

/// Writes a row that names the fields a change touched (never their
/// values), in the transaction that makes the change: the change and its
/// trace commit together or not at all.
pub async fn record_changes(
    tx: &mut sqlx::PgConnection,
    entry: &Entry<'_>,
    fields: &[&str],
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (action, outcome, patient_id, request_id, client_addr, fields) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(entry.action.as_str())
    .bind(entry.outcome)
    .bind(entry.patient_id)
    .bind(entry.request_id)
    .bind(entry.client_addr)
    .bind(fields)
    .execute(tx)
    .await
    .map(drop)
}

/// Who ran an operator command, as the operating system knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The account, e.g. `alice`, or `alice via sudo as root`.
    pub user: String,
    pub host: String,
}

/// Writes the row of an operator command: which command, its outcome, and
/// who ran it on which machine (and the patient, for a command about one).
/// `run_id`, kept as the request id, ties together the rows of one run. A failure is returned, not logged: an
/// operator command stops and says so itself, in one line.
pub async fn record_operator(
    db: &PgPool,
    action: Action,
    outcome: &'static str,
    run_id: Uuid,
    patient_id: Option<Uuid>,
    operator: &Operator,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (action, outcome, request_id, patient_id, operator_user, operator_host) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(action.as_str())
    .bind(outcome)
    .bind(run_id)
    .bind(patient_id)
    .bind(&operator.user)
    .bind(&operator.host)
    .execute(db)
    .await
    .map(drop)
}
