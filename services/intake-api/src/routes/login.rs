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
