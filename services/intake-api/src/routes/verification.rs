//! `POST /api/v1/patient/verify-email` and
//! `POST /api/v1/patient/resend-verification`. Neither says whether an
//! account exists: a bad token gets one generic answer, a resend always
//! gets the same 202.

use std::time::Instant;

use axum::{extract::State, http::StatusCode, response::Response};
use serde::{Deserialize, Serialize};
use shared::{
    audit::{Action, Entry},
    domain::Email,
    messages::{PatientEvent, VerificationRequestedV1},
    token::hash_token,
    validation::FieldErrors,
};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    accounts,
    error::ApiError,
    extract::{ClientAddr, RequestBody, Text, Valid},
    wire::{
        responses::{
            Internal, JsonBodyErrors, PayloadTooLarge, RateLimited, TimedOut, Unavailable,
            UnsupportedMediaType,
        },
        Empty, ErrorBody, Success,
    },
    AppState,
};

const INVALID_TOKEN: &str = "Invalid or expired verification token";
const RESEND_ACCEPTED: &str =
    "If an account with this email exists and is not yet verified, a new verification email has been sent.";
const RESEND_LIMITED: &str = "Too many verification emails requested. Please try again later.";

/// The token from the verification email's link (`...?token=...`).
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"token": "G1qmJoYazzF9QoirHvKi3IhZDjP4Qlm-0nACStq4kH8"}))]
pub struct VerifyEmailRequest {
    /// Surrounding spaces ignored.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, pattern = r"\S")]
    token: Text,
}

/// A token as the database looks it up: its SHA-256.
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// A body's `token`: required; surrounding spaces ignored.
    pub fn of(token: Text) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let token = token.required("token", "Token", &mut errors);
        token.map(|t| Self(hash_token(t.trim()))).ok_or(errors)
    }
}

impl RequestBody for VerifyEmailRequest {
    type Valid = TokenHash;

    fn validate(self) -> Result<TokenHash, FieldErrors> {
        TokenHash::of(self.token)
    }
}

/// 200 from verify-email.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifiedEmail {
    patient_id: Uuid,
    #[schema(example = true)]
    email_verified: bool,
}

/// Verify an email address
///
/// Uses the token from the verification email's link: it works once, until
/// it expires (`VERIFICATION_TOKEN_TTL`, 24 hours by default), and only if
/// it is the patient's newest (asking for a new email revokes the earlier
/// ones). Any other token gets the same 400 (a business outcome), which
/// never says whether an account exists. At most
/// `TOKEN_RATE_LIMIT_PER_CLIENT` (60) attempts a minute from one address.
#[utoipa::path(
    post,
    path = "/api/v1/patient/verify-email",
    tag = "accounts",
    operation_id = "verify_email",
    request_body(content = VerifyEmailRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The email is verified", body = Success<VerifiedEmail>),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 400, description = "Unknown, used, revoked or expired token; or malformed JSON",
            body = ErrorBody, examples(
                ("Invalid token" = (value = json!(ApiError::BadRequest(INVALID_TOKEN.into()).body()))),
                ("Malformed JSON" = (value = json!(ApiError::BadRequest(
                    "Malformed JSON: expected value at line 1 column 7".into()).body()))),
            )),
        (status = 422, description = "`token` missing, blank or not a string", body = ErrorBody,
            example = json!(ApiError::Validation(FieldErrors::single("token", "Token is required")).body())),
        (status = 429, response = RateLimited),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(name = "verify_email", skip_all)]
pub async fn verify_email(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Valid(TokenHash(token_hash)): Valid<VerifyEmailRequest>,
) -> Result<Success<VerifiedEmail>, ApiError> {
    let patient_id = verify(&state, client, &token_hash).await?;
    Ok(Success::new(
        "Email verified successfully.",
        VerifiedEmail {
            patient_id,
            email_verified: true,
        },
    ))
}

/// Uses a verification token (the API and the page's form alike): the
/// patient whose email it verified, or the one generic 400.
pub async fn verify(
    state: &AppState,
    client: std::net::IpAddr,
    token_hash: &[u8; 32],
) -> Result<Uuid, ApiError> {
    crate::passwords::throttle_tokens(state, client)?;
    let consumed = accounts::consume_verification_token(&state.db, token_hash).await?;
    let patient = consumed.as_ref().map(|(id, _)| *id);
    if let Some((_, Some(event))) = consumed {
        crate::outbox::publish_soon(state, event);
    }
    // The token is used by now: a failed audit write is logged (error
    // level, in `shared::audit`), not answered with 503, or a retry would
    // be told the token is invalid.
    let client = client.to_string();
    let entry = Entry {
        action: Action::EmailVerification,
        outcome: if patient.is_some() {
            "success"
        } else {
            "invalid_token"
        },
        patient_id: patient,
        request_id: None,
        client_addr: Some(&client),
    };
    let _ = state.audit.record(&entry).await;
    let patient_id = patient.ok_or_else(|| ApiError::BadRequest(INVALID_TOKEN.into()))?;
    tracing::info!(%patient_id, "email verified");
    Ok(patient_id)
}

/// Whose verification email to send again.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"email": "jane.smith@email.com"}))]
pub struct ResendVerificationRequest {
    /// A valid email address, compared case-insensitively, surrounding
    /// spaces ignored.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = Email, min_length = 3, max_length = 254,
        example = "jane.smith@email.com")]
    email: Text,
}

impl RequestBody for ResendVerificationRequest {
    type Valid = Email;

    fn validate(self) -> Result<Email, FieldErrors> {
        email_field(self.email)
    }
}

/// A body's `email`: required, and a valid address (resend and
/// forgot-password alike).
pub fn email_field(email: Text) -> Result<Email, FieldErrors> {
    let mut errors = FieldErrors::new();
    let raw = email
        .required("email", "Email", &mut errors)
        .ok_or(errors)?;
    Email::parse(&raw).map_err(|messages| {
        let mut errors = FieldErrors::new();
        errors.add_all("email", messages);
        errors
    })
}

/// Resend the verification email
///
/// Sends a new verification email (revoking the earlier links) if an
/// active, not yet verified account has this email. The answer is the same
/// 202 for every valid address, whether or not one does. Rate limited per
/// email (`RESEND_LIMIT_PER_EMAIL`, 3 per hour by default) and per client
/// address (`RESEND_LIMIT_PER_CLIENT`, 20 per hour), counting requests
/// rather than accounts.
#[utoipa::path(
    post,
    path = "/api/v1/patient/resend-verification",
    tag = "accounts",
    operation_id = "resend_verification",
    request_body(content = ResendVerificationRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted (the same answer for every valid email)",
            body = Success<Empty>, example = json!(Success::new(RESEND_ACCEPTED, Empty {}))),
        JsonBodyErrors,
        (status = 422, description = "`email` missing, blank, not a string or not a valid \
            email address", body = ErrorBody,
            example = json!(ApiError::Validation(FieldErrors::single("email", "Email is required")).body())),
        (status = 429, description = "Too many requests for this email or from this client address",
            body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before asking again")),
            example = json!(ApiError::TooManyRequests { message: RESEND_LIMITED,
                retry_after: std::time::Duration::from_secs(3600) }.body())),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(name = "resend_verification", skip_all)]
pub async fn resend_verification(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Valid(email): Valid<ResendVerificationRequest>,
) -> Result<Response, ApiError> {
    let now = Instant::now();
    // Limits count requests, not accounts: they say nothing about existence.
    // The address first: an email's bucket is made only for a valid email
    // from an address still within its limit.
    let limited = |retry_after| ApiError::TooManyRequests {
        message: RESEND_LIMITED,
        retry_after,
    };
    state
        .accounts
        .resend_per_client
        .check(client, now)
        .map_err(limited)?;
    state
        .accounts
        .resend_per_email
        .check(hash_token(email.as_str()), now)
        .map_err(limited)?;
    let patient = accounts::unverified_patient(&state.db, email.as_str()).await?;
    // The row first: a retry after a failed write sends no second email.
    let client = client.to_string();
    let entry = Entry {
        action: Action::VerificationResend,
        outcome: if patient.is_some() {
            "sent"
        } else {
            "not_applicable"
        },
        patient_id: patient,
        request_id: None,
        client_addr: Some(&client),
    };
    state.audit.record(&entry).await?;
    if let Some(patient_id) = patient {
        let event_id = Uuid::new_v4();
        let event = PatientEvent::VerificationRequested(VerificationRequestedV1 {
            event_id,
            patient_id,
            requested_at: chrono::Utc::now(),
        });
        state
            .broker
            .publish_message(&event)
            .await
            .map_err(|e| ApiError::Unavailable(e.into()))?;
    }
    Ok(Success::new(RESEND_ACCEPTED, Empty {}).with_status(StatusCode::ACCEPTED))
}
