//! `POST /api/v1/patient/verify-email` and
//! `POST /api/v1/patient/resend-verification`. Neither says whether an
//! account exists: a bad token gets one generic answer, a resend always
//! gets the same 202.

use std::{net::SocketAddr, time::Instant};

use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, ConnectInfo, State},
    http::{HeaderMap, StatusCode},
    Json,
};
use serde_json::{json, Value};
use shared::{
    audit::{self, Action, Entry},
    broker::{persistent_json, topology},
    messages::{PatientEvent, VerificationRequestedV1},
    token::hash_token,
    validation::FieldErrors,
};
use uuid::Uuid;

use super::json_body::{parse_body, required_str};
use crate::{accounts, error::ApiError, AppState};

const INVALID_TOKEN: &str = "Invalid or expired verification token";
const RESEND_ACCEPTED: &str =
    "If an account with this email exists and is not yet verified, a new verification email has been sent.";

fn unavailable(e: impl Into<anyhow::Error>) -> ApiError {
    ApiError::Unavailable(e.into())
}

/// Verify an email address
///
/// Uses the token from the verification email's link: it works once, until
/// it expires (`VERIFICATION_TOKEN_TTL`, 24 hours by default), and only if
/// it is the patient's newest (asking for a new email revokes the earlier
/// ones). Any other token gets the same 400,
/// which never says whether an account exists.
#[utoipa::path(
    post,
    path = "/api/v1/patient/verify-email",
    tag = "accounts",
    operation_id = "verify_email",
    request_body(content = crate::openapi::VerifyEmailRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The email is verified", body = crate::openapi::VerifyEmailResponse),
        (status = 400, description = "Unknown, used, revoked or expired token; or malformed JSON",
            body = crate::openapi::ErrorResponse,
            example = json!({"success": false, "message": "Invalid or expired verification token", "errors": {}})),
        (status = 413, description = "Body over 64 KiB", body = crate::openapi::ErrorResponse,
            example = json!({"success": false, "message": "Request body is too large (at most 64 KiB)", "errors": {}})),
        (status = 415, description = "Content-Type is not JSON", body = crate::openapi::ErrorResponse,
            example = json!({"success": false, "message": "Content-Type must be application/json", "errors": {}})),
        (status = 422, description = "`token` missing, empty or not a string", body = crate::openapi::ErrorResponse,
            example = json!({"success": false, "message": "Validation failed", "errors": {"token": ["Token is required"]}})),
        (status = 503, description = "A dependency is down: retry later", body = crate::openapi::ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))),
    )
)]
#[tracing::instrument(name = "verify_email", skip_all)]
pub async fn verify_email(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = parse_body(&headers, body)?;
    let mut errors = FieldErrors::new();
    let Some(token) = required_str(&body, "token", "Token", &mut errors) else {
        return Err(ApiError::Validation(errors));
    };
    let patient = accounts::consume_verification_token(&state.db, &hash_token(token.trim()))
        .await
        .map_err(unavailable)?;
    let client = client.ip().to_string();
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
    let _ = audit::record(&state.db, &entry).await;
    let patient_id = patient.ok_or_else(|| ApiError::BadRequest(INVALID_TOKEN.into()))?;
    tracing::info!(%patient_id, "email verified");
    Ok(Json(json!({
        "success": true,
        "message": "Email verified successfully.",
        "data": {"patient_id": patient_id, "email_verified": true},
    })))
}

/// Resend the verification email
///
/// Sends a new verification email (revoking the earlier links) if an
/// active, not yet verified account has this email. The answer is the same
/// 202 whether or not one does. Rate limited per email
/// (`RESEND_LIMIT_PER_EMAIL`, 3 per hour by default) and per client address
/// (`RESEND_LIMIT_PER_CLIENT`, 20 per hour), counting requests rather than
/// accounts.
#[utoipa::path(
    post,
    path = "/api/v1/patient/resend-verification",
    tag = "accounts",
    operation_id = "resend_verification",
    request_body(content = crate::openapi::ResendVerificationRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted (the same answer for every email)",
            body = crate::openapi::ResendVerificationResponse),
        (status = 400, description = "Malformed JSON", body = crate::openapi::ErrorResponse,
            example = json!({"success": false, "message": "Malformed JSON: expected value at line 1 column 7", "errors": {}})),
        (status = 413, description = "Body over 64 KiB", body = crate::openapi::ErrorResponse,
            example = json!({"success": false, "message": "Request body is too large (at most 64 KiB)", "errors": {}})),
        (status = 415, description = "Content-Type is not JSON", body = crate::openapi::ErrorResponse,
            example = json!({"success": false, "message": "Content-Type must be application/json", "errors": {}})),
        (status = 422, description = "`email` missing, empty or not a string", body = crate::openapi::ErrorResponse,
            example = json!({"success": false, "message": "Validation failed", "errors": {"email": ["Email is required"]}})),
        (status = 429, description = "Too many requests for this email or from this client address",
            body = crate::openapi::ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds to wait before asking again")),
            example = json!({"success": false, "message": "Too many verification emails requested. Please try again later.", "errors": {}})),
        (status = 503, description = "A dependency is down: retry later", body = crate::openapi::ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))),
    )
)]
#[tracing::instrument(name = "resend_verification", skip_all)]
pub async fn resend_verification(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = parse_body(&headers, body)?;
    let mut errors = FieldErrors::new();
    let Some(email) = required_str(&body, "email", "Email", &mut errors) else {
        return Err(ApiError::Validation(errors));
    };
    let email = email.trim().to_lowercase();
    let now = Instant::now();
    // Limits count requests, not accounts: they say nothing about existence.
    for limited in [
        state.accounts.resend_per_client.check(client.ip(), now),
        state
            .accounts
            .resend_per_email
            .check(hash_token(&email), now),
    ] {
        if let Err(retry_after) = limited {
            return Err(ApiError::TooManyRequests {
                message: "Too many verification emails requested. Please try again later.",
                retry_after,
            });
        }
    }
    let patient = accounts::unverified_patient(&state.db, &email)
        .await
        .map_err(unavailable)?;
    if let Some(patient_id) = patient {
        let event_id = Uuid::new_v4();
        let event = PatientEvent::VerificationRequested(VerificationRequestedV1 {
            event_id,
            patient_id,
            requested_at: chrono::Utc::now(),
        });
        let bytes = serde_json::to_vec(&event).map_err(|e| ApiError::Internal(e.into()))?;
        state
            .broker
            .publish(
                topology::EVENTS_EXCHANGE,
                topology::VERIFICATION_REQUESTED,
                &bytes,
                persistent_json("verification.requested.v1", event_id, event_id),
            )
            .await
            .map_err(unavailable)?;
    }
    let client = client.ip().to_string();
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
    let _ = audit::record(&state.db, &entry).await;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"success": true, "message": RESEND_ACCEPTED, "data": {}})),
    ))
}
