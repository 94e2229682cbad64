//! What the account endpoints read and write in Postgres: login records
//! and the lockout counter, verification and reset tokens, password changes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use shared::{
    messages::{EmailVerifiedV1, OutcomeEvent, PatientEvent},
    token::hash_token,
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{outbox, sessions};

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

/// The lockout settings an attempt is checked against.
pub struct Lockout {
    /// Failures from one address within `window` that lock it out of the account.
    pub per_address: u32,
    pub window: Duration,
    /// Failures from all addresses within an hour that lock the account.
    pub per_account: u32,
}

/// Whether a login attempt may check its password.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Go ahead: a failure is already recorded for it (`failures` counts
    /// it), and a success clears it.
    Allowed { failures: u32 },
    /// Locked out until then, for this address or for the whole account.
    Locked {
        until: DateTime<Utc>,
        account_wide: bool,
    },
}

/// Counts the failures of `(email_hash, client)` and of `email_hash`, and,
/// if neither is at its limit, records this attempt as a failure before its
/// password is checked. One transaction under an advisory lock on the
/// account, so concurrent guesses can never pass the limits.
pub async fn begin_attempt(
    db: &PgPool,
    email_hash: &[u8; 32],
    client: &str,
    lockout: &Lockout,
) -> sqlx::Result<Attempt> {
    let mut tx = db.begin().await?;
    let mut lock_key = [0u8; 8];
    lock_key.copy_from_slice(&email_hash[..8]);
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(i64::from_be_bytes(lock_key))
        .execute(&mut *tx)
        .await?;
    let window = chrono::Duration::from_std(lockout.window).unwrap_or(chrono::Duration::MAX);
    let hour = chrono::Duration::hours(1);
    let recent = |by_address: bool, within: chrono::Duration, max: u32| {
        sqlx::query_scalar::<_, DateTime<Utc>>(
            "SELECT attempted_at FROM login_failures \
             WHERE email_hash = $1 AND ($2::text IS NULL OR client_addr = $2) \
               AND attempted_at > now() - $3::interval \
             ORDER BY attempted_at DESC LIMIT $4",
        )
        .bind(email_hash.as_slice())
        .bind(by_address.then_some(client))
        .bind(format!("{} milliseconds", within.num_milliseconds()))
        .bind(i64::from(max))
    };
    let mine = recent(true, window, lockout.per_address)
        .fetch_all(&mut *tx)
        .await?;
    if lockout.per_address == 0 || mine.len() >= lockout.per_address as usize {
        let until = mine.last().map_or_else(Utc::now, |oldest| *oldest + window);
        return Ok(Attempt::Locked {
            until,
            account_wide: false,
        });
    }
    let all = recent(false, hour, lockout.per_account)
        .fetch_all(&mut *tx)
        .await?;
    if lockout.per_account == 0 || all.len() >= lockout.per_account as usize {
        let until = all.last().map_or_else(Utc::now, |oldest| *oldest + hour);
        return Ok(Attempt::Locked {
            until,
            account_wide: true,
        });
    }
    sqlx::query("INSERT INTO login_failures (email_hash, client_addr) VALUES ($1, $2)")
        .bind(email_hash.as_slice())
        .bind(client)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Attempt::Allowed {
        failures: u32::try_from(mine.len() + 1).unwrap_or(u32::MAX),
    })
}

/// The right password from this address: its failures (this attempt's
/// reservation among them) are forgotten.
pub async fn clear_failures(db: &PgPool, email_hash: &[u8; 32], client: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM login_failures WHERE email_hash = $1 AND client_addr = $2")
        .bind(email_hash.as_slice())
        .bind(client)
        .execute(db)
        .await
        .map(drop)
}

/// Uses a verification token: it must exist, be unused, unrevoked and
/// unexpired. Marks it used and the patient's email verified, atomically,
/// and stages `patient.email_verified` (for the partner's webhooks) when
/// this verified it: the patient and that event, if any.
pub async fn consume_verification_token(
    db: &PgPool,
    token_hash: &[u8; 32],
) -> sqlx::Result<Option<(Uuid, Option<OutcomeEvent>)>> {
    let mut tx = db.begin().await?;
    let patient: Option<Uuid> = sqlx::query_scalar(
        "UPDATE email_verification_tokens t SET used_at = now() FROM patients p \
         WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.revoked_at IS NULL \
           AND t.expires_at > now() AND p.id = t.patient_id AND p.is_active \
         RETURNING t.patient_id",
    )
    .bind(token_hash.as_slice())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = patient else {
        return Ok(None);
    };
    let verified = sqlx::query(
        "UPDATE patients SET email_verified = true WHERE id = $1 AND NOT email_verified",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let mut event = None;
    if verified.rows_affected() == 1 {
        let request_id: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM registration_requests WHERE patient_id = $1 ORDER BY created_at LIMIT 1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let verified = OutcomeEvent::EmailVerified(EmailVerifiedV1 {
            event_id: Uuid::new_v4(),
            patient_id: id,
            request_id,
            occurred_at: Utc::now(),
        });
        outbox::stage(&mut tx, &verified.clone().into()).await?;
        event = Some(verified);
    }
    tx.commit().await?;
    Ok(Some((id, event)))
}

pub async fn unverified_patient(db: &PgPool, email: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT id FROM patients WHERE lower(email) = lower($1) AND NOT email_verified AND is_active")
        .bind(email)
        .fetch_optional(db)
        .await
}

/// An active patient with this email, for forgot-password.
pub async fn active_patient(db: &PgPool, email: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT id FROM patients WHERE lower(email) = lower($1) AND is_active")
        .bind(email)
        .fetch_optional(db)
        .await
}

/// The patient a reset token would reset, if it is usable now (unused,
/// unrevoked, unexpired, for an active patient). Looks, does not use.
pub async fn reset_token_patient(db: &PgPool, token_hash: &[u8; 32]) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(
        "SELECT t.patient_id FROM password_reset_tokens t JOIN patients p ON p.id = t.patient_id \
         WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.revoked_at IS NULL \
           AND t.expires_at > now() AND p.is_active",
    )
    .bind(token_hash.as_slice())
    .fetch_optional(db)
    .await
}

/// A patient's own login record, by id (change-password).
#[derive(sqlx::FromRow)]
pub struct Account {
    pub email: String,
    pub password_hash: String,
    pub is_active: bool,
}

pub async fn account(db: &PgPool, patient_id: Uuid) -> sqlx::Result<Option<Account>> {
    sqlx::query_as("SELECT email, password_hash, is_active FROM patients WHERE id = $1")
        .bind(patient_id)
        .fetch_optional(db)
        .await
}

/// The lockout's key for an email: the SHA-256 of its normalised form.
pub fn email_key(email: &str) -> [u8; 32] {
    hash_token(&email.trim().to_lowercase())
}

/// Sets a new password through a reset token, in one transaction: the
/// token is used (if it still can be), the patient's other reset tokens are
/// revoked, the hash replaced, every session revoked, the lockout cleared
/// and the notice staged in the outbox. `None`: the token was no longer
/// usable (another request used it first), and nothing changed.
pub async fn apply_reset(
    db: &PgPool,
    token_hash: &[u8; 32],
    password_hash: &str,
    notice: impl FnOnce(Uuid) -> PatientEvent,
) -> sqlx::Result<Option<PatientEvent>> {
    let mut tx = db.begin().await?;
    // The patient's row first, as every other writer of a patient's links
    // and changes takes it (an email change's confirmation among them):
    // one lock order, so the two cannot deadlock.
    let owner: Option<Uuid> =
        sqlx::query_scalar("SELECT patient_id FROM password_reset_tokens WHERE token_hash = $1")
            .bind(token_hash.as_slice())
            .fetch_optional(&mut *tx)
            .await?;
    let Some(owner) = owner else {
        return Ok(None);
    };
    sqlx::query("SELECT 1 FROM patients WHERE id = $1 FOR UPDATE")
        .bind(owner)
        .execute(&mut *tx)
        .await?;
    let used: Option<(Uuid, String)> = sqlx::query_as(
        "UPDATE password_reset_tokens t SET used_at = now() FROM patients p \
         WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.revoked_at IS NULL \
           AND t.expires_at > now() AND p.id = t.patient_id AND p.is_active \
         RETURNING t.patient_id, p.email",
    )
    .bind(token_hash.as_slice())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((patient_id, email)) = used else {
        return Ok(None);
    };
    revoke_reset_tokens(&mut tx, patient_id).await?;
    // Whoever asked for a change with the old password cannot finish it.
    crate::email_change::revoke_pending(&mut tx, patient_id).await?;
    set_password(&mut tx, patient_id, password_hash).await?;
    sessions::revoke_all(
        &mut tx,
        patient_id,
        None,
        sessions::Revocation::PasswordReset,
    )
    .await?;
    sqlx::query("DELETE FROM login_failures WHERE email_hash = $1")
        .bind(email_key(&email).as_slice())
        .execute(&mut *tx)
        .await?;
    let event = notice(patient_id);
    outbox::stage(&mut tx, &event.clone().into()).await?;
    tx.commit().await?;
    Ok(Some(event))
}

/// Revokes the patient's reset links still unused.
pub(crate) async fn revoke_reset_tokens(
    conn: &mut sqlx::PgConnection,
    patient_id: Uuid,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE password_reset_tokens SET revoked_at = now() \
         WHERE patient_id = $1 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(patient_id)
    .execute(conn)
    .await
    .map(drop)
}

async fn set_password(
    conn: &mut sqlx::PgConnection,
    patient_id: Uuid,
    password_hash: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE patients SET password_hash = $2 WHERE id = $1")
        .bind(patient_id)
        .bind(password_hash)
        .execute(conn)
        .await
        .map(drop)
}

/// The logged-in patient's new password, in one transaction: the hash
/// replaced (only if it is still `checked_hash`, the one the current
/// password was checked against), every other session and every
/// outstanding reset link revoked, this session's earlier access tokens
/// voided (its next generation returned) and the notice staged. `None`,
/// with nothing changed, if the session ended or the password changed
/// meanwhile.
pub async fn apply_change(
    db: &PgPool,
    patient_id: Uuid,
    session: sessions::SessionRef,
    checked_hash: &str,
    password_hash: &str,
    notice: &PatientEvent,
) -> sqlx::Result<Option<sessions::SessionRef>> {
    let mut tx = db.begin().await?;
    let Some(next) = sessions::next_generation(&mut tx, session).await? else {
        return Ok(None);
    };
    let changed =
        sqlx::query("UPDATE patients SET password_hash = $3 WHERE id = $1 AND password_hash = $2")
            .bind(patient_id)
            .bind(checked_hash)
            .bind(password_hash)
            .execute(&mut *tx)
            .await?;
    if changed.rows_affected() == 0 {
        return Ok(None);
    }
    sessions::revoke_all(
        &mut tx,
        patient_id,
        Some(session.id),
        sessions::Revocation::PasswordChange,
    )
    .await?;
    revoke_reset_tokens(&mut tx, patient_id).await?;
    // Whoever asked for a change with the old password cannot finish it.
    crate::email_change::revoke_pending(&mut tx, patient_id).await?;
    outbox::stage(&mut tx, &notice.clone().into()).await?;
    tx.commit().await?;
    Ok(Some(next))
}
