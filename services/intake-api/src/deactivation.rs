//! A patient deactivating their own account: the password checked as
//! change-password checks it, then, in one transaction, the account made
//! inactive, every session of it ended and the notice email staged. The
//! row itself is kept (medical-record retention): only `is_active` changes.

use std::net::IpAddr;

use shared::{
    audit::{Action, Entry},
    messages::{AccountDeactivatedV1, PatientEvent},
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{accounts, error::ApiError, outbox, passwords, sessions, AppState};

pub const NOT_FOUND: &str = "Patient not found";

/// Deactivates the patient's account once `password` is found to be
/// theirs: refused, throttled and counted by the lockout exactly as a
/// change-password's current password is.
pub async fn deactivate(
    state: &AppState,
    client: IpAddr,
    patient_id: Uuid,
    password: &str,
) -> Result<(), ApiError> {
    let checked = passwords::check_current(
        state,
        client,
        patient_id,
        password,
        Action::AccountDeactivate,
        ApiError::NotFound(NOT_FOUND),
    )
    .await?;
    let address = client.to_string();
    let audit = |outcome| Entry {
        action: Action::AccountDeactivate,
        outcome,
        patient_id: Some(patient_id),
        request_id: None,
        client_addr: Some(&address),
    };
    let event = PatientEvent::AccountDeactivated(AccountDeactivatedV1 {
        event_id: Uuid::new_v4(),
        patient_id,
        deactivated_at: chrono::Utc::now(),
    });
    if !apply(
        &state.db,
        patient_id,
        &checked.password_hash,
        &event,
        &audit("success"),
    )
    .await?
    {
        // Deactivated, or the password changed, while this one was being
        // checked: nothing changed here.
        state.audit.record(&audit("superseded")).await?;
        return Err(ApiError::Unauthorized(crate::extract::UNAUTHENTICATED));
    }
    outbox::publish_soon(state, event);
    tracing::info!(%patient_id, "account deactivated");
    Ok(())
}

/// In one transaction: the patient inactive (only if still active with the
/// checked password), every session and unused reset link ended, the notice
/// staged, the audit row written. `false` if the account was not in that
/// state.
async fn apply(
    db: &PgPool,
    patient_id: Uuid,
    checked_hash: &str,
    notice: &PatientEvent,
    trace: &Entry<'_>,
) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    let changed = sqlx::query(
        "UPDATE patients SET is_active = false \
         WHERE id = $1 AND is_active AND password_hash = $2",
    )
    .bind(patient_id)
    .bind(checked_hash)
    .execute(&mut *tx)
    .await?;
    if changed.rows_affected() == 0 {
        return Ok(false);
    }
    sessions::revoke_all(
        &mut tx,
        patient_id,
        None,
        sessions::Revocation::Deactivation,
    )
    .await?;
    accounts::revoke_reset_tokens(&mut tx, patient_id).await?;
    crate::email_change::revoke_pending(&mut tx, patient_id).await?;
    outbox::stage(&mut tx, &notice.clone().into()).await?;
    shared::audit::record_changes(&mut tx, trace, &[]).await?;
    tx.commit().await?;
    Ok(true)
}
