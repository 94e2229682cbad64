//! Setting a password after login: the throttles every password check or
//! hash passes first, the new-password rules as the API and the pages state
//! them, and the reset and change themselves (shared by the JSON routes and
//! the reset page).

use std::net::IpAddr;

use shared::{
    audit::{Action, Entry},
    domain::{check_confirmation, Password},
    messages::{PasswordChange, PasswordChangedV1, PatientEvent},
    token::hash_token,
    validation::FieldErrors,
};
use tokio::sync::OwnedSemaphorePermit;
use uuid::Uuid;

use crate::{accounts, error::ApiError, extract::Text, outbox, sessions::SessionRef, AppState};

pub const INVALID_RESET_TOKEN: &str = "Invalid or expired password reset token";
pub const THROTTLED: &str = "Too many password attempts from this address. Please try again later.";
pub const LOCKED_OUT: &str = "Too many failed login attempts. Please try again later.";
pub const WRONG_PASSWORD: &str = "Current password is incorrect";
pub const DEACTIVATED: &str = "This account has been deactivated";

/// What every route that checks or hashes a password passes before it
/// does: the per-address limit (`LOGIN_RATE_LIMIT_PER_CLIENT`, 429) and a
/// slot among `PASSWORD_VERIFY_MAX_CONCURRENT` (503). Hold the permit
/// while hashing.
pub fn throttle(
    state: &AppState,
    client: IpAddr,
    message: &'static str,
) -> Result<OwnedSemaphorePermit, ApiError> {
    let accounts = &state.accounts;
    accounts
        .login_per_client
        .check(client, std::time::Instant::now())
        .map_err(|retry_after| ApiError::TooManyRequests {
            message,
            retry_after,
        })?;
    accounts
        .verifications
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::Busy)
}

/// The per-address limit of the routes that take a token without a
/// password (refresh, email verification): 429 past it.
pub fn throttle_tokens(state: &AppState, client: IpAddr) -> Result<(), ApiError> {
    state
        .accounts
        .token_per_client
        .check(client, std::time::Instant::now())
        .map_err(|retry_after| ApiError::TooManyRequests {
            message: crate::extract::RATE_LIMITED,
            retry_after,
        })
}

/// A new password and its confirmation, checked with the registration's
/// rules and messages: `key` names the password's field (`password` or
/// `new_password`), the confirmation is always `confirm_password`.
pub fn new_password(
    password: Text,
    confirm: Text,
    key: &str,
    label: &str,
    errors: &mut FieldErrors,
) -> Option<Password> {
    let raw = password.required(key, label, errors);
    let confirm = confirm.required("confirm_password", "Confirm password", errors);
    if let (Some(raw), Some(confirm)) = (&raw, &confirm) {
        if let Err(message) = check_confirmation(raw, confirm) {
            errors.add("confirm_password", message);
        }
    }
    Password::parse(&raw?)
        .map_err(|messages| errors.add_all(key, messages))
        .ok()
}

fn notice(patient_id: Uuid, how: PasswordChange) -> PatientEvent {
    PatientEvent::PasswordChanged(PasswordChangedV1 {
        event_id: Uuid::new_v4(),
        patient_id,
        how,
        changed_at: chrono::Utc::now(),
    })
}

/// Sets a new password through the token of a reset email. Throttled like
/// a login; an unknown, used, revoked or expired token is one 400. On
/// success every session of the patient ends, the lockout is cleared and a
/// notice email goes out.
pub async fn reset(
    state: &AppState,
    client: IpAddr,
    token: &str,
    password: &Password,
) -> Result<Uuid, ApiError> {
    let _permit = throttle(state, client, THROTTLED)?;
    let token_hash = hash_token(token.trim());
    let address = client.to_string();
    let audit = |outcome, patient_id| Entry {
        action: Action::PasswordReset,
        outcome,
        patient_id,
        request_id: None,
        client_addr: Some(&address),
    };
    // Hash only for a token that can be used: no bcrypt for a guess.
    if accounts::reset_token_patient(&state.db, &token_hash)
        .await?
        .is_none()
    {
        state.audit.record(&audit("invalid_token", None)).await?;
        return Err(ApiError::BadRequest(INVALID_RESET_TOKEN.into()));
    }
    let hash = state
        .accounts
        .passwords
        .hash(password)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let Some(event) = accounts::apply_reset(&state.db, &token_hash, &hash, |id| {
        notice(id, PasswordChange::Reset)
    })
    .await?
    else {
        state.audit.record(&audit("invalid_token", None)).await?;
        return Err(ApiError::BadRequest(INVALID_RESET_TOKEN.into()));
    };
    let patient_id = event.patient_id();
    // The password is changed: a failed audit write is logged (in
    // `shared::audit`), not answered with 503, or a retry would be told
    // the token is invalid.
    let _ = state
        .audit
        .record(&audit("success", Some(patient_id)))
        .await;
    outbox::publish_soon(state, event);
    tracing::info!(%patient_id, "password reset");
    Ok(patient_id)
}

/// The logged-in patient's current password, checked: what a password
/// change and a deactivation both do before they change anything.
pub struct Checked {
    /// The password hash that was checked: the change applies only while
    /// it is still the patient's.
    pub password_hash: String,
    /// A slot among `PASSWORD_VERIFY_MAX_CONCURRENT`, held until this is
    /// dropped (a change hashes the new password while holding it).
    _permit: OwnedSemaphorePermit,
}

/// Checks the logged-in patient's current password like a login: the
/// per-address limit and the bcrypt cap first ([`throttle`]), then the
/// account (`missing` if it is gone; 403 if deactivated), the lockout (a
/// wrong password counts towards it, a right one clears it). Each refusal
/// is audited as `action`.
pub async fn check_current(
    state: &AppState,
    client: IpAddr,
    patient_id: Uuid,
    current: &str,
    action: Action,
    missing: ApiError,
) -> Result<Checked, ApiError> {
    let permit = throttle(state, client, THROTTLED)?;
    let address = client.to_string();
    let audit = |outcome| Entry {
        action,
        outcome,
        patient_id: Some(patient_id),
        request_id: None,
        client_addr: Some(&address),
    };
    let Some(account) = accounts::account(&state.db, patient_id).await? else {
        return Err(missing);
    };
    if !account.is_active {
        state.audit.record(&audit("deactivated")).await?;
        return Err(ApiError::Forbidden(DEACTIVATED));
    }
    let settings = &state.accounts.config;
    let lockout = settings.lockout();
    let email_key = accounts::email_key(&account.email);
    if let accounts::Attempt::Locked { until, .. } =
        accounts::begin_attempt(&state.db, &email_key, &address, &lockout).await?
    {
        state.audit.record(&audit("locked_out")).await?;
        return Err(ApiError::TooManyRequests {
            message: LOCKED_OUT,
            retry_after: (until - chrono::Utc::now()).to_std().unwrap_or_default(),
        });
    }
    let matches = state
        .accounts
        .passwords
        .verify(current, Some(&account.password_hash))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    if !matches {
        state.audit.record(&audit("invalid_credentials")).await?;
        return Err(ApiError::Unauthorized(WRONG_PASSWORD));
    }
    accounts::clear_failures(&state.db, &email_key, &address).await?;
    Ok(Checked {
        password_hash: account.password_hash,
        _permit: permit,
    })
}

/// Changes the logged-in patient's password: the current one is checked
/// like a login ([`check_current`]), every other session ends, this one
/// continues at its next generation (returned: earlier access tokens of it
/// stop working too), and a notice email goes out.
pub async fn change(
    state: &AppState,
    client: IpAddr,
    patient_id: Uuid,
    session: SessionRef,
    current: &str,
    new: &Password,
) -> Result<SessionRef, ApiError> {
    let checked = check_current(
        state,
        client,
        patient_id,
        current,
        Action::PasswordChange,
        ApiError::Unauthorized(crate::extract::UNAUTHENTICATED),
    )
    .await?;
    let address = client.to_string();
    let audit = |outcome| Entry {
        action: Action::PasswordChange,
        outcome,
        patient_id: Some(patient_id),
        request_id: None,
        client_addr: Some(&address),
    };
    let hash = state
        .accounts
        .passwords
        .hash(new)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let event = notice(patient_id, PasswordChange::Changed);
    let Some(next) = accounts::apply_change(
        &state.db,
        patient_id,
        session,
        &checked.password_hash,
        &hash,
        &event,
    )
    .await?
    else {
        // The session ended, or the password changed, while this one was
        // being checked: nothing changed.
        state.audit.record(&audit("superseded")).await?;
        return Err(ApiError::Unauthorized(crate::extract::UNAUTHENTICATED));
    };
    let _ = state.audit.record(&audit("success")).await;
    outbox::publish_soon(state, event);
    tracing::info!(%patient_id, "password changed");
    Ok(next)
}
