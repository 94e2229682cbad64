//! `POST /api/v1/patient/registration-batches`: check the batch's shape,
//! claim its Idempotency-Key, check and seal every item, record the whole
//! batch in one statement, publish every accepted item with its confirm
//! pipelined beside the others, and answer 202 once all are confirmed.

use std::time::Instant;

use axum::{
    extract::{FromRequest, Request, State},
    http::{HeaderMap, HeaderValue},
    response::Response,
};
use futures_util::future::join_all;
use shared::{
    audit::{Action, Entry},
    broker::BrokerError,
    crypto::Keyring,
    domain::{parse_registration, RegistrationBody},
    messages::{registration_context, RegistrationRequested, RegistrationRequestedV1},
};
use uuid::Uuid;

use super::{
    shape::{parse_batch, Item},
    BatchAccepted, Refusal,
};
use crate::{
    batches::{self, Claim, ItemOutcome, ItemRow, KeyFate},
    error::ApiError,
    extract::{ClientAddr, JsonBody, Partner, RATE_LIMITED},
    idempotency, outbox,
    wire::{
        responses::{Internal, RateLimited, TimedOut, UnsupportedMediaType},
        ErrorBody, Success,
    },
    AppState,
};
use shared::validation::FieldErrors;

pub const KEY_REQUIRED: &str =
    "Idempotency-Key is required: 1 to 255 printable ASCII characters, unique per batch";
pub const INVALID_KEY: &str = "Idempotency-Key must be 1 to 255 printable ASCII characters";
pub const IN_PROGRESS: &str =
    "A batch with this Idempotency-Key is still being accepted; retry shortly";

/// An item ready to record and publish.
struct Prepared {
    row: ItemRow,
    message: Option<RegistrationRequested>,
}

/// Register patients in a batch
///
/// Up to 500 registrations in one request, each with the partner's own
/// `client_ref` (unique within the batch). A partner key and an
/// `Idempotency-Key` are required; the body may be up to 4 MiB.
///
/// **Structure first.** A body that is not an object, `items` missing, not
/// an array, empty or over 500, an item that is not an object, or a
/// `client_ref` missing, not a string, blank, over 100 characters, not
/// printable ASCII or repeated refuses the whole batch: 422, every problem
/// at once, under `items`, `items[i]` or `items[i].client_ref`.
///
/// **Then each item** is checked exactly as `POST /api/v1/patient/register`
/// checks a body. The 202 answers every item in the order sent: an accepted
/// one with its `request_id` and `status_url` (poll it, or follow the
/// batch), an invalid one with the `errors` a single registration's 422
/// would carry. The 202 comes once the broker has confirmed every accepted
/// item. If it confirms none (RabbitMQ down, or the request queue at its
/// bound) the batch is refused with 503 and its key is released: submit it
/// again. If it confirms only some, the 202 still answers every item, and
/// those it did not confirm are `failed` at their status URL (and a
/// `registration.failed` webhook tells of each): submit them again.
///
/// **Retries** with the same `Idempotency-Key` (scoped to the partner's
/// batches) and the same body get the first 202 again, with
/// `Idempotent-Replayed: true`; nothing new is made. The same key with
/// another body: 422; while the first is still being accepted: 409.
///
/// **Rate limit:** a batch counts as its number of items against
/// `REGISTER_RATE_LIMIT_PER_PARTNER`.
///
/// **Webhooks:** `batch.completed` once every accepted item has settled,
/// with the counts. A batch with no valid item is complete in its 202 and
/// sends none.
#[utoipa::path(
    post,
    path = "/api/v1/patient/registration-batches",
    tag = "registration",
    operation_id = "register_batch",
    request_body(content = super::BatchBody, content_type = "application/json"),
    params(
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 255,
            pattern = "^[\\x20-\\x7E]{1,255}$", example = "batch-2026-12-03-0001",
            description = "Required: 1 to 255 printable ASCII characters (surrounding double \
                quotes are removed), unique per batch: a retry with the same key and body \
                gets the first answer again instead of registering twice"),
    ),
    security(("api_key" = [])),
    responses(
        (status = 202, description = "Accepted: every item answered, in the order sent (also \
            a replay of an earlier batch with the same Idempotency-Key and body)",
            body = Success<super::BatchAccepted>, headers(
                ("Location" = String, description = "The batch's status URL"),
                ("Retry-After" = u32, description = "Seconds to wait before polling"),
                ("Idempotent-Replayed" = String, description = "`true` when this replays an \
                    earlier batch with the same Idempotency-Key; absent otherwise"),
            )),
        (status = 400, description = "Malformed JSON, or a missing or invalid Idempotency-Key",
            body = ErrorBody, examples(
                ("Malformed JSON" = (value = json!(ApiError::BadRequest("Malformed JSON: expected value at line 1 column 7".into()).body()))),
                ("Idempotency-Key required" = (value = json!(ApiError::BadRequest(KEY_REQUIRED.into()).body()))),
                ("Invalid Idempotency-Key" = (value = json!(ApiError::BadRequest(INVALID_KEY.into()).body()))),
            )),
        (status = 401, description = "No partner key, or one that is not valid", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`")),
            examples(
                ("Key required" = (value = json!(ApiError::Unauthorized("An API key is required").body()))),
                ("Invalid key" = (value = json!(ApiError::Unauthorized("Invalid API key").body()))),
            )),
        (status = 409, description = "A batch with this Idempotency-Key is still being \
            accepted: retry shortly", body = ErrorBody,
            headers(("Retry-After" = u32, description = "`1`")),
            example = json!(ApiError::Conflict(IN_PROGRESS).body())),
        (status = 413, description = "Body over 4 MiB", body = ErrorBody,
            example = json!(super::too_large())),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "The batch's structure is wrong (each problem named: \
            `items`, `items[i]`, `items[i].client_ref`, e.g. a `client_ref` used twice), or \
            the Idempotency-Key was already used with a different body", body = ErrorBody,
            examples(
                ("Structure" = (value = json!(ApiError::Validation(FieldErrors::single(
                    "items[3].client_ref", super::shape::CLIENT_REF_DUPLICATE)).body()))),
                ("Idempotency-Key reused" = (value = json!(ApiError::IdempotencyKeyReused.body()))),
            )),
        (status = 429, response = RateLimited),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, description = "A dependency is down, or the request queue is at its \
            bound (the broker confirmed no item): nothing was accepted, retry later",
            body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying")),
            examples(
                ("Unavailable" = (value = json!(ApiError::Unavailable(anyhow::anyhow!("down")).body()))),
                ("Queue full" = (value = json!(ApiError::Overloaded.body()))),
            )),
    )
)]
#[tracing::instrument(name = "registration_batch", skip_all, fields(batch_id, items))]
pub async fn submit(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Partner(partner): Partner,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, Refusal> {
    // One token before the body is read: an exhausted partner costs nothing.
    let limited = |retry_after| ApiError::TooManyRequests {
        message: RATE_LIMITED,
        retry_after,
    };
    let limits = &state.limits.per_partner;
    limits.check(partner.0, Instant::now()).map_err(limited)?;
    let key = match headers.get("idempotency-key") {
        None => return Err(ApiError::BadRequest(KEY_REQUIRED.into()).into()),
        Some(raw) => raw.to_str().ok().and_then(idempotency::parse_key),
    }
    .ok_or_else(|| ApiError::BadRequest(INVALID_KEY.into()))?
    .to_owned();
    let JsonBody(body) = JsonBody::from_request(request, &state).await?;
    let fingerprint = idempotency::fingerprint(&state.idempotency_secret, &body);
    let items = parse_batch(body).map_err(ApiError::Validation)?;
    tracing::Span::current().record("items", items.len());
    // The rest of the batch's tokens, all or none.
    limits
        .check_n(partner.0, items.len() - 1, Instant::now())
        .map_err(limited)?;

    let scope = batches::scope(partner.0);
    let ttl = state.partners.idempotency_ttl;
    let claimed_at = match batches::claim(&state.db, &scope, &key, &fingerprint, ttl).await? {
        Claim::New(at) => at,
        Claim::Replay(batch_id) => return replay(&state, client, batch_id).await,
        Claim::Mismatch => return Err(ApiError::IdempotencyKeyReused.into()),
        Claim::InProgress => return Err(ApiError::Conflict(IN_PROGRESS).into()),
    };
    let batch_id = Uuid::new_v4();
    tracing::Span::current().record("batch_id", tracing::field::display(batch_id));
    let (rows, published) = match accept(&state, partner.0, client, batch_id, items).await {
        Ok(accepted) => accepted,
        Err(e) => {
            if let Err(db_err) = idempotency::release(&state.db, &scope, &key).await {
                tracing::error!(error = %db_err, "could not release a batch's idempotency key");
            }
            return Err(e.into());
        }
    };
    let (scope, key) = (scope.as_str(), key.as_str());
    let settled = match &published {
        Published::All => batches::complete(&state.db, scope, key, claimed_at, batch_id)
            .await
            .map(|()| Vec::new()),
        Published::Part(unconfirmed) => {
            let fate = KeyFate::Complete {
                scope,
                key,
                claimed_at,
                batch_id,
            };
            batches::fail_unconfirmed(&state.db, unconfirmed, fate).await
        }
        Published::None(unconfirmed, _) => {
            let fate = KeyFate::Release { scope, key };
            batches::fail_unconfirmed(&state.db, unconfirmed, fate).await
        }
    };
    match settled {
        Ok(failed) => {
            for event in failed {
                outbox::publish_soon(&state, event);
            }
        }
        // What was published stands; a retry may take the key over once
        // its claim is abandoned.
        Err(e) => tracing::error!(error = %e, "could not settle a batch's key"),
    }
    if let Published::None(_, refusal) = published {
        return Err(refusal.into());
    }
    tracing::info!("registration batch accepted");
    Ok(BatchAccepted::new(batch_id, rows).into_response())
}

/// What the broker confirmed of a batch's accepted items.
enum Published {
    /// Every one (a batch without a valid item has none to publish).
    All,
    /// Only some: these were not confirmed.
    Part(Vec<Uuid>),
    /// None: nothing was accepted, and why.
    None(Vec<Uuid>, ApiError),
}

/// Checks and seals every item (off the runtime), records the batch and
/// publishes its accepted items, their confirms awaited together. While a
/// full request queue is being shed, nothing is done (503).
async fn accept(
    state: &AppState,
    partner: Uuid,
    client: std::net::IpAddr,
    batch_id: Uuid,
    items: Vec<Item>,
) -> Result<(Vec<ItemRow>, Published), ApiError> {
    if state.full_queue.is_full() {
        return Err(ApiError::Overloaded);
    }
    let keyring = state.keyring.clone();
    let span = tracing::Span::current();
    let prepared = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        prepare(&keyring, items)
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    let rows: Vec<ItemRow> = prepared.iter().map(|p| p.row.clone()).collect();
    batches::record(&state.db, batch_id, partner, &client.to_string(), &rows).await?;

    let messages: Vec<&RegistrationRequested> =
        prepared.iter().filter_map(|p| p.message.as_ref()).collect();
    let confirms = join_all(messages.iter().map(|m| state.broker.publish_message(*m))).await;
    let mut unconfirmed = Vec::new();
    let mut refusal = None;
    for (message, confirmed) in messages.iter().zip(confirms) {
        let Err(e) = confirmed else { continue };
        let RegistrationRequested::V1(m) = message;
        unconfirmed.push(m.request_id);
        refusal = Some(match e {
            BrokerError::Nacked => {
                state.full_queue.refused();
                ApiError::Overloaded
            }
            BrokerError::Encode(e) => ApiError::Internal(e.into()),
            e => ApiError::Unavailable(e.into()),
        });
    }
    let published = match refusal {
        None => Published::All,
        Some(refusal) if unconfirmed.len() == messages.len() => {
            Published::None(unconfirmed, refusal)
        }
        Some(_) => Published::Part(unconfirmed),
    };
    Ok((rows, published))
}

/// Each item checked exactly as a single registration is, and sealed for
/// the worker if valid. CPU work only.
fn prepare(keyring: &Keyring, items: Vec<Item>) -> Vec<Prepared> {
    let today = chrono::Utc::now().date_naive();
    let submitted_at = chrono::Utc::now();
    items
        .into_iter()
        .map(|item| match parse_registration(&item.registration, today) {
            Err(errors) => Prepared {
                row: ItemRow {
                    client_ref: item.client_ref,
                    outcome: ItemOutcome::Invalid(errors),
                },
                message: None,
            },
            Ok(patient) => {
                let request_id = Uuid::new_v4();
                let body = RegistrationBody::from(&patient);
                let message = RegistrationRequested::V1(RegistrationRequestedV1 {
                    request_id,
                    submitted_at,
                    registration: keyring.seal_json(&body, &registration_context(request_id)),
                });
                Prepared {
                    row: ItemRow {
                        client_ref: item.client_ref,
                        outcome: ItemOutcome::Accepted(request_id),
                    },
                    message: Some(message),
                }
            }
        })
        .collect()
}

/// The answer to a retry with a known key and the same body: the first
/// 202 again, built from what was recorded; nothing new is made.
async fn replay(
    state: &AppState,
    client: std::net::IpAddr,
    batch_id: Uuid,
) -> Result<Response, Refusal> {
    let client = client.to_string();
    let entry = Entry {
        action: Action::RegistrationBatchReplay,
        outcome: "idempotent_replay",
        patient_id: None,
        request_id: Some(batch_id),
        client_addr: Some(&client),
    };
    state.audit.record(&entry).await?;
    let rows = batches::items(&state.db, batch_id).await?;
    let mut response = BatchAccepted::new(batch_id, rows).into_response();
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(response)
}
