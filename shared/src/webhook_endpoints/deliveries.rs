//! A partner's webhook deliveries: listed newest first a page at a time
//! (keyset pagination on `(created_at, id)`), and a failed one retried by
//! hand.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Scope;
use crate::{
    broker::{Broker, BrokerError},
    messages::{WebhookAttempt, WebhookAttemptV1},
};

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = WebhookDeliveryStatus)]
pub enum DeliveryStatus {
    /// Attempts go on (with backoff) until one succeeds or they run out.
    Pending,
    Delivered,
    /// Every attempt failed, or its endpoint was deleted or disabled.
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [Self; 3] = [Self::Pending, Self::Delivered, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

impl TryFrom<String> for DeliveryStatus {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).ok_or_else(|| format!("unknown delivery status {raw:?}"))
    }
}

/// Where a page ends: the last delivery's `(created_at, id)`. Opaque to
/// clients (base64url); it only narrows their own listing, so a forged one
/// shows nothing it should not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    created_at: DateTime<Utc>,
    id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}.{}",
            self.created_at.timestamp_micros(),
            self.id
        ))
    }

    pub fn decode(raw: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (micros, id) = text.split_once('.')?;
        Some(Self {
            created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: id.parse().ok()?,
        })
    }
}

/// Which deliveries to list.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryQuery {
    pub scope: Scope,
    pub status: Option<DeliveryStatus>,
    /// Deliveries older than this (the previous page's `next`).
    pub after: Option<Cursor>,
    pub limit: u32,
}

/// One delivery, with what its last attempt got.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    pub id: Uuid,
    pub partner_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_type: String,
    #[sqlx(try_from = "String")]
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    /// The last attempt's HTTP status (`None`: no answer, or no attempt).
    pub last_status_code: Option<i32>,
    /// The last attempt's short error class.
    pub last_error: Option<String>,
}

/// A page of deliveries, and where the next one starts (`None`: the last).
#[derive(Debug)]
pub struct Page {
    pub deliveries: Vec<Delivery>,
    pub next: Option<Cursor>,
}

pub async fn list(db: &PgPool, query: DeliveryQuery) -> sqlx::Result<Page> {
    let limit = query.limit.max(1);
    let mut deliveries: Vec<Delivery> = sqlx::query_as(
        "SELECT d.id, d.partner_id, d.endpoint_id, d.event_type, d.status, d.attempts, \
                d.created_at, d.last_attempt_at, d.delivered_at, d.failed_at, \
                a.status_code AS last_status_code, a.error AS last_error \
         FROM webhook_deliveries d \
         LEFT JOIN LATERAL (SELECT status_code, error FROM webhook_attempts \
                            WHERE delivery_id = d.id ORDER BY attempt DESC, id DESC LIMIT 1) a ON true \
         WHERE ($1::uuid IS NULL OR d.partner_id = $1) \
           AND ($2::text IS NULL OR d.status = $2) \
           AND ($3::timestamptz IS NULL OR (d.created_at, d.id) < ($3, $4)) \
         ORDER BY d.created_at DESC, d.id DESC LIMIT $5",
    )
    .bind(query.scope.partner())
    .bind(query.status.map(DeliveryStatus::as_str))
    .bind(query.after.map(|c| c.created_at))
    .bind(query.after.map(|c| c.id))
    .bind(i64::from(limit) + 1)
    .fetch_all(db)
    .await?;
    let more = deliveries.len() > limit as usize;
    deliveries.truncate(limit as usize);
    let next = deliveries.last().filter(|_| more).map(|d| Cursor {
        created_at: d.created_at,
        id: d.id,
    });
    Ok(Page { deliveries, next })
}

/// What a manual retry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retried {
    /// Back to `pending`, and attempt number `attempt` is on its way.
    Scheduled { attempt: u32 },
    /// No such delivery in this scope.
    NotFound,
    /// Only a failed delivery is retried by hand.
    NotFailed(DeliveryStatus),
    /// Its endpoint was deleted or disabled: the attempt would fail at once.
    EndpointGone,
}

#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The attempt could not be published: the delivery is still `failed`.
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

/// Sets a failed delivery back to `pending` and publishes its next attempt
/// (`attempts + 1`, so the worker does not take it for a duplicate), with a
/// confirm. The row stays locked from the check to the commit, and the
/// commit comes only after the broker confirmed: if the publish fails the
/// transaction rolls back and the delivery is still `failed`. A worker that
/// reads the delivery `FOR UPDATE` waits for the commit, so it never sees
/// the attempt before the `pending`.
pub async fn retry(
    db: &PgPool,
    broker: &Broker,
    scope: Scope,
    delivery_id: Uuid,
) -> Result<Retried, RetryError> {
    let mut tx = db.begin().await?;
    let found: Option<(String, i32, bool)> = sqlx::query_as(
        "SELECT d.status, d.attempts, e.deleted_at IS NOT NULL OR e.disabled_at IS NOT NULL \
         FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
         WHERE d.id = $1 AND ($2::uuid IS NULL OR d.partner_id = $2) FOR UPDATE OF d",
    )
    .bind(delivery_id)
    .bind(scope.partner())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((status, attempts, endpoint_gone)) = found else {
        return Ok(Retried::NotFound);
    };
    match DeliveryStatus::parse(&status) {
        Some(DeliveryStatus::Failed) if endpoint_gone => return Ok(Retried::EndpointGone),
        Some(DeliveryStatus::Failed) => {}
        Some(other) => return Ok(Retried::NotFailed(other)),
        None => {
            return Err(sqlx::Error::Decode(format!("delivery status {status:?}").into()).into())
        }
    }
    sqlx::query("UPDATE webhook_deliveries SET status = 'pending', failed_at = NULL WHERE id = $1")
        .bind(delivery_id)
        .execute(&mut *tx)
        .await?;
    let attempt = u32::try_from(attempts).unwrap_or(0) + 1;
    broker
        .publish_message(&WebhookAttempt::V1(WebhookAttemptV1 {
            delivery_id,
            attempt,
        }))
        .await?;
    tx.commit().await?;
    Ok(Retried::Scheduled { attempt })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_no_cursor() {
        let cursor = Cursor {
            created_at: DateTime::from_timestamp_micros(1_764_000_000_123_456).expect("a time"),
            id: Uuid::new_v4(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for raw in [
            "",
            "!!",
            "bm90IGEgY3Vyc29y",
            &URL_SAFE_NO_PAD.encode("12.not-a-uuid"),
        ] {
            assert_eq!(Cursor::decode(raw), None, "{raw}");
        }
    }

    #[test]
    fn statuses_are_named_as_the_column_holds_them() {
        for status in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).ok(),
                Some(serde_json::json!(status.as_str()))
            );
        }
        assert_eq!(DeliveryStatus::parse("Failed"), None);
    }
}
