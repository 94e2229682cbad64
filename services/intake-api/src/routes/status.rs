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
