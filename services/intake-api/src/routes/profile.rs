//! `GET /api/v1/patient/profile/{patient_id}`: the patient's own profile,
//! for the bearer of a valid access token for that patient only.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Path, State},
    http::HeaderMap,
    Json,
};
use serde_json::{json, Value};
use shared::audit::{self, Action, Entry};
use uuid::Uuid;

use crate::{error::ApiError, profile, AppState};

const UNAUTHENTICATED: &str = "Authentication required: a valid Bearer access token";

/// The patient the request's bearer token speaks for.
fn authenticated_patient(state: &AppState, headers: &HeaderMap) -> Result<Uuid, ApiError> {
    let token = crate::auth::bearer(headers).ok_or(ApiError::Unauthorized(UNAUTHENTICATED))?;
    let claims = state
        .accounts
        .jwt
        .verify(token, chrono::Utc::now().timestamp())
        .map_err(|e| {
            tracing::info!(reason = %e, "access token refused");
            ApiError::Unauthorized(UNAUTHENTICATED)
        })?;
    Ok(claims.sub)
}

/// Read the patient's own profile
///
/// Needs an access token from login (`Authorization: Bearer <token>`) for
/// this very patient. Every read is audited. The sealed fields (emergency
/// contact, medical history, insurance) are returned decrypted; the
/// password hash never is.
#[utoipa::path(
    get,
    path = "/api/v1/patient/profile/{patient_id}",
    tag = "profile",
    operation_id = "profile",
    params(("patient_id" = String, Path, format = Uuid,
        description = "The token's own patient (`data.patient_id` from login)")),
    security(("bearer_auth" = [])),
    responses(
        (status = 200, description = "The profile", body = crate::openapi::ProfileResponse),
        (status = 401, description = "No access token, or one that is malformed, badly signed or expired",
            body = crate::openapi::ErrorResponse,
            headers(("WWW-Authenticate" = String, description = "`Bearer`")),
            example = json!({"success": false, "message": "Authentication required: a valid Bearer access token", "errors": {}})),
        (status = 403, description = "Another patient's profile (or an id that is not a UUID), \
            or the account is deactivated", body = crate::openapi::ErrorResponse,
            examples(
                ("Another patient" = (value = json!({"success": false, "message": "You may only read your own profile", "errors": {}}))),
                ("Deactivated" = (value = json!({"success": false, "message": "This account has been deactivated", "errors": {}}))),
            )),
        (status = 404, description = "The token's patient no longer exists", body = crate::openapi::ErrorResponse,
            example = json!({"success": false, "message": "Patient not found", "errors": {}})),
        (status = 503, description = "A dependency is down: retry later", body = crate::openapi::ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))),
    )
)]
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
    let row = profile::find(&state.db, caller)
        .await
        .map_err(unavailable)?
        .ok_or(ApiError::NotFound("Patient not found"))?;
    if !row.is_active {
        let _ = audit::record(&state.db, &audit("deactivated")).await;
        return Err(ApiError::Forbidden("This account has been deactivated"));
    }
    // Every read of PHI leaves a trace before the PHI leaves the building.
    audit::record(&state.db, &audit("success"))
        .await
        .map_err(unavailable)?;
    let data = row.open(&state.keyring).map_err(|e| {
        ApiError::Internal(anyhow::Error::new(e).context("a sealed column could not be opened"))
    })?;
    Ok(Json(json!({"success": true, "data": data})))
}
