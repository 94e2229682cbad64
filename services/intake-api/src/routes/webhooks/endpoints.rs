//! `/api/v1/partner/webhook-endpoints`: a partner's endpoints, created with
//! a secret shown once, listed without it, deleted, and given a new secret.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::Value;
use shared::{
    audit::Action,
    validation::FieldErrors,
    webhook_endpoints::{self as store, Created, Scope},
};

use super::{
    audit, audit_done,
    bodies::{
        CreateWebhookEndpointRequest, CreatedWebhookEndpoint, RotatedWebhookSecret,
        WebhookEndpoint, WebhookEndpointList,
    },
    conflict, path_id, KeyRefused,
};
use crate::{
    error::ApiError,
    extract::{ClientAddr, JsonBody, Partner},
    wire::{
        responses::{Internal, JsonBodyErrors, TimedOut, Unavailable},
        Empty, ErrorBody, Success,
    },
    AppState,
};

pub const CREATED: &str = "Webhook endpoint created. Store its secret now: it is not shown again.";
pub const LIMIT_REACHED: &str =
    "Webhook endpoint limit reached (WEBHOOK_MAX_ENDPOINTS): delete one before adding another";
pub const NOT_FOUND: &str = "Webhook endpoint not found";
pub const DELETED: &str = "Webhook endpoint deleted";
pub const ROTATED: &str = "Secret rotated. Store it now: it is not shown again. The previous \
                           secret also signs until previous_secret_expires_at.";

fn invalid_example() -> ErrorBody {
    let mut errors = FieldErrors::single("url", "URL must use https");
    errors.add(
        "event_types",
        format!(
            "Unknown event type at position 2: {}",
            store::allowed_event_types()
        ),
    );
    ApiError::Validation(errors).body()
}

/// Add a webhook endpoint
///
/// Events of the given types are POSTed to `url`, signed as Standard
/// Webhooks says (`webhook-id`, `webhook-timestamp`, `webhook-signature`)
/// with the `secret` answered here: the only time it is shown. At most
/// `WEBHOOK_MAX_ENDPOINTS` (10) live endpoints per partner; past that, 409.
/// With `APP_ENV=production`, `https` URLs only; the address a URL resolves
/// to is checked when delivering, not here.
#[utoipa::path(
    post,
    path = "/api/v1/partner/webhook-endpoints",
    tag = "partners",
    operation_id = "create_webhook_endpoint",
    request_body(content = CreateWebhookEndpointRequest, content_type = "application/json"),
    security(("api_key" = [])),
    responses(
        (status = 201, description = "Created; store the secret now", body = Success<CreatedWebhookEndpoint>),
        JsonBodyErrors,
        KeyRefused,
        (status = 409, description = "The partner has `WEBHOOK_MAX_ENDPOINTS` live endpoints",
            body = ErrorBody, example = json!(ApiError::Conflict(LIMIT_REACHED).body())),
        (status = 422, description = "`url` or `event_types` missing or not acceptable; every \
            message at once", body = ErrorBody, example = json!(invalid_example())),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(name = "create_webhook_endpoint", skip_all)]
pub async fn create(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Partner(partner): Partner,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let action = Action::WebhookEndpointCreate;
    let settings = state.partners.webhooks;
    let body = if body.is_object() {
        body
    } else {
        Value::Object(serde_json::Map::new())
    };
    let parsed = serde_json::from_value::<CreateWebhookEndpointRequest>(body)
        .map_err(|e| FieldErrors::single("body", e.to_string()))
        .and_then(|request| request.validate(settings.https_only));
    let (url, event_types) = match parsed {
        Ok(valid) => valid,
        Err(errors) => {
            audit(&state, action, "invalid", client).await?;
            return Err(ApiError::Validation(errors));
        }
    };
    let created = store::create(
        &state.db,
        &state.keyring,
        settings.max_endpoints,
        partner,
        &url,
        &event_types,
    )
    .await?;
    let (endpoint, secret) = match created {
        Created::Endpoint(endpoint, secret) => (endpoint, secret),
        Created::LimitReached => {
            audit(&state, action, "limit_reached", client).await?;
            return Ok(conflict(LIMIT_REACHED));
        }
    };
    audit_done(&state, action, client).await;
    let data = CreatedWebhookEndpoint {
        id: endpoint.id,
        url: endpoint.url,
        event_types: endpoint.event_types,
        secret: secret.expose().to_owned(),
        created_at: endpoint.created_at,
    };
    Ok(Success::new(CREATED, data).with_status(StatusCode::CREATED))
}

/// List webhook endpoints
///
/// The partner's live endpoints, oldest first, without their secrets.
#[utoipa::path(
    get,
    path = "/api/v1/partner/webhook-endpoints",
    tag = "partners",
    operation_id = "list_webhook_endpoints",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The live endpoints", body = Success<WebhookEndpointList>),
        KeyRefused,
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(name = "list_webhook_endpoints", skip_all)]
pub async fn list(
    State(state): State<AppState>,
    Partner(partner): Partner,
) -> Result<Success<WebhookEndpointList>, ApiError> {
    let endpoints = store::list(&state.db, Scope::Partner(partner)).await?;
    Ok(Success::data(WebhookEndpointList {
        endpoints: endpoints.into_iter().map(WebhookEndpoint::from).collect(),
    }))
}

/// Delete a webhook endpoint
///
/// Nothing more is delivered to it; its pending deliveries end as
/// `failed`, and its deliveries stay listed.
#[utoipa::path(
    delete,
    path = "/api/v1/partner/webhook-endpoints/{endpoint_id}",
    tag = "partners",
    operation_id = "delete_webhook_endpoint",
    params(("endpoint_id" = String, Path, description = "The endpoint's `id`")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Deleted", body = Success<Empty>,
            example = json!(Success::new(DELETED, Empty {}))),
        KeyRefused,
        (status = 404, description = "No such live endpoint of this partner (unknown, another \
            partner's, or deleted already)", body = ErrorBody,
            example = json!(ApiError::NotFound(NOT_FOUND).body())),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(name = "delete_webhook_endpoint", skip_all)]
pub async fn delete(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Partner(partner): Partner,
    Path(raw_id): Path<String>,
) -> Result<Success<Empty>, ApiError> {
    let action = Action::WebhookEndpointDelete;
    let deleted = match path_id(&raw_id) {
        Some(id) => store::delete(&state.db, Scope::Partner(partner), id).await?,
        None => false,
    };
    if !deleted {
        audit(&state, action, "not_found", client).await?;
        return Err(ApiError::NotFound(NOT_FOUND));
    }
    audit_done(&state, action, client).await;
    Ok(Success::new(DELETED, Empty {}))
}

/// Rotate an endpoint's secret
///
/// Answers a new secret (shown only here). The one it replaces keeps
/// signing beside it for `WEBHOOK_SECRET_GRACE` (24 hours by default), so
/// deliveries carry two signatures until then; rotating again within that
/// time ends the older one's grace at once.
#[utoipa::path(
    post,
    path = "/api/v1/partner/webhook-endpoints/{endpoint_id}/rotate-secret",
    tag = "partners",
    operation_id = "rotate_webhook_secret",
    params(("endpoint_id" = String, Path, description = "The endpoint's `id`")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The new secret; store it now", body = Success<RotatedWebhookSecret>),
        KeyRefused,
        (status = 404, description = "No such live endpoint of this partner", body = ErrorBody,
            example = json!(ApiError::NotFound(NOT_FOUND).body())),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(name = "rotate_webhook_secret", skip_all)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Partner(partner): Partner,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let action = Action::WebhookSecretRotate;
    let grace = state.partners.webhooks.secret_grace;
    let scope = Scope::Partner(partner);
    let rotated = match path_id(&raw_id) {
        Some(id) => store::rotate_secret(&state.db, &state.keyring, scope, id, grace)
            .await?
            .map(|r| (id, r)),
        None => None,
    };
    let Some((id, rotated)) = rotated else {
        audit(&state, action, "not_found", client).await?;
        return Err(ApiError::NotFound(NOT_FOUND));
    };
    audit_done(&state, action, client).await;
    let data = RotatedWebhookSecret {
        id,
        secret: rotated.secret.expose().to_owned(),
        previous_secret_expires_at: rotated.previous_secret_expires_at,
    };
    Ok(Success::new(ROTATED, data).into_response())
}
