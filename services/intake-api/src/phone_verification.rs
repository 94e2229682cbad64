//! Phone verification codes in Postgres. A request writes the code's row
//! (the notification worker draws the digits, stores their keyed hash and
//! sends them) and stages its event, under the patient's row lock, so the
//! limit of [`MAX_SENDS`] an hour holds under concurrent requests. A check
//! counts itself before it compares, under the code's row lock, so no code
//! is ever compared more than [`MAX_CHECKS`] times.

use std::time::Duration;

use chrono::{DateTime, Utc};
use shared::{
    crypto::Keyring,
    messages::{PatientEvent, VerificationRequestedV1},
    phone_code::{mac_input, MAX_CHECKS, MAX_SENDS, SEND_WINDOW_SECS},
};
use sqlx::PgPool;
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
    Inactive,
    Unknown,
}

pub async fn request(db: &PgPool, patient_id: Uuid) -> sqlx::Result<Requested> {
    let mut tx = db.begin().await?;
    let patient: Option<(String, bool, bool)> = sqlx::query_as(
        "SELECT phone_number, phone_verified, is_active FROM patients WHERE id = $1 FOR UPDATE",
    )
    .bind(patient_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((phone_number, verified, active)) = patient else {
        return Ok(Requested::Unknown);
    };
    if !active {
        return Ok(Requested::Inactive);
    }
    if verified {
        return Ok(Requested::AlreadyVerified);
    }
    let (sent, wait_secs): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), \
                EXTRACT(EPOCH FROM min(requested_at) + make_interval(secs => $2) - now())::float8 \
         FROM phone_verification_codes \
         WHERE patient_id = $1 AND requested_at > now() - make_interval(secs => $2)",
    )
    .bind(patient_id)
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
    outbox::stage(&mut tx, &Staged::Patient(event.clone())).await?;
    tx.commit().await?;
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

type LiveCode = (Uuid, String, String, Vec<u8>, DateTime<Utc>, i32);

pub async fn check(
    db: &PgPool,
    keyring: &Keyring,
    patient_id: Uuid,
    code: &str,
) -> sqlx::Result<Checked> {
    let mut tx = db.begin().await?;
    let live: Option<LiveCode> = sqlx::query_as(
        "SELECT id, phone_number, code_kid, code_hash, expires_at, checks \
         FROM phone_verification_codes \
         WHERE patient_id = $1 AND used_at IS NULL AND revoked_at IS NULL \
           AND code_hash IS NOT NULL \
         ORDER BY requested_at DESC LIMIT 1 FOR UPDATE",
    )
    .bind(patient_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((code_id, phone_number, kid, hash, expires_at, checks)) = live else {
        return Ok(Checked::Invalid);
    };
    if expires_at <= Utc::now() {
        return Ok(Checked::Invalid);
    }
    if checks >= MAX_CHECKS {
        return Ok(Checked::Spent);
    }
    // Counted before the comparison, and committed whatever it finds.
    sqlx::query("UPDATE phone_verification_codes SET checks = checks + 1 WHERE id = $1")
        .bind(code_id)
        .execute(&mut *tx)
        .await?;
    if !keyring.verify_mac(&kid, &mac_input(code_id, code), &hash) {
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
    tx.commit().await?;
    Ok(if verified {
        Checked::Verified
    } else {
        Checked::Invalid
    })
}
