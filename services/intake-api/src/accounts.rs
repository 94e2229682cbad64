//! What the account endpoints read and write in Postgres: login records
//! and the lockout counter, verification tokens, and profiles.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
pub struct LoginRecord {
    pub id: Uuid,
    pub password_hash: String,
    pub is_active: bool,
}

impl std::fmt::Debug for LoginRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRecord")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

pub async fn find_login(db: &PgPool, email: &str) -> sqlx::Result<Option<LoginRecord>> {
    sqlx::query_as(
        "SELECT id, password_hash, is_active FROM patients WHERE lower(email) = lower($1)",
    )
    .bind(email)
    .fetch_optional(db)
    .await
}

/// When the email's lockout ends, if it is locked out now: `max` failures
/// within `window` lock it until the oldest of them leaves the window.
pub async fn locked_until(
    db: &PgPool,
    email_hash: &[u8; 32],
    max: u32,
    window: Duration,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
    let recent: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT attempted_at FROM login_failures WHERE email_hash = $1 AND attempted_at > now() - $2::interval \
         ORDER BY attempted_at DESC LIMIT $3",
    )
    .bind(email_hash.as_slice())
    .bind(format!("{} milliseconds", window.num_milliseconds()))
    .bind(i64::from(max))
    .fetch_all(db)
    .await?;
    if max == 0 || recent.len() < max as usize {
        return Ok(None);
    }
    Ok(recent.last().map(|oldest| *oldest + window))
}

pub async fn record_failure(db: &PgPool, email_hash: &[u8; 32]) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO login_failures (email_hash) VALUES ($1)")
        .bind(email_hash.as_slice())
        .execute(db)
        .await
        .map(drop)
}

pub async fn clear_failures(db: &PgPool, email_hash: &[u8; 32]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM login_failures WHERE email_hash = $1")
        .bind(email_hash.as_slice())
        .execute(db)
        .await
        .map(drop)
}

/// Uses a verification token: it must exist, be unused, unrevoked and
/// unexpired. Marks it used and the patient's email verified, atomically.
pub async fn consume_verification_token(
    db: &PgPool,
    token_hash: &[u8; 32],
) -> sqlx::Result<Option<Uuid>> {
    let mut tx = db.begin().await?;
    let patient: Option<Uuid> = sqlx::query_scalar(
        "UPDATE email_verification_tokens SET used_at = now() \
         WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now() \
         RETURNING patient_id",
    )
    .bind(token_hash.as_slice())
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(id) = patient {
        sqlx::query(
            "UPDATE patients SET email_verified = true WHERE id = $1 AND NOT email_verified",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(patient)
}

pub async fn unverified_patient(db: &PgPool, email: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT id FROM patients WHERE lower(email) = lower($1) AND NOT email_verified AND is_active")
        .bind(email)
        .fetch_optional(db)
        .await
}
