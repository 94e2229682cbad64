//! Email changes in Postgres. A request writes the pending change (the
//! notification worker issues its link and sends both emails) and stages
//! its event, under the patient's row lock, so the limit of
//! [`MAX_REQUESTS`] an hour holds under concurrent requests. A confirmation
//! moves the address in one transaction; the unique index on the email
//! decides a race with a registration or another change, and the loser
//! changes nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use shared::{
    audit::{Action, Entry},
    domain::Email,
    messages::{EmailVerifiedV1, OutcomeEvent, PatientEvent, VerificationRequestedV1},
};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{accounts, outbox};

/// Email change requests a patient may make in [`WINDOW`]: each sends two
/// emails.
pub const MAX_REQUESTS: i64 = 3;
pub const WINDOW: Duration = Duration::from_secs(3600);

/// How a request for an email change ended.
pub enum Requested {
    /// The emails will be sent; the event is staged, to publish once
    /// committed.
    Sent(PatientEvent),
    /// The new address is the patient's current one.
    SameEmail,
    /// Another patient has the new address.
    Taken,
    /// [`MAX_REQUESTS`] in the last [`WINDOW`]: the next after this long.
    TooMany(Duration),
    /// The password changed, or the account was deactivated or removed,
    /// since the password was checked: nothing done.
    Superseded,
}

impl Requested {
    pub fn audit_outcome(&self) -> &'static str {
        match self {
            Self::Sent(_) => "sent",
            Self::SameEmail => "same_email",
            Self::Taken => "email_taken",
            Self::TooMany(_) => "too_many",
            Self::Superseded => "superseded",
        }
    }
}

/// Records a change to `new_email` for a patient whose password was just
/// checked against `checked_hash`: refused if the address is theirs
/// already or another patient's, or past the limit; otherwise the earlier
/// pending changes are revoked, the new one's event staged and its audit
/// row (from `client`) written, in one transaction.
pub async fn request(
    db: &PgPool,
    patient_id: Uuid,
    checked_hash: &str,
    new_email: &Email,
    client: &str,
) -> sqlx::Result<Requested> {
    let mut tx = db.begin().await?;
    let current: Option<String> = sqlx::query_scalar(
        "SELECT email FROM patients WHERE id = $1 AND is_active AND password_hash = $2 FOR UPDATE",
    )
    .bind(patient_id)
    .bind(checked_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(current) = current else {
        return Ok(Requested::Superseded);
    };
    if current.eq_ignore_ascii_case(new_email.as_str()) {
        return Ok(Requested::SameEmail);
    }
    let taken: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM patients WHERE lower(email) = lower($1) AND id <> $2)",
    )
    .bind(new_email.as_str())
    .bind(patient_id)
    .fetch_one(&mut *tx)
    .await?;
    if taken {
        return Ok(Requested::Taken);
    }
    if let Some(wait) = wait_for_next(&mut tx, patient_id).await? {
        return Ok(Requested::TooMany(wait));
    }
    revoke_pending(&mut tx, patient_id).await?;
    let change_id = Uuid::new_v4();
    let requested_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO email_changes (id, patient_id, new_email) VALUES ($1, $2, $3) \
         RETURNING requested_at",
    )
    .bind(change_id)
    .bind(patient_id)
    .bind(new_email.as_str())
    .fetch_one(&mut *tx)
    .await?;
    // Ids only: the worker reads the address from the row, and draws the
    // token itself.
    let event = PatientEvent::EmailChangeRequested(VerificationRequestedV1 {
        event_id: change_id,
        patient_id,
        requested_at,
    });
    outbox::stage(&mut tx, &event.clone().into()).await?;
    let trace = Entry {
        action: Action::EmailChangeRequest,
        outcome: "sent",
        patient_id: Some(patient_id),
        request_id: None,
        client_addr: Some(client),
    };
    shared::audit::record_changes(&mut tx, &trace, &[]).await?;
    tx.commit().await?;
    Ok(Requested::Sent(event))
}

/// `None` while under the limit; else how long until the oldest request of
/// the window leaves it.
async fn wait_for_next(
    conn: &mut PgConnection,
    patient_id: Uuid,
) -> sqlx::Result<Option<Duration>> {
    let (made, wait_secs): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), \
                EXTRACT(EPOCH FROM min(requested_at) + make_interval(secs => $2) - now())::float8 \
         FROM email_changes \
         WHERE patient_id = $1 AND requested_at > now() - make_interval(secs => $2)",
    )
    .bind(patient_id)
    .bind(WINDOW.as_secs_f64())
    .fetch_one(conn)
    .await?;
    Ok((made >= MAX_REQUESTS).then(|| Duration::from_secs_f64(wait_secs.unwrap_or(1.0).max(1.0))))
}

/// How a confirmation ended.
pub enum Confirmed {
    /// The address moved; the partner event to publish, if this verified a
    /// patient whose email was not verified before.
    Changed {
        patient_id: Uuid,
        verified: Option<OutcomeEvent>,
    },
    /// Unknown, used, revoked or expired link, or a deactivated account.
    Invalid { patient_id: Option<Uuid> },
    /// Another patient has the address by now: nothing changed.
    Taken { patient_id: Uuid },
}

/// A pending change a token may still confirm: its id and new address.
type Live = (Uuid, String);

/// Confirms the change whose link carried `token_hash`, in one
/// transaction: the address moved (and verified), the link used, the
/// patient's other pending changes revoked, the links sent to the old
/// address (verification, password reset) revoked, and the audit row
/// written. A unique violation on the email rolls all of it back.
pub async fn confirm(db: &PgPool, token_hash: &[u8; 32], client: &str) -> sqlx::Result<Confirmed> {
    let mut tx = db.begin().await?;
    let owner: Option<Uuid> =
        sqlx::query_scalar("SELECT patient_id FROM email_changes WHERE token_hash = $1")
            .bind(token_hash.as_slice())
            .fetch_optional(&mut *tx)
            .await?;
    let Some(patient_id) = owner else {
        return Ok(Confirmed::Invalid { patient_id: None });
    };
    // The patient's row first, as a request locks it: a request revoking
    // this change and this confirmation take turns, never deadlock.
    let patient: Option<(bool, bool)> =
        sqlx::query_as("SELECT is_active, email_verified FROM patients WHERE id = $1 FOR UPDATE")
            .bind(patient_id)
            .fetch_optional(&mut *tx)
            .await?;
    let live: Option<Live> = sqlx::query_as(
        "SELECT id, new_email FROM email_changes \
         WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now() \
         FOR UPDATE",
    )
    .bind(token_hash.as_slice())
    .fetch_optional(&mut *tx)
    .await?;
    let (Some((true, was_verified)), Some((change_id, new_email))) = (patient, live) else {
        return Ok(Confirmed::Invalid {
            patient_id: Some(patient_id),
        });
    };
    let moved = sqlx::query("UPDATE patients SET email = $2, email_verified = true WHERE id = $1")
        .bind(patient_id)
        .bind(&new_email)
        .execute(&mut *tx)
        .await;
    if let Err(e) = moved {
        // The transaction is dropped, so rolled back: nothing changed.
        return match shared::db::violated_unique_constraint(&e).as_deref() {
            Some("patients_email_key") => Ok(Confirmed::Taken { patient_id }),
            _ => Err(e),
        };
    }
    sqlx::query("UPDATE email_changes SET used_at = now() WHERE id = $1")
        .bind(change_id)
        .execute(&mut *tx)
        .await?;
    revoke_pending(&mut tx, patient_id).await?;
    revoke_links_to_the_old_address(&mut tx, patient_id).await?;
    crate::sessions::revoke_all(
        &mut tx,
        patient_id,
        None,
        crate::sessions::Revocation::EmailChange,
    )
    .await?;
    let verified = if was_verified {
        None
    } else {
        Some(stage_verified(&mut tx, patient_id).await?)
    };
    let trace = Entry {
        action: Action::EmailChangeConfirm,
        outcome: "success",
        patient_id: Some(patient_id),
        request_id: None,
        client_addr: Some(client),
    };
    shared::audit::record_changes(&mut tx, &trace, &[]).await?;
    tx.commit().await?;
    Ok(Confirmed::Changed {
        patient_id,
        verified,
    })
}

/// The verification and reset links still out went to the old address:
/// they stop working with it.
async fn revoke_links_to_the_old_address(
    conn: &mut PgConnection,
    patient_id: Uuid,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE email_verification_tokens SET revoked_at = now() \
         WHERE patient_id = $1 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(patient_id)
    .execute(&mut *conn)
    .await?;
    accounts::revoke_reset_tokens(conn, patient_id).await
}

/// `patient.email_verified` for the partner's webhooks, as verify-email
/// stages it when it verifies a patient.
async fn stage_verified(conn: &mut PgConnection, patient_id: Uuid) -> sqlx::Result<OutcomeEvent> {
    let request_id: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM registration_requests WHERE patient_id = $1 ORDER BY created_at LIMIT 1",
    )
    .bind(patient_id)
    .fetch_optional(&mut *conn)
    .await?;
    let event = OutcomeEvent::EmailVerified(EmailVerifiedV1 {
        event_id: Uuid::new_v4(),
        patient_id,
        request_id,
        occurred_at: Utc::now(),
    });
    outbox::stage(conn, &event.clone().into()).await?;
    Ok(event)
}

/// Cancels the patient's pending changes (their links stop working): a
/// password reset or change does, so a change asked for by someone who
/// knew the old password cannot be completed after it.
pub(crate) async fn revoke_pending(conn: &mut PgConnection, patient_id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE email_changes SET revoked_at = now() \
         WHERE patient_id = $1 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(patient_id)
    .execute(conn)
    .await
    .map(drop)
}

/// Deletes the changes that can no longer be confirmed (used, revoked or
/// expired a day ago; never given a link in 30 days), once they are out of
/// the rate limit's window: the table stays bounded. The audit trail keeps
/// what happened.
pub async fn sweep(db: &PgPool) -> sqlx::Result<u64> {
    sqlx::query(
        "DELETE FROM email_changes WHERE requested_at < now() - interval '1 day' AND ( \
             used_at IS NOT NULL OR revoked_at IS NOT NULL \
             OR expires_at < now() - interval '1 day' \
             OR (expires_at IS NULL AND requested_at < now() - interval '30 days'))",
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}
