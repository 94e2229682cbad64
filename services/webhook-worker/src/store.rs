//! What the webhook worker reads and writes in Postgres, besides the
//! attempts' results (see [`crate::recorder`]): who submitted a request,
//! a partner's deliveries of an event, and what one attempt needs.

use chrono::{DateTime, Utc};
use shared::{crypto::Sealed, messages::OutcomeEvent, webhook::Payload};
use sqlx::{types::Json, PgPool};
use uuid::Uuid;

/// The partner that submitted the registration an event is about: `None`
/// for a patient who registered on their own.
#[tracing::instrument(skip_all)]
pub async fn partner_of(db: &PgPool, event: &OutcomeEvent) -> sqlx::Result<Option<Uuid>> {
    let partner: Option<Option<Uuid>> = match (event, event.request_id()) {
        (_, Some(request_id)) => {
            sqlx::query_scalar("SELECT partner_id FROM registration_requests WHERE id = $1")
                .bind(request_id)
                .fetch_optional(db)
                .await?
        }
        (OutcomeEvent::EmailVerified(e), None) => {
            sqlx::query_scalar("SELECT partner_id FROM registration_requests WHERE patient_id = $1")
                .bind(e.patient_id)
                .fetch_optional(db)
                .await?
        }
        _ => None,
    };
    Ok(partner.flatten())
}

/// One delivery per live endpoint of the partner subscribed to the
/// event's type; an endpoint that already has one keeps it.
#[tracing::instrument(skip_all, fields(%partner_id, event_type = payload.kind))]
pub async fn create_deliveries(
    db: &PgPool,
    partner_id: Uuid,
    event_id: Uuid,
    payload: &Payload,
) -> sqlx::Result<u64> {
    let created = sqlx::query(
        "INSERT INTO webhook_deliveries (id, endpoint_id, partner_id, event_id, event_type, payload)
         SELECT gen_random_uuid(), e.id, e.partner_id, $2, $3, $4
         FROM webhook_endpoints e
         WHERE e.partner_id = $1 AND e.deleted_at IS NULL AND e.disabled_at IS NULL
           AND $3 = ANY (e.event_types)
         ON CONFLICT (event_id, endpoint_id) DO NOTHING",
    )
    .bind(partner_id)
    .bind(event_id)
    .bind(&payload.kind)
    .bind(Json(payload))
    .execute(db)
    .await?;
    Ok(created.rows_affected())
}

/// The event's deliveries not attempted yet: the first attempt of each
/// is (re)published.
pub async fn unattempted(db: &PgPool, event_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT id FROM webhook_deliveries WHERE event_id = $1 AND status = 'pending' AND attempts = 0",
    )
    .bind(event_id)
    .fetch_all(db)
    .await
}

/// A delivery and its endpoint, as one attempt needs them.
#[derive(sqlx::FromRow)]
pub struct Target {
    pub endpoint_id: Uuid,
    pub status: String,
    pub attempts: i32,
    pub payload: serde_json::Value,
    pub url: String,
    pub secret: Json<Sealed>,
    pub previous_secret: Option<Json<Sealed>>,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Disabled, or deleted by its partner.
    pub endpoint_gone: bool,
}

impl Target {
    /// Whether attempt `attempt` has nothing left to do: the delivery is
    /// settled, or this attempt (or a later one) was already made.
    pub fn is_done_with(&self, attempt: i32) -> bool {
        self.status != "pending" || attempt <= self.attempts
    }
}

/// How [`target`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// As committed now.
    Plain,
    /// After any transaction writing the delivery has ended (a manual
    /// retry holds it `FOR UPDATE` from its check until after its publish).
    AfterWriters,
}

#[tracing::instrument(skip_all)]
pub async fn target(db: &PgPool, delivery_id: Uuid, read: Read) -> sqlx::Result<Option<Target>> {
    const SELECT: &str = "SELECT d.endpoint_id, d.status, d.attempts, d.payload, e.url, e.secret,
                e.previous_secret, e.previous_secret_expires_at,
                (e.disabled_at IS NOT NULL OR e.deleted_at IS NOT NULL) AS endpoint_gone
         FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE d.id = $1";
    let query = match read {
        Read::Plain => SELECT.to_owned(),
        Read::AfterWriters => format!("{SELECT} FOR KEY SHARE OF d"),
    };
    sqlx::query_as(&query)
        .bind(delivery_id)
        .fetch_optional(db)
        .await
}
