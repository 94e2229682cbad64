//! What the notification worker reads and writes in Postgres.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// Who holds an event.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// This worker may send now.
    Mine,
    /// Another worker holds it; its lease runs out after this long unless
    /// it is alive to renew it.
    Busy(std::time::Duration),
    /// Sent before: nothing to do.
    Sent,
}

/// How long a claim outlives its holder's last renewal. Holders renew
/// every [`RENEW_EVERY`], so only a dead holder's claim ever expires.
const LEASE: &str = "15 seconds";
pub const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// What an email is about (`notification_deliveries.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryKind {
    EmailVerification,
    PasswordReset,
    PasswordChanged,
    AccountDeactivated,
    PhoneVerification,
    /// The link to an email change's new address.
    EmailChange,
    ProfileChanged,
    /// The notice of an email change to the current address.
    EmailChangeNotice,
}

impl DeliveryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmailVerification => "email_verification",
            Self::PasswordReset => "password_reset",
            Self::PasswordChanged => "password_changed",
            Self::AccountDeactivated => "account_deactivated",
            Self::PhoneVerification => "phone_verification",
            Self::EmailChange => "email_change",
            Self::ProfileChanged => "profile_changed",
            Self::EmailChangeNotice => "email_change_notice",
        }
    }
}

/// Claims an event for sending: a new event, one this process already
/// holds, or one whose holder stopped renewing its lease.
pub async fn claim(
    db: &PgPool,
    event_id: Uuid,
    patient_id: Uuid,
    kind: DeliveryKind,
    holder: Uuid,
) -> sqlx::Result<Claim> {
    let claimed: Option<Uuid> = sqlx::query_scalar(&format!(
        "INSERT INTO notification_deliveries (event_id, patient_id, kind, status, holder) \
         VALUES ($1, $2, $3, 'sending', $4) \
         ON CONFLICT (event_id) DO UPDATE SET claimed_at = now(), holder = EXCLUDED.holder \
         WHERE notification_deliveries.status = 'sending' \
           AND (notification_deliveries.holder = EXCLUDED.holder \
                OR notification_deliveries.claimed_at < now() - interval '{LEASE}') \
         RETURNING event_id"
    ))
    .bind(event_id)
    .bind(patient_id)
    .bind(kind.as_str())
    .bind(holder)
    .fetch_optional(db)
    .await?;
    if claimed.is_some() {
        return Ok(Claim::Mine);
    }
    let (status, lease_left): (String, f64) = sqlx::query_as(&format!(
        "SELECT status, GREATEST(EXTRACT(EPOCH FROM claimed_at + interval '{LEASE}' - now()), 0)::float8 \
         FROM notification_deliveries WHERE event_id = $1"
    ))
    .bind(event_id)
    .fetch_one(db)
    .await?;
    Ok(if status == "sent" {
        Claim::Sent
    } else {
        Claim::Busy(std::time::Duration::from_secs_f64(lease_left))
    })
}

/// Keeps a claim alive while its holder works on it.
pub async fn renew_claim(db: &PgPool, event_id: Uuid, holder: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE notification_deliveries SET claimed_at = now() WHERE event_id = $1 AND holder = $2 AND status = 'sending'",
    )
    .bind(event_id)
    .bind(holder)
    .execute(db)
    .await
    .map(drop)
}

/// Gives a claim back (the send will be retried by a redelivery).
pub async fn release(db: &PgPool, event_id: Uuid, holder: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM notification_deliveries WHERE event_id = $1 AND holder = $2 AND status = 'sending'")
        .bind(event_id)
        .bind(holder)
        .execute(db)
        .await
        .map(drop)
}

/// Who an email goes to, and what decides whether it is sent. No `Debug`:
/// it holds PHI.
pub struct Patient {
    pub email: String,
    pub first_name: String,
    pub email_verified: bool,
    pub is_active: bool,
}

/// `None` when the patient is unknown.
pub async fn patient(db: &PgPool, patient_id: Uuid) -> sqlx::Result<Option<Patient>> {
    let row: Option<(String, String, bool, bool)> = sqlx::query_as(
        "SELECT email, first_name, email_verified, is_active FROM patients WHERE id = $1",
    )
    .bind(patient_id)
    .fetch_optional(db)
    .await?;
    Ok(
        row.map(|(email, first_name, email_verified, is_active)| Patient {
            email,
            first_name,
            email_verified,
            is_active,
        }),
    )
}

/// The tokens this worker issues, each in its own table of the same shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    EmailVerification,
    PasswordReset,
}

impl TokenKind {
    fn table(self) -> &'static str {
        match self {
            Self::EmailVerification => "email_verification_tokens",
            Self::PasswordReset => "password_reset_tokens",
        }
    }
}

/// Stores a new token's hash and revokes every earlier unused token of the
/// same kind for the patient, in one transaction under a per-patient
/// advisory lock: only the newest link works, even when two are issued at
/// once.
pub async fn issue_token(
    db: &PgPool,
    kind: TokenKind,
    patient_id: Uuid,
    hash: &[u8; 32],
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    let table = kind.table();
    let mut tx = db.begin().await?;
    // Two events for one patient at once (prefetch > 1, or two workers):
    // one waits for the other's token to commit, then revokes it, so only
    // the newest link ever works.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("{table}:{patient_id}"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!(
        "WITH revoked AS (\
             UPDATE {table} SET revoked_at = now() \
             WHERE patient_id = $2 AND used_at IS NULL AND revoked_at IS NULL) \
         INSERT INTO {table} (token_hash, patient_id, expires_at) \
         VALUES ($1, $2, $3)"
    ))
    .bind(hash.as_slice())
    .bind(patient_id)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

pub async fn mark_sent(db: &PgPool, event_id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE notification_deliveries SET status = 'sent', sent_at = now() WHERE event_id = $1",
    )
    .bind(event_id)
    .execute(db)
    .await
    .map(drop)
}
