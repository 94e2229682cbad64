//! `GET /api/v1/patient/registrations/{request_id}`: what clients poll.

use anyhow::Context;
use axum::{
    extract::{Path, State},
    Json,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{error::ApiError, requests, AppState};

const NOT_FOUND: &str = "Registration request not found";

/// Poll a registration
///
/// `pending` until a worker has handled it, then `completed` (with the
/// patient), `rejected` (with `errors`) or `failed` (submit it again).
#[utoipa::path(
    get,
    path = "/api/v1/patient/registrations/{request_id}",
    tag = "registration",
    operation_id = "registration_status",
    params(("request_id" = String, Path, format = Uuid, description = "From the 202's `data.request_id`")),
    responses(
        (status = 200, description = "The request's status", body = crate::openapi::StatusResponse),
        (status = 404, description = "No such request", body = crate::openapi::ErrorResponse,
            example = json!({"success": false, "message": "Registration request not found", "errors": {}})),
        (status = 503, description = "A dependency is down: retry later", body = crate::openapi::ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))),
    )
)]
pub async fn status(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    // An id that is not a UUID cannot exist: same answer as an unknown one.
    let id = Uuid::parse_str(&raw_id).map_err(|_| ApiError::NotFound(NOT_FOUND))?;
    let found = requests::find_status(&state.db, id)
        .await
        .context("reading a registration status")
        .map_err(ApiError::Unavailable)?;
    let status = found.ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(Json(json!({"success": true, "data": status})))
}
