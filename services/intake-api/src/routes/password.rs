//! Password recovery and change: `POST /api/v1/patient/forgot-password`,
//! `POST /api/v1/patient/reset-password` and
//! `POST /api/v1/patient/change-password`.

use std::time::{Duration, Instant};

use axum::{extract::State, http::StatusCode, response::Response};
use serde::Deserialize;
use shared::{
    audit::{Action, Entry},
    domain::{Email, Password},
    messages::{PatientEvent, VerificationRequestedV1},
    token::hash_token,
    validation::FieldErrors,
};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    accounts,
    error::ApiError,
    extract::{AuthSession, ClientAddr, RequestBody, Text, Valid},
    outbox,
    passwords::{self, INVALID_RESET_TOKEN, THROTTLED, WRONG_PASSWORD},
    routes::login::AccessToken,
    wire::{
        responses::{Internal, JsonBodyErrors, PasswordBusy, PasswordLimited, TimedOut},
        Empty, ErrorBody, Success,
    },
    AppState,
};

const FORGOT_ACCEPTED: &str =
    "If an active account with this email exists, a password reset email has been sent.";
const FORGOT_LIMITED: &str = "Too many password reset emails requested. Please try again later.";
/// forgot-password answers no sooner than this, whether or not an email
/// goes out, so its time says nothing about the account either.
const FORGOT_MIN_TIME: Duration = Duration::from_millis(250);

/// Whose password to reset.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"email": "jane.smith@email.com"}))]
pub struct ForgotPasswordRequest {
    /// A valid email address, compared case-insensitively, surrounding
    /// spaces ignored.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = Email, min_length = 3, max_length = 254,
        example = "jane.smith@email.com")]
    email: Text,
}

impl RequestBody for ForgotPasswordRequest {
    type Valid = Email;

    fn validate(self) -> Result<Email, FieldErrors> {
        crate::routes::verification::email_field(self.email)
    }
}

/// Ask for a password reset email
///
/// If an active account has this email, emails it a link to
/// `{PUBLIC_BASE_URL}/reset-password?token=…` (single use, valid for
/// `PASSWORD_RESET_TOKEN_TTL`, one hour by default; a newer request revokes
/// the earlier links). The answer is the same 202, in about the same time,
/// whether or not one does. Rate limited per email
/// (`PASSWORD_RESET_LIMIT_PER_EMAIL`, 3 per hour) and per client address
/// (`PASSWORD_RESET_LIMIT_PER_CLIENT`, 20 per hour), counting requests
/// rather than accounts.
#[utoipa::path(
    post,
    path = "/api/v1/patient/forgot-password",
    tag = "accounts",
    operation_id = "forgot_password",
    request_body(content = ForgotPasswordRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted (the same answer for every valid email)",
            body = Success<Empty>, example = json!(Success::new(FORGOT_ACCEPTED, Empty {}))),
        JsonBodyErrors,
        (status = 422, description = "`email` missing, blank, not a string or not a valid \
            email address", body = ErrorBody,
            example = json!(ApiError::Validation(FieldErrors::single("email", "Email is required")).body())),
        (status = 429, description = "Too many requests for this email or from this client address",
            body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before asking again")),
            example = json!(ApiError::TooManyRequests { message: FORGOT_LIMITED,
                retry_after: std::time::Duration::from_secs(3600) }.body())),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = crate::wire::responses::Unavailable),
    )
)]
#[tracing::instrument(name = "forgot_password", skip_all)]
pub async fn forgot_password(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Valid(email): Valid<ForgotPasswordRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let answer = send_reset(&state, client, &email).await;
    // Both outcomes take at least as long; errors too, so a 503 says no more.
    tokio::time::sleep_until((started + FORGOT_MIN_TIME).into()).await;
    answer?;
    Ok(Success::new(FORGOT_ACCEPTED, Empty {}).with_status(StatusCode::ACCEPTED))
}

async fn send_reset(
    state: &AppState,
    client: std::net::IpAddr,
    email: &Email,
) -> Result<(), ApiError> {
    let now = Instant::now();
    let limited = |retry_after| ApiError::TooManyRequests {
        message: FORGOT_LIMITED,
        retry_after,
    };
    // The address first: an email's bucket is made only for a valid email
    // from an address still within its limit.
    let accounts = &state.accounts;
    accounts
        .reset_per_client
        .check(client, now)
        .map_err(limited)?;
    accounts
        .reset_per_email
        .check(hash_token(email.as_str()), now)
        .map_err(limited)?;
    let patient = accounts::active_patient(&state.db, email.as_str()).await?;
    let client = client.to_string();
    // The row first: a retry after a failed write sends no second email.
    state
        .audit
        .record(&Entry {
            action: Action::PasswordResetRequest,
            outcome: if patient.is_some() {
                "sent"
            } else {
                "not_applicable"
            },
            patient_id: patient,
            request_id: None,
            client_addr: Some(&client),
        })
        .await?;
    if let Some(patient_id) = patient {
        let event = PatientEvent::PasswordResetRequested(VerificationRequestedV1 {
            event_id: Uuid::new_v4(),
            patient_id,
            requested_at: chrono::Utc::now(),
        });
        // Through the outbox: with RabbitMQ down the answer is still the
        // same 202 (a 503 for known accounts only would tell them apart),
        // and the relay sends the email once it is back.
        let mut conn = state.db.acquire().await?;
        outbox::stage(&mut conn, &event.clone().into()).await?;
        drop(conn);
        outbox::publish_soon(state, event);
    }
    Ok(())
}

/// A reset token and the new password.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"token": "G1qmJoYazzF9QoirHvKi3IhZDjP4Qlm-0nACStq4kH8",
    "password": "NewSecurePassword456!", "confirm_password": "NewSecurePassword456!"}))]
pub struct ResetPasswordRequest {
    /// The token from the reset email's link (`...?token=...`); surrounding
    /// spaces ignored.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 512, pattern = r"\S")]
    token: Text,
    /// The registration's rules: 8 or more characters, at most 72 bytes,
    /// an uppercase and a lowercase letter, a digit and a special character.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = Password, min_length = 8, max_length = 72,
        pattern = r"^(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9])(?=.*[^A-Za-z0-9])[\x20-\x7E]{8,72}$",
        example = "NewSecurePassword456!")]
    password: Text,
    /// Equal to `password`, byte for byte.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = Password, min_length = 8, max_length = 72,
        pattern = r"^(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9])(?=.*[^A-Za-z0-9])[\x20-\x7E]{8,72}$",
        example = "NewSecurePassword456!")]
    confirm_password: Text,
}

/// A reset as the handler needs it.
pub struct Reset {
    token: String,
    password: Password,
}

impl RequestBody for ResetPasswordRequest {
    type Valid = Reset;

    fn validate(self) -> Result<Reset, FieldErrors> {
        let mut errors = FieldErrors::new();
        let token = self.token.required("token", "Token", &mut errors);
        let password = passwords::new_password(
            self.password,
            self.confirm_password,
            "password",
            "Password",
            &mut errors,
        );
        match (token, password) {
            (Some(token), Some(password)) if errors.is_empty() => Ok(Reset { token, password }),
            _ => Err(errors),
        }
    }
}

/// Reset a forgotten password
///
/// Sets a new password with the token from the reset email. The token
/// works once, within `PASSWORD_RESET_TOKEN_TTL`, and only if it is the
/// patient's newest; any other gets one generic 400. On success every
/// session of the patient ends (refresh and access tokens), the login
/// lockout is cleared and a "your password was changed" email goes out.
/// Throttled like a login (`LOGIN_RATE_LIMIT_PER_CLIENT`, then
/// `PASSWORD_VERIFY_MAX_CONCURRENT`).
#[utoipa::path(
    post,
    path = "/api/v1/patient/reset-password",
    tag = "accounts",
    operation_id = "reset_password",
    request_body(content = ResetPasswordRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The password is changed; log in with it",
            body = Success<Empty>, example = json!(Success::new(RESET_DONE, Empty {}))),
        (status = 413, response = crate::wire::responses::PayloadTooLarge),
        (status = 415, response = crate::wire::responses::UnsupportedMediaType),
        (status = 400, description = "Unknown, used, revoked or expired token; or malformed JSON",
            body = ErrorBody, examples(
                ("Invalid token" = (value = json!(ApiError::BadRequest(INVALID_RESET_TOKEN.into()).body()))),
                ("Malformed JSON" = (value = json!(ApiError::BadRequest(
                    "Malformed JSON: expected value at line 1 column 7".into()).body()))),
            )),
        (status = 422, description = "The password breaks a rule, or the confirmation differs; \
            every message at once", body = ErrorBody,
            example = json!(ApiError::Validation(FieldErrors::single("password",
                "Password must contain a special character")).body())),
        (status = 429, description = "Too many attempts from this address", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait")),
            example = json!(ApiError::TooManyRequests { message: THROTTLED,
                retry_after: std::time::Duration::from_secs(3) }.body())),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = PasswordBusy),
    )
)]
#[tracing::instrument(name = "reset_password", skip_all)]
pub async fn reset_password(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Valid(Reset { token, password }): Valid<ResetPasswordRequest>,
) -> Result<Success<Empty>, ApiError> {
    passwords::reset(&state, client, &token, &password).await?;
    Ok(Success::new(RESET_DONE, Empty {}))
}

pub const RESET_DONE: &str = "Your password has been reset. You can now log in with it.";

/// The current password and the new one.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"current_password": "SecurePassword123!",
    "new_password": "NewSecurePassword456!", "confirm_password": "NewSecurePassword456!"}))]
pub struct ChangePasswordRequest {
    #[serde(default)]
    #[schema(value_type = String, required = true, format = Password, min_length = 1, pattern = r"\S")]
    current_password: Text,
    /// The registration's rules, as for `password` at registration.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = Password, min_length = 8, max_length = 72,
        pattern = r"^(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9])(?=.*[^A-Za-z0-9])[\x20-\x7E]{8,72}$",
        example = "NewSecurePassword456!")]
    new_password: Text,
    /// Equal to `new_password`, byte for byte.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = Password, min_length = 8, max_length = 72,
        pattern = r"^(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9])(?=.*[^A-Za-z0-9])[\x20-\x7E]{8,72}$",
        example = "NewSecurePassword456!")]
    confirm_password: Text,
}

pub struct Change {
    current: String,
    new: Password,
}

impl RequestBody for ChangePasswordRequest {
    type Valid = Change;

    fn validate(self) -> Result<Change, FieldErrors> {
        let mut errors = FieldErrors::new();
        let current =
            self.current_password
                .required("current_password", "Current password", &mut errors);
        let new = passwords::new_password(
            self.new_password,
            self.confirm_password,
            "new_password",
            "New password",
            &mut errors,
        );
        match (current, new) {
            (Some(current), Some(new)) if errors.is_empty() => Ok(Change { current, new }),
            _ => Err(errors),
        }
    }
}

/// Change the password
///
/// For the logged-in patient, who gives the current password: checked like
/// a login (the same throttles, and a wrong one counts towards the
/// lockout). Every other session of the patient ends; this one continues
/// with the access token returned here (earlier access tokens of it stop
/// working; its refresh token still works). A "your password was changed"
/// email goes out.
#[utoipa::path(
    post,
    path = "/api/v1/patient/change-password",
    tag = "accounts",
    operation_id = "change_password",
    request_body(content = ChangePasswordRequest, content_type = "application/json"),
    security(("bearer_auth" = [])),
    responses(
        (status = 200, description = "Changed: a new access token for this session",
            body = Success<AccessToken>),
        JsonBodyErrors,
        (status = 401, description = "No valid access token, or a wrong current password",
            body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`")),
            examples(
                ("Wrong password" = (value = json!(ApiError::Unauthorized(WRONG_PASSWORD).body()))),
                ("No token" = (value = json!(ApiError::Unauthorized(crate::extract::UNAUTHENTICATED).body()))),
            )),
        (status = 403, description = "The account is deactivated", body = ErrorBody,
            example = json!(ApiError::Forbidden(passwords::DEACTIVATED).body())),
        (status = 422, description = "A field missing, or the new password breaks a rule, or \
            the confirmation differs; every message at once", body = ErrorBody,
            example = json!(ApiError::Validation(FieldErrors::single("new_password",
                "Password must contain a number")).body())),
        (status = 429, response = PasswordLimited),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = PasswordBusy),
    )
)]
#[tracing::instrument(name = "change_password", skip_all)]
pub async fn change_password(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    auth: AuthSession,
    Valid(Change { current, new }): Valid<ChangePasswordRequest>,
) -> Result<Success<AccessToken>, ApiError> {
    let next = passwords::change(
        &state,
        client,
        auth.patient_id,
        auth.session,
        &current,
        &new,
    )
    .await?;
    Ok(Success::new(
        "Password changed. Your other sessions have been signed out.",
        AccessToken::issue(&state.accounts, auth.patient_id, next),
    ))
}
