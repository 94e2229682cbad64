//! `POST /api/v1/patient/register`: parse, record, publish with a confirm,
//! and only then answer 202; or, with `Prefer: wait=N`, wait up to N
//! seconds for the outcome and answer 201 or 422 as a synchronous API would.

use std::net::SocketAddr;

use anyhow::Context;
use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, ConnectInfo, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;
use shared::{
    broker::{persistent_json, topology},
    domain::parse_registration,
    messages::{registration_context, RegistrationRequested, RegistrationRequestedV1},
};
use uuid::Uuid;

use super::json_body::parse_body;
use crate::{
    error::ApiError,
    outcomes::Waiter,
    prefer::requested_wait,
    requests::{self, RequestStatus},
    AppState,
};

/// Register a patient
///
/// Checks the body's shape, records the request and queues it, then answers
/// 202 with a status URL to poll. With `Prefer: wait=N` it waits up to N
/// seconds (at most 30) for the outcome and answers 201 or 422 like a
/// synchronous API, or 202 if the outcome takes longer.
#[utoipa::path(
    post,
    path = "/api/v1/patient/register",
    tag = "registration",
    operation_id = "register",
    request_body(
        content = crate::openapi::RegisterRequest,
        content_type = "application/json",
        example = json!(crate::openapi::register_example()),
    ),
    params(
        ("Prefer" = Option<String>, Header, example = "wait=10",
            description = "`wait=N`: wait up to N seconds (capped at 30) for the outcome"),
    ),
    responses(
        (status = 202, description = "Accepted: poll the status URL",
            body = crate::openapi::AcceptedResponse, headers(
                ("Location" = String, description = "The status URL"),
                ("Retry-After" = u32, description = "Seconds to wait before polling"),
                ("Preference-Applied" = String, description = "`wait=N`, when `Prefer: wait=N` was sent"),
            )),
        (status = 201, description = "Registered (only with `Prefer: wait=N`)",
            body = crate::openapi::CreatedResponse, headers(
                ("Preference-Applied" = String, description = "The wait applied, e.g. `wait=10`"),
            )),
        (status = 400, description = "Malformed JSON", body = crate::openapi::ErrorResponse,
            example = json!({"success": false, "message": "Malformed JSON: expected value at line 1 column 7", "errors": {}})),
        (status = 413, description = "Body over 64 KiB", body = crate::openapi::ErrorResponse,
            example = json!({"success": false, "message": "Request body is too large (at most 64 KiB)", "errors": {}})),
        (status = 415, description = "Content-Type is not JSON", body = crate::openapi::ErrorResponse,
            example = json!({"success": false, "message": "Content-Type must be application/json", "errors": {}})),
        (status = 422, description = "Validation failed: messages by field (with `Prefer: wait=N`, \
            also a duplicate email or phone number)", body = crate::openapi::ErrorResponse,
            example = json!({"success": false, "message": "Validation failed", "errors": {"email": ["Email is already registered"]}})),
        (status = 503, description = "A dependency is down: retry later", body = crate::openapi::ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))),
    )
)]
#[tracing::instrument(name = "register", skip_all, fields(request_id))]
pub async fn register(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = parse_body(&headers, body)?;
    let today = chrono::Utc::now().date_naive();
    parse_registration(&body, today).map_err(ApiError::Validation)?;

    let request_id = Uuid::new_v4();
    tracing::Span::current().record("request_id", tracing::field::display(request_id));
    requests::insert_pending(&state.db, request_id, &client.ip().to_string())
        .await
        .context("recording a registration request")
        .map_err(ApiError::Unavailable)?;

    // Subscribe before publishing: the outcome may come before we look.
    let wait = requested_wait(&headers).map(|d| (d, state.outcomes.subscribe(request_id)));

    let message = RegistrationRequested::V1(RegistrationRequestedV1 {
        request_id,
        submitted_at: chrono::Utc::now(),
        registration: state
            .keyring
            .seal_json(&body, &registration_context(request_id)),
    });
    let bytes = serde_json::to_vec(&message)
        .context("encoding a message")
        .map_err(ApiError::Internal)?;
    let properties = persistent_json("registration.requested.v1", request_id, request_id);
    if let Err(e) = state
        .broker
        .publish(
            topology::REGISTRATION_EXCHANGE,
            topology::REGISTRATION_REQUESTED,
            &bytes,
            properties,
        )
        .await
    {
        if let Err(db_err) = requests::mark_not_accepted(&state.db, request_id).await {
            tracing::error!(error = %db_err, "could not mark an unaccepted request as failed");
        }
        return Err(ApiError::Unavailable(e.into()));
    }
    tracing::info!("registration accepted");
    match wait {
        None => Ok(accepted(request_id)),
        Some((duration, waiter)) => {
            let mut response = wait_for_outcome(&state, request_id, &waiter, duration).await?;
            let applied = format!("wait={}", duration.as_secs());
            if let Ok(value) = HeaderValue::from_str(&applied) {
                response.headers_mut().insert("preference-applied", value);
            }
            Ok(response)
        }
    }
}

/// Sleeps until the request settles or the wait runs out; woken by
/// Postgres notifications, never by polling.
async fn wait_for_outcome(
    state: &AppState,
    request_id: Uuid,
    waiter: &Waiter,
    wait: std::time::Duration,
) -> Result<Response, ApiError> {
    let deadline = tokio::time::Instant::now() + wait;
    while tokio::time::timeout_at(deadline, waiter.changed())
        .await
        .is_ok()
    {
        let status = requests::find_status(&state.db, request_id)
            .await
            .context("reading a registration outcome")
            .map_err(ApiError::Unavailable)?;
        match status {
            Some(RequestStatus {
                status,
                errors: Some(errors),
                ..
            }) if status == "rejected" => {
                return Ok(ApiError::Validation(errors).into_response());
            }
            Some(done) if done.status == "completed" => return Ok(created(&done)),
            _ => {}
        }
    }
    Ok(accepted(request_id))
}

/// The synchronous contract's 201.
fn created(done: &RequestStatus) -> Response {
    let body = json!({
        "success": true,
        "message": "Patient registered successfully. Verification email sent.",
        "data": {
            "patient_id": done.patient_id,
            "email": done.email,
            "phone_number": done.phone_number,
            "email_verified": done.email_verified.unwrap_or(false),
            "phone_verified": done.phone_verified.unwrap_or(false),
        },
    });
    (StatusCode::CREATED, Json(body)).into_response()
}

fn accepted(request_id: Uuid) -> Response {
    let status_url = format!("/api/v1/patient/registrations/{request_id}");
    let body = json!({
        "success": true,
        "message": "Registration accepted for processing.",
        "data": {"request_id": request_id, "status": "pending", "status_url": status_url},
    });
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&status_url) {
        headers.insert(header::LOCATION, location);
    }
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}
