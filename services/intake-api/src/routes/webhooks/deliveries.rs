//! `/api/v1/partner/webhook-deliveries`: a partner's deliveries, newest
//! first a page at a time, and a failed one retried by hand.

use axum::{
    extract::{rejection::QueryRejection, Path, Query, State},
    http::StatusCode,
    response::Response,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::{
    audit::Action,
    validation::FieldErrors,
    webhook::message_id,
    webhook_endpoints::{
        self as store, Cursor, DeliveryQuery, DeliveryStatus, Retried, RetryError, Scope,
    },
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{audit, audit_done, conflict, path_id, KeyRefused};
use crate::{
    error::ApiError,
    extract::{ClientAddr, Partner},
    wire::{
        responses::{Internal, TimedOut, Unavailable},
        ErrorBody, Success,
    },
    AppState,
};

pub const NOT_FOUND: &str = "Webhook delivery not found";
pub const RETRY_SCHEDULED: &str = "Retry scheduled";
pub const STILL_PENDING: &str =
    "Only a failed delivery can be retried: this one is still pending and retried automatically";
pub const ALREADY_DELIVERED: &str = "Only a failed delivery can be retried: this one was delivered";
pub const ENDPOINT_GONE: &str =
    "This delivery's endpoint was deleted or disabled: create the endpoint again, then retry";
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;

/// Which deliveries, and where the page starts. An empty value is as if
/// it were not given.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Only deliveries in this state.
    #[param(value_type = Option<DeliveryStatus>, inline)]
    status: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<String>)]
    cursor: Option<String>,
    /// Deliveries per page, 1 to 200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

impl DeliveriesQuery {
    fn parse(self, scope: Scope) -> Result<DeliveryQuery, FieldErrors> {
        let given = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
        let mut errors = FieldErrors::new();
        let status = given(self.status).and_then(|raw| {
            let status = DeliveryStatus::parse(raw.trim());
            if status.is_none() {
                errors.add("status", "Status must be one of pending, delivered, failed");
            }
            status
        });
        let after = given(self.cursor).and_then(|raw| {
            let cursor = Cursor::decode(&raw);
            if cursor.is_none() {
                errors.add(
                    "cursor",
                    "Cursor is not valid: pass next_cursor from the previous page",
                );
            }
            cursor
        });
        let limit = match given(self.limit).map(|raw| raw.trim().parse::<u32>()) {
            None => DEFAULT_LIMIT,
            Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
            Some(_) => {
                errors.add("limit", "Limit must be a whole number from 1 to 200");
                DEFAULT_LIMIT
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(DeliveryQuery {
            scope,
            status,
            after,
            limit,
        })
    }
}

/// One delivery: one event to one endpoint, over all its attempts.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDelivery {
    pub id: Uuid,
    /// The `webhook-id` header of every attempt at it (`msg_…`).
    #[schema(example = "msg_5f0e8a4c2b9d4c1e8f7a6b5c4d3e2f1a")]
    pub webhook_id: String,
    pub endpoint_id: Uuid,
    #[schema(example = "registration.completed")]
    pub event_type: String,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    /// The HTTP status the last attempt got (`null`: none came back).
    pub last_status_code: Option<i32>,
    /// What went wrong with the last attempt, in a few words (no body).
    #[schema(example = "timeout")]
    pub last_error: Option<String>,
}

impl From<store::Delivery> for WebhookDelivery {
    fn from(d: store::Delivery) -> Self {
        Self {
            webhook_id: message_id(d.id),
            id: d.id,
            endpoint_id: d.endpoint_id,
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempts,
            created_at: d.created_at,
            last_attempt_at: d.last_attempt_at,
            delivered_at: d.delivered_at,
            failed_at: d.failed_at,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
        }
    }
}

/// A page of deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryPage {
    pub deliveries: Vec<WebhookDelivery>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// A retry on its way.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookRetryScheduled {
    pub id: Uuid,
    pub webhook_id: String,
    /// The number of the attempt scheduled.
    pub attempt: u32,
    /// `pending` again.
    pub status: DeliveryStatus,
}

/// List webhook deliveries
///
/// The partner's deliveries, newest first, with what each one's last
/// attempt got: a page of `limit` (50 by default, at most 200), and a
/// `next_cursor` for the next. Deliveries of deleted endpoints stay listed.
#[utoipa::path(
    get,
    path = "/api/v1/partner/webhook-deliveries",
    tag = "partners",
    operation_id = "list_webhook_deliveries",
    params(DeliveriesQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "A page of deliveries", body = Success<WebhookDeliveryPage>),
        KeyRefused,
        (status = 422, description = "`status`, `cursor` or `limit` is not acceptable",
            body = ErrorBody, example = json!(ApiError::Validation(FieldErrors::single("status",
                "Status must be one of pending, delivered, failed")).body())),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(name = "list_webhook_deliveries", skip_all)]
pub async fn list(
    State(state): State<AppState>,
    Partner(partner): Partner,
    query: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> Result<Success<WebhookDeliveryPage>, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::Validation(FieldErrors::single("query", e.body_text())))?;
    let query = query
        .parse(Scope::Partner(partner))
        .map_err(ApiError::Validation)?;
    let page = store::list_deliveries(&state.db, query).await?;
    Ok(Success::data(WebhookDeliveryPage {
        deliveries: page
            .deliveries
            .into_iter()
            .map(WebhookDelivery::from)
            .collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// Retry a failed delivery
///
/// Sets a `failed` delivery back to `pending` and makes one more attempt
/// at once, with the same `webhook-id`. If that attempt fails too, the
/// delivery is `failed` again (its schedule was used up): retry it again
/// once the receiver is mended. Only a failed delivery whose endpoint is
/// still live: a pending one is retried already, a delivered one is done,
/// one whose endpoint was deleted or disabled has nowhere to go (409). If
/// RabbitMQ cannot take the attempt, 503, and the delivery stays `failed`.
#[utoipa::path(
    post,
    path = "/api/v1/partner/webhook-deliveries/{delivery_id}/retry",
    tag = "partners",
    operation_id = "retry_webhook_delivery",
    params(("delivery_id" = String, Path, description = "The delivery's `id`")),
    security(("api_key" = [])),
    responses(
        (status = 202, description = "Scheduled", body = Success<WebhookRetryScheduled>),
        KeyRefused,
        (status = 404, description = "No such delivery of this partner", body = ErrorBody,
            example = json!(ApiError::NotFound(NOT_FOUND).body())),
        (status = 409, description = "The delivery is not `failed`", body = ErrorBody, examples(
            ("Pending" = (value = json!(ApiError::Conflict(STILL_PENDING).body()))),
            ("Delivered" = (value = json!(ApiError::Conflict(ALREADY_DELIVERED).body()))),
            ("Endpoint gone" = (value = json!(ApiError::Conflict(ENDPOINT_GONE).body()))),
        )),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(name = "retry_webhook_delivery", skip_all)]
pub async fn retry(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Partner(partner): Partner,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let action = Action::WebhookDeliveryRetry;
    let Some(id) = path_id(&raw_id) else {
        audit(&state, action, "not_found", client).await?;
        return Err(ApiError::NotFound(NOT_FOUND));
    };
    let retried = store::retry(&state.db, &state.broker, Scope::Partner(partner), id).await;
    let attempt = match retried {
        Ok(Retried::Scheduled { attempt }) => attempt,
        Ok(Retried::NotFound) => {
            audit(&state, action, "not_found", client).await?;
            return Err(ApiError::NotFound(NOT_FOUND));
        }
        Ok(Retried::EndpointGone) => {
            audit(&state, action, "endpoint_gone", client).await?;
            return Ok(conflict(ENDPOINT_GONE));
        }
        Ok(Retried::NotFailed(status)) => {
            audit(&state, action, "not_failed", client).await?;
            return Ok(conflict(match status {
                DeliveryStatus::Delivered => ALREADY_DELIVERED,
                _ => STILL_PENDING,
            }));
        }
        Err(RetryError::Broker(e)) => {
            audit(&state, action, "unavailable", client).await?;
            return Err(ApiError::Unavailable(e.into()));
        }
        Err(RetryError::Database(e)) => return Err(e.into()),
    };
    audit_done(&state, action, client).await;
    let data = WebhookRetryScheduled {
        id,
        webhook_id: message_id(id),
        attempt,
        status: DeliveryStatus::Pending,
    };
    Ok(Success::new(RETRY_SCHEDULED, data).with_status(StatusCode::ACCEPTED))
}

#[cfg(test)]
mod tests {
    use shared::partner::PartnerId;

    use super::*;

    fn parse(status: &str, cursor: &str, limit: &str) -> Result<DeliveryQuery, Vec<String>> {
        let given = |v: &str| Some(v.to_owned());
        DeliveriesQuery {
            status: given(status),
            cursor: given(cursor),
            limit: given(limit),
        }
        .parse(Scope::Partner(PartnerId(Uuid::nil())))
        .map_err(|e| e.iter().map(|(field, _)| field.to_owned()).collect())
    }

    #[test]
    fn empty_values_are_defaults_and_bad_ones_are_named() {
        let query = parse("", "", "").expect("defaults");
        assert_eq!((query.status, query.limit), (None, 50));
        assert!(query.after.is_none());
        let query = parse("failed", "", "200").expect("valid");
        assert_eq!(
            (query.status, query.limit),
            (Some(DeliveryStatus::Failed), 200)
        );
        assert_eq!(
            parse("lost", "nope", "0").err(),
            Some(vec!["cursor".into(), "limit".into(), "status".into()])
        );
        for limit in ["201", "-1", "1.5", "ten"] {
            assert_eq!(
                parse("", "", limit).err(),
                Some(vec!["limit".into()]),
                "{limit}"
            );
        }
    }
}
