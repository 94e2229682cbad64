//! `GET /api/v1/patient/profile/{patient_id}`: the patient's own profile,
//! for the bearer of a valid access token for that patient only.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Path, State},
    http::{header, HeaderMap},
    Json,
};
use serde_json::{json, Value};
use shared::audit::{self, Action, Entry};
use uuid::Uuid;

use crate::{error::ApiError, profile, AppState};

const UNAUTHENTICATED: &str = "Authentication required: a valid Bearer access token";

/// The patient the request's bearer token speaks for.
fn authenticated_patient(state: &AppState, headers: &HeaderMap) -> Result<Uuid, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::Unauthorized(UNAUTHENTICATED))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(ApiError::Unauthorized(UNAUTHENTICATED))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::Unauthorized(UNAUTHENTICATED));
    }
    let claims = state
        .accounts
        .jwt
        .verify(token.trim(), chrono::Utc::now().timestamp())
        .map_err(|e| {
            tracing::info!(reason = %e, "access token refused");
            ApiError::Unauthorized(UNAUTHENTICATED)
        })?;
    Ok(claims.sub)
}

#[tracing::instrument(name = "profile", skip_all)]
pub async fn profile(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let caller = authenticated_patient(&state, &headers)?;
    let client = client.ip().to_string();
    let requested = Uuid::parse_str(&raw_id).ok();
    let audit = |outcome| Entry {
        action: Action::ProfileRead,
        outcome,
        patient_id: requested,
        request_id: None,
        client_addr: Some(&client),
    };
    if requested != Some(caller) {
        let _ = audit::record(&state.db, &audit("forbidden")).await;
        return Err(ApiError::Forbidden("You may only read your own profile"));
    }
    let unavailable = |e: sqlx::Error| ApiError::Unavailable(e.into());
    match profile::is_active(&state.db, caller)
        .await
        .map_err(unavailable)?
    {
        None => return Err(ApiError::NotFound("Patient not found")),
        Some(false) => {
            let _ = audit::record(&state.db, &audit("deactivated")).await;
            return Err(ApiError::Forbidden("This account has been deactivated"));
        }
        Some(true) => {}
    }
    // Every read of PHI leaves a trace before the PHI leaves the building.
    audit::record(&state.db, &audit("success"))
        .await
        .map_err(unavailable)?;
    let data = profile::load(&state.db, &state.keyring, caller)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .ok_or(ApiError::NotFound("Patient not found"))?;
    Ok(Json(json!({"success": true, "data": data})))
}
