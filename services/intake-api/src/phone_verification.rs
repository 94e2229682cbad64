//! Phone verification codes in Postgres. A request writes the code's row
//! (the notification worker draws the digits, stores their keyed hash and
//! sends them) and stages its event, under the patient's row lock, so the
//! limit of [`MAX_SENDS`] an hour holds under concurrent requests. A check
//! counts itself before it compares, under the code's row lock, so no code
//! is ever compared more than [`MAX_CHECKS`] times.

use std::time::Duration;

use chrono::{DateTime, Utc};
use shared::{
    audit::{self, Action, Entry},
    crypto::Keyring,
    messages::{PatientEvent, VerificationRequestedV1},
    phone_code::{mac_input, MAX_CHECKS, MAX_SENDS, SEND_WINDOW_SECS},
};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::outbox::{self, Staged};

/// How a request for a code ended.
pub enum Requested {
    /// A code will be sent; its event is staged, to publish once committed.
    Sent(PatientEvent),
    /// [`MAX_SENDS`] codes were sent in the last hour: the next may be
    /// asked for after this long.
    TooMany(Duration),
    AlreadyVerified,
    /// Codes are texted only once the email is verified: otherwise any
    /// throwaway registration could send texts to any number.
    EmailUnverified,
    Inactive,
    Unknown,
}

/// Asks for a code, and audits the asking (refusals too) in the same
/// transaction.
pub async fn request(db: &PgPool, patient_id: Uuid, client_addr: &str) -> sqlx::Result<Requested> {
    let mut tx = db.begin().await?;
    let requested = decide(&mut tx, patient_id).await?;
    let entry = Entry {
        action: Action::PhoneVerificationRequest,
        outcome: requested.audit_outcome(),
        patient_id: Some(patient_id),
        request_id: None,
        client_addr: Some(client_addr),
    };
    audit::record_changes(&mut tx, &entry, &[]).await?;
    tx.commit().await?;
    Ok(requested)
}

impl Requested {
    fn audit_outcome(&self) -> &'static str {
        match self {
            Self::Sent(_) => "sent",
            Self::TooMany(_) => "too_many",
            Self::AlreadyVerified => "already_verified",
            Self::EmailUnverified => "email_unverified",
            Self::Inactive => "deactivated",
            Self::Unknown => "unknown_patient",
        }
    }
}

/// Under the patient's row lock (and the number's): the limits, then the
/// code's row and its staged event.
async fn decide(tx: &mut PgConnection, patient_id: Uuid) -> sqlx::Result<Requested> {
    let patient: Option<(String, bool, bool, bool)> = sqlx::query_as(
        "SELECT phone_number, phone_verified, email_verified, is_active \
         FROM patients WHERE id = $1 FOR UPDATE",
    )
    .bind(patient_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((phone_number, verified, email_verified, active)) = patient else {
        return Ok(Requested::Unknown);
    };
    if !active {
        return Ok(Requested::Inactive);
    }
    if verified {
        return Ok(Requested::AlreadyVerified);
    }
    if !email_verified {
        return Ok(Requested::EmailUnverified);
    }
    // Per patient and per number: accounts taking turns with one number
    // (the unique index lets them, one at a time) cannot text it more
    // often than one patient could. The number's own lock makes the count
    // and the insert one step across patients too.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('phone-code:' || $1, 0))")
        .bind(&phone_number)
        .execute(&mut *tx)
        .await?;
    let (sent, wait_secs): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), \
                EXTRACT(EPOCH FROM min(requested_at) + make_interval(secs => $3) - now())::float8 \
         FROM phone_verification_codes \
         WHERE (patient_id = $1 OR phone_number = $2) \
           AND requested_at > now() - make_interval(secs => $3)",
    )
    .bind(patient_id)
    .bind(&phone_number)
    .bind(SEND_WINDOW_SECS as f64)
    .fetch_one(&mut *tx)
    .await?;
    if sent >= MAX_SENDS {
        let wait = Duration::from_secs_f64(wait_secs.unwrap_or(1.0).max(1.0));
        return Ok(Requested::TooMany(wait));
    }
    sqlx::query(
        "UPDATE phone_verification_codes SET revoked_at = now() \
         WHERE patient_id = $1 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(patient_id)
    .execute(&mut *tx)
    .await?;
    let code_id = Uuid::new_v4();
    let requested_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO phone_verification_codes (id, patient_id, phone_number) \
         VALUES ($1, $2, $3) RETURNING requested_at",
    )
    .bind(code_id)
    .bind(patient_id)
    .bind(&phone_number)
    .fetch_one(&mut *tx)
    .await?;
    let event = PatientEvent::PhoneVerificationRequested(VerificationRequestedV1 {
        event_id: code_id,
        patient_id,
        requested_at,
    });
    outbox::stage(tx, &Staged::Patient(event.clone())).await?;
    Ok(Requested::Sent(event))
}

/// How a check of a code ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// The code was right: the number it was sent to is verified.
    Verified,
    /// Wrong, or no live code: unknown, expired, revoked, used, or sent to
    /// a number the patient no longer has. One answer for all.
    Invalid,
    /// The code was checked [`MAX_CHECKS`] times already.
    Spent,
}

impl Checked {
    pub fn audit_outcome(self) -> &'static str {
        match self {
            Self::Verified => "success",
            Self::Invalid => "invalid_code",
            Self::Spent => "attempts_spent",
        }
    }
}

type LiveCode = (Uuid, String, String, Vec<u8>, bool, i32);

/// Checks `code` against the patient's live code. Whatever the check
/// writes (its count, the verified number) commits with its audit row;
/// every check is audited, refused ones too.
pub async fn check(
    db: &PgPool,
    keyring: &Keyring,
    patient_id: Uuid,
    code: &str,
    client_addr: &str,
) -> sqlx::Result<Checked> {
    let mut tx = db.begin().await?;
    let live: Option<LiveCode> = sqlx::query_as(
        "SELECT id, phone_number, code_kid, code_hash, expires_at <= now(), checks \
         FROM phone_verification_codes \
         WHERE patient_id = $1 AND used_at IS NULL AND revoked_at IS NULL \
           AND code_hash IS NOT NULL \
         ORDER BY requested_at DESC LIMIT 1 FOR UPDATE",
    )
    .bind(patient_id)
    .fetch_optional(&mut *tx)
    .await?;
    let audit = |outcome: Checked| Entry {
        action: Action::PhoneVerificationConfirm,
        outcome: outcome.audit_outcome(),
        patient_id: Some(patient_id),
        request_id: None,
        client_addr: Some(client_addr),
    };
    let refused = match live {
        None => Some(Checked::Invalid),
        Some((_, _, _, _, true, _)) => Some(Checked::Invalid),
        Some((.., checks)) if checks >= MAX_CHECKS => Some(Checked::Spent),
        Some(_) => None,
    };
    let (Some((code_id, phone_number, kid, hash, _, _)), None) = (live, refused) else {
        let refused = refused.unwrap_or(Checked::Invalid);
        audit::record_changes(&mut tx, &audit(refused), &[]).await?;
        tx.commit().await?;
        return Ok(refused);
    };
    // Counted before the comparison, and committed whatever it finds.
    sqlx::query("UPDATE phone_verification_codes SET checks = checks + 1 WHERE id = $1")
        .bind(code_id)
        .execute(&mut *tx)
        .await?;
    if !keyring.verify_mac(&kid, &mac_input(code_id, code), &hash) {
        audit::record_changes(&mut tx, &audit(Checked::Invalid), &[]).await?;
        tx.commit().await?;
        return Ok(Checked::Invalid);
    }
    let verified = sqlx::query(
        "UPDATE patients SET phone_verified = true \
         WHERE id = $1 AND phone_number = $2 AND is_active",
    )
    .bind(patient_id)
    .bind(&phone_number)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    sqlx::query("UPDATE phone_verification_codes SET used_at = now() WHERE id = $1")
        .bind(code_id)
        .execute(&mut *tx)
        .await?;
    let checked = if verified {
        Checked::Verified
    } else {
        Checked::Invalid
    };
    audit::record_changes(&mut tx, &audit(checked), &[]).await?;
    tx.commit().await?;
    Ok(checked)
}

/// Deletes code rows a day past their request: enough for the hourly
/// limits and for support, and no more.
pub async fn sweep(db: &PgPool) -> sqlx::Result<u64> {
    sqlx::query(
        "DELETE FROM phone_verification_codes WHERE requested_at < now() - interval '1 day'",
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}
