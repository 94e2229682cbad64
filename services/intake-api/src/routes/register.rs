//! `POST /api/v1/patient/register`: parse, record, publish with a confirm,
//! and only then answer 202; or, with `Prefer: wait=N`, wait up to N
//! seconds for the outcome and answer 201 or 422 as a synchronous API would.

use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use shared::{
    audit::{Action, Entry},
    domain::{parse_registration, RegistrationBody},
    validation::{FieldErrors, EMAIL_TAKEN},
};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    accept::accept,
    admission::Admitted,
    error::ApiError,
    extract::{Caller, JsonBody},
    idempotency::{self, Claim},
    outcomes::Waiter,
    prefer::requested_wait,
    requests::{self, RequestState, RequestStatus},
    wire::{
        responses::{Internal, PayloadTooLarge, RateLimited, TimedOut, UnsupportedMediaType},
        ErrorBody, Success,
    },
    AppState,
};

const INVALID_IDEMPOTENCY_KEY: &str = "Idempotency-Key must be 1 to 255 printable ASCII characters";
const IDEMPOTENCY_IN_PROGRESS: &str =
    "A request with this Idempotency-Key is still being accepted; retry shortly";

/// Register a patient
///
/// Checks the body's shape, records the request and queues it, then answers
/// 202 with a status URL to poll. With `Prefer: wait=N` it waits up to N
/// seconds (at most 30) for the outcome and answers 201 or 422 like a
/// synchronous API, or 202 if the outcome takes longer.
///
/// **Partners** authenticate with their API key, in `X-API-Key` (the
/// `api_key` scheme) or as `Authorization: Bearer <key>`. Without a key
/// anyone may register, unless the server runs with
/// `REQUIRE_PARTNER_KEY=true`; a key that is sent must be valid. Callers are
/// rate limited: partners per key (`REGISTER_RATE_LIMIT_PER_PARTNER`),
/// others per client address (`REGISTER_RATE_LIMIT_PER_CLIENT`).
///
/// **Retries** are safe with `Idempotency-Key`: keys are scoped to the
/// partner (callers without a key share one scope) and kept at least 24
/// hours. A retry with the same key and the same body (field order aside) is
/// not queued again: it gets a 202 with `Idempotent-Replayed: true`, the
/// first request's `request_id` and its current status, even with
/// `Prefer: wait=N`. The same key with a different body gets 422; a retry
/// while the first request is still being accepted gets 409.
#[utoipa::path(
    post,
    path = "/api/v1/patient/register",
    tag = "registration",
    operation_id = "register",
    request_body(content = RegistrationBody, content_type = "application/json",
        example = json!(shared::domain::registration_example())),
    params(
        ("Prefer" = Option<String>, Header, example = "wait=10",
            description = "`wait=N`: wait up to N seconds (capped at 30) for the outcome; \
                other preferences are ignored (RFC 7240)"),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255,
            pattern = "^[\\x20-\\x7E]{1,255}$", example = "8e03978e-40d5-43e8-bc93-6894a57f9324",
            description = "1 to 255 printable ASCII characters (surrounding double quotes are \
                removed), unique per registration: a retry with the same key and body replays \
                the first answer instead of registering twice"),
    ),
    security((), ("api_key" = [])),
    responses(
        (status = 202, description = "Accepted: poll the status URL (also a replay of an \
            earlier request with the same Idempotency-Key and body)",
            body = Success<Accepted>, headers(
                ("Location" = String, description = "The status URL"),
                ("Retry-After" = u32, description = "Seconds to wait before polling"),
                ("Preference-Applied" = String, description = "`wait=N`, when `Prefer: wait=N` was sent"),
                ("Idempotent-Replayed" = String, description = "`true` when this replays an earlier \
                    request with the same Idempotency-Key (same `request_id`, current `status`); absent otherwise"),
            )),
        (status = 201, description = "Registered (only with `Prefer: wait=N`)",
            body = Success<Registered>, headers(
                ("Preference-Applied" = String, description = "The wait applied, e.g. `wait=10`"),
            )),
        (status = 400, description = "Malformed JSON, or an invalid Idempotency-Key",
            body = ErrorBody, examples(
                ("Malformed JSON" = (value = json!(ApiError::BadRequest("Malformed JSON: expected value at line 1 column 7".into()).body()))),
                ("Invalid Idempotency-Key" = (value = json!(ApiError::BadRequest(INVALID_IDEMPOTENCY_KEY.into()).body()))),
            )),
        (status = 401, description = "The API key sent is unknown or revoked, or none was sent \
            and the server requires one (`REQUIRE_PARTNER_KEY=true`)",
            body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`")),
            examples(
                ("Invalid key" = (value = json!(ApiError::Unauthorized("Invalid API key").body()))),
                ("Key required" = (value = json!(ApiError::Unauthorized("An API key is required").body()))),
            )),
        (status = 409, description = "A request with this Idempotency-Key is still being accepted: \
            retry shortly", body = ErrorBody,
            headers(("Retry-After" = u32, description = "`1`")),
            example = json!(ApiError::Conflict(IDEMPOTENCY_IN_PROGRESS).body())),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Validation failed: messages by field (with `Prefer: wait=N`, \
            also a duplicate email or phone number, a business outcome); or the Idempotency-Key \
            was already used with a different body", body = ErrorBody,
            examples(
                ("Validation failed" = (value = json!(ApiError::Validation(FieldErrors::single("email", EMAIL_TAKEN)).body()))),
                ("Idempotency-Key reused" = (value = json!(ApiError::IdempotencyKeyReused.body()))),
            )),
        (status = 429, response = RateLimited),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, description = "A dependency is down, or the request queue is at its \
            bound: retry later", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying")),
            examples(
                ("Unavailable" = (value = json!(ApiError::Unavailable(anyhow::anyhow!("down")).body()))),
                ("Queue full" = (value = json!(ApiError::Overloaded.body()))),
            )),
    )
)]
#[tracing::instrument(name = "register", skip_all, fields(request_id))]
pub async fn register(
    State(state): State<AppState>,
    Admitted(caller): Admitted,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let today = chrono::Utc::now().date_naive();
    let registration = parse_registration(&body, today).map_err(ApiError::Validation)?;
    let registration = RegistrationBody::from(&registration);

    let idempotency = match headers.get("idempotency-key") {
        None => None,
        Some(raw) => Some(
            raw.to_str()
                .ok()
                .and_then(idempotency::parse_key)
                .ok_or_else(|| ApiError::BadRequest(INVALID_IDEMPOTENCY_KEY.into()))?,
        ),
    };
    let scope = caller.scope();
    if let Some(key) = idempotency {
        let ttl = state.partners.idempotency_ttl;
        let fingerprint = idempotency::fingerprint(&state.idempotency_secret, &body);
        let legacy = idempotency::legacy_fingerprint(&body);
        match idempotency::claim(&state.db, &scope, key, &fingerprint, &legacy, ttl).await? {
            Claim::New => {}
            Claim::Replay(request_id) => return replay(&state, &caller, request_id).await,
            Claim::Mismatch => return Err(ApiError::IdempotencyKeyReused),
            Claim::InProgress => return Err(ApiError::Conflict(IDEMPOTENCY_IN_PROGRESS)),
        }
    }

    let request_id = Uuid::new_v4();
    tracing::Span::current().record("request_id", tracing::field::display(request_id));
    // Subscribe before publishing: the outcome may come before we look.
    let wait = requested_wait(&headers).map(|d| (d, state.outcomes.subscribe(request_id)));
    let accepted_now = accept(&state, &registration, &caller, request_id).await;
    if let Some(key) = idempotency {
        let recorded = match &accepted_now {
            Ok(()) => idempotency::accepted(&state.db, &scope, key, request_id).await,
            Err(_) => idempotency::release(&state.db, &scope, key).await,
        };
        if let Err(e) = recorded {
            tracing::error!(error = %e, "could not record an idempotency key's outcome");
        }
    }
    accepted_now?;
    match wait {
        None => Ok(accepted(request_id, RequestState::Pending)),
        Some((duration, waiter)) => {
            let mut response =
                wait_for_outcome(&state, caller.partner, request_id, &waiter, duration).await?;
            let applied = format!("wait={}", duration.as_secs());
            if let Ok(value) = HeaderValue::from_str(&applied) {
                response.headers_mut().insert("preference-applied", value);
            }
            Ok(response)
        }
    }
}

/// The answer to a retry with a known key: the same request, as it is now.
async fn replay(state: &AppState, caller: &Caller, request_id: Uuid) -> Result<Response, ApiError> {
    let client = caller.client.to_string();
    let entry = Entry {
        action: Action::Registration,
        outcome: "idempotent_replay",
        patient_id: None,
        request_id: Some(request_id),
        client_addr: Some(&client),
    };
    state.audit.record(&entry).await?;
    let ttl = state.partners.status_contact_ttl;
    let status = requests::find_status(&state.db, request_id, caller.partner, ttl)
        .await?
        .map_or(RequestState::Pending, |s| s.status);
    let mut response = accepted(request_id, status);
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(response)
}

/// Sleeps until the request settles or the wait runs out; woken by
/// Postgres notifications, never by polling.
async fn wait_for_outcome(
    state: &AppState,
    reader: Option<shared::partner::PartnerId>,
    request_id: Uuid,
    waiter: &Waiter,
    wait: std::time::Duration,
) -> Result<Response, ApiError> {
    let deadline = tokio::time::Instant::now() + wait;
    // A shutdown ends the wait early: the client gets its 202 and polls.
    let woken = || async {
        tokio::select! {
            changed = tokio::time::timeout_at(deadline, waiter.changed()) => changed.is_ok(),
            () = state.shutdown.clone().wait() => false,
        }
    };
    while woken().await {
        let ttl = state.partners.status_contact_ttl;
        let status = requests::find_status(&state.db, request_id, reader, ttl).await?;
        match status {
            Some(RequestStatus {
                status: RequestState::Rejected,
                errors: Some(errors),
                ..
            }) => {
                return Ok(ApiError::Validation(errors).into_response());
            }
            Some(done) if done.status == RequestState::Completed => return Ok(created(&done)),
            _ => {}
        }
    }
    Ok(accepted(request_id, RequestState::Pending))
}

/// 202: the registration is recorded and queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    request_id: Uuid,
    status: RequestState,
    /// Where to poll for the outcome (also in `Location`).
    #[schema(example = "/api/v1/patient/registrations/0b6f1c7e-8d1a-4a53-9d3e-2f1f5a9c7b10")]
    status_url: String,
}

/// 201: the patient exists (only with `Prefer: wait=N`). PHI: no `Debug`.
#[derive(Serialize, ToSchema)]
pub struct Registered {
    patient_id: Option<Uuid>,
    #[schema(example = "jane.smith@email.com")]
    email: Option<String>,
    #[schema(example = "+1234567890")]
    phone_number: Option<String>,
    email_verified: bool,
    phone_verified: bool,
}

/// The synchronous contract's 201.
fn created(done: &RequestStatus) -> Response {
    let data = Registered {
        patient_id: done.patient_id,
        email: done.email.clone(),
        phone_number: done.phone_number.clone(),
        email_verified: done.email_verified.unwrap_or(false),
        phone_verified: done.phone_verified.unwrap_or(false),
    };
    Success::new(
        "Patient registered successfully. Verification email sent.",
        data,
    )
    .with_status(StatusCode::CREATED)
}

fn accepted(request_id: Uuid, status: RequestState) -> Response {
    let status_url = format!("/api/v1/patient/registrations/{request_id}");
    let data = Accepted {
        request_id,
        status,
        status_url: status_url.clone(),
    };
    let mut response = Success::new("Registration accepted for processing.", data)
        .with_status(StatusCode::ACCEPTED);
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&status_url) {
        headers.insert(header::LOCATION, location);
    }
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}
