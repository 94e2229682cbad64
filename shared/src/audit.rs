//! The audit trail: one append-only row per registration outcome, login
//! attempt, email verification, resend and profile read. Only ids, an
//! action, an outcome and the client address: never a secret or PHI.

use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Registration,
    Login,
    EmailVerification,
    VerificationResend,
    ProfileRead,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Login => "login",
            Self::EmailVerification => "email_verification",
            Self::VerificationResend => "verification_resend",
            Self::ProfileRead => "profile_read",
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
