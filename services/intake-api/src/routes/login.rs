//! `POST /api/v1/patient/login`: a short-lived JWT for the right password.
//! Unknown emails and wrong passwords look the same, down to the time they
//! take; five failures for one email within the window lock it out.

use std::net::SocketAddr;

use anyhow::Context;
use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, ConnectInfo, State},
    http::HeaderMap,
    Json,
};
use serde_json::{json, Value};
use shared::{
    audit::{self, Action, Entry},
    telemetry::spawn_blocking_with_tracing,
    token::hash_token,
    validation::FieldErrors,
};

use super::json_body::{parse_body, required_str};
use crate::{accounts, error::ApiError, AppState};

const INVALID: &str = "Invalid email or password";

/// Log in
///
/// Exchanges a patient's email and password for a short-lived access token
/// (an HS256 JWT) for the `bearer_auth` scheme. An unknown email and a wrong
/// password get the same 401, in the same time. `LOGIN_MAX_FAILURES` (5)
/// failures for one email within `LOGIN_LOCKOUT_WINDOW` (15 minutes) lock
/// that email out: every attempt, even with the right password, gets 429
/// until the oldest failure leaves the window. A success clears the count.
#[utoipa::path(
    post,
    path = "/api/v1/patient/login",
    tag = "accounts",
    operation_id = "login",
    request_body(content = crate::openapi::LoginRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Logged in: the access token", body = crate::openapi::LoginResponse),
        (status = 400, description = "Malformed JSON", body = crate::openapi::ErrorResponse,
            example = json!({"success": false, "message": "Malformed JSON: expected value at line 1 column 7", "errors": {}})),
        (status = 401, description = "Unknown email or wrong password (never says which)",
            body = crate::openapi::ErrorResponse,
            headers(("WWW-Authenticate" = String, description = "`Bearer`")),
            example = json!({"success": false, "message": "Invalid email or password", "errors": {}})),
        (status = 403, description = "The password is right but the account is deactivated",
            body = crate::openapi::ErrorResponse,
            example = json!({"success": false, "message": "This account has been deactivated", "errors": {}})),
        (status = 413, description = "Body over 64 KiB", body = crate::openapi::ErrorResponse,
            example = json!({"success": false, "message": "Request body is too large (at most 64 KiB)", "errors": {}})),
        (status = 415, description = "Content-Type is not JSON", body = crate::openapi::ErrorResponse,
            example = json!({"success": false, "message": "Content-Type must be application/json", "errors": {}})),
        (status = 422, description = "`email` or `password` missing, empty or not a string",
            body = crate::openapi::ErrorResponse,
            example = json!({"success": false, "message": "Validation failed",
                "errors": {"email": ["Email is required"], "password": ["Password is required"]}})),
        (status = 429, description = "Too many failed attempts for this email: locked out",
            body = crate::openapi::ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds until the lockout ends")),
            example = json!({"success": false, "message": "Too many failed login attempts. Please try again later.", "errors": {}})),
        (status = 503, description = "A dependency is down: retry later", body = crate::openapi::ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))),
    )
)]
#[tracing::instrument(name = "login", skip_all)]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = parse_body(&headers, body)?;
    let mut errors = FieldErrors::new();
    let email = required_str(&body, "email", "Email", &mut errors);
    let password = required_str(&body, "password", "Password", &mut errors);
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::Validation(errors));
    };
    let email = email.trim().to_lowercase();
    let email_key = hash_token(&email);
    let client = client.ip().to_string();
    let audit = |outcome, patient_id| Entry {
        action: Action::Login,
        outcome,
        patient_id,
        request_id: None,
        client_addr: Some(&client),
    };
    let settings = &state.accounts.config;
    let unavailable =
        |e: sqlx::Error| ApiError::Unavailable(anyhow::Error::new(e).context("login"));

    let locked = accounts::locked_until(
        &state.db,
        &email_key,
        settings.login_max_failures,
        settings.login_lockout_window,
    )
    .await
    .map_err(unavailable)?;
    if let Some(until) = locked {
        let _ = audit::record(&state.db, &audit("locked_out", None)).await;
        let retry_after = (until - chrono::Utc::now()).to_std().unwrap_or_default();
        return Err(ApiError::TooManyRequests {
            message: "Too many failed login attempts. Please try again later.",
            retry_after,
        });
    }

    let record = accounts::find_login(&state.db, &email)
        .await
        .map_err(unavailable)?;
    // Unknown emails are checked against a dummy hash of the same cost, so
    // both failures take the time of one bcrypt verification.
    let hash = record.as_ref().map_or_else(
        || state.accounts.dummy_hash.clone(),
        |r| r.password_hash.clone(),
    );
    let password = password.to_owned();
    let matches =
        spawn_blocking_with_tracing(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
            .context("verifying a password")
            .map_err(ApiError::Internal)?;
    let record = match record {
        Some(record) if matches => record,
        other => {
            accounts::record_failure(&state.db, &email_key)
                .await
                .map_err(unavailable)?;
            let _ = audit::record(
                &state.db,
                &audit("invalid_credentials", other.map(|r| r.id)),
            )
            .await;
            return Err(ApiError::Unauthorized(INVALID));
        }
    };
    if !record.is_active {
        let _ = audit::record(&state.db, &audit("deactivated", Some(record.id))).await;
        return Err(ApiError::Forbidden("This account has been deactivated"));
    }
    accounts::clear_failures(&state.db, &email_key)
        .await
        .map_err(unavailable)?;
    audit::record(&state.db, &audit("success", Some(record.id)))
        .await
        .map_err(unavailable)?;
    let token = state
        .accounts
        .jwt
        .issue(record.id, chrono::Utc::now().timestamp());
    tracing::info!(patient_id = %record.id, "login succeeded");
    Ok(Json(json!({
        "success": true,
        "message": "Login successful",
        "data": {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": state.accounts.jwt.ttl.as_secs(),
            "patient_id": record.id,
        },
    })))
}
