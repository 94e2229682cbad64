//! What the webhook worker reads and writes in Postgres, besides the
//! attempts' results (see [`crate::recorder`]): who submitted a request,
//! whether a batch has settled, a partner's deliveries of an event, and
//! what one attempt needs.

use chrono::{DateTime, Utc};
use shared::{
    crypto::Sealed,
    messages::OutcomeEvent,
    webhook::{BatchCounts, Payload},
};
use sqlx::{types::Json, PgPool};
use uuid::Uuid;

/// Who an event is for: the partner that submitted the registration, and
/// the batch it came in, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub partner_id: Uuid,
    pub batch_id: Option<Uuid>,
}

/// Where the registration an event is about came from: `None` for a
/// patient who registered on their own.
#[tracing::instrument(skip_all)]
pub async fn origin_of(db: &PgPool, event: &OutcomeEvent) -> sqlx::Result<Option<Origin>> {
    const SELECT: &str = "SELECT partner_id, batch_id FROM registration_requests";
    let row: Option<(Option<Uuid>, Option<Uuid>)> = match (event, event.request_id()) {
        (_, Some(request_id)) => {
            sqlx::query_as(&format!("{SELECT} WHERE id = $1"))
                .bind(request_id)
                .fetch_optional(db)
                .await?
        }
        (OutcomeEvent::EmailVerified(e), None) => {
            sqlx::query_as(&format!("{SELECT} WHERE patient_id = $1"))
                .bind(e.patient_id)
                .fetch_optional(db)
                .await?
        }
        _ => None,
    };
    Ok(row.and_then(|(partner, batch_id)| {
        partner.map(|partner_id| Origin {
            partner_id,
            batch_id,
        })
    }))
}

/// How a batch's items ended, once none is pending: `None` while one is.
/// Whoever handles the outcome of a batch's last pending item sees `Some`
/// (its own request settled before its outcome was published); two last
/// items settling at once may both see it, and the deliveries' unique
/// (event, endpoint) keeps one `batch.completed` each.
#[tracing::instrument(skip_all, fields(%batch_id))]
pub async fn settled_batch(db: &PgPool, batch_id: Uuid) -> sqlx::Result<Option<BatchCounts>> {
    // A probe of the partial index of pending batch items, not a scan.
    let pending: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM registration_requests \
                        WHERE batch_id = $1 AND status = 'pending')",
    )
    .bind(batch_id)
    .fetch_one(db)
    .await?;
    if pending {
        return Ok(None);
    }
    let (total, completed, rejected, failed, invalid): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), \
                count(*) FILTER (WHERE r.status = 'completed'), \
                count(*) FILTER (WHERE r.status = 'rejected'), \
                count(*) FILTER (WHERE r.status = 'failed'), \
                count(*) FILTER (WHERE i.request_id IS NULL) \
         FROM registration_batch_items i LEFT JOIN registration_requests r ON r.id = i.request_id \
         WHERE i.batch_id = $1",
    )
    .bind(batch_id)
    .fetch_one(db)
    .await?;
    let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    Ok(Some(BatchCounts {
        total: count(total),
        completed: count(completed),
        rejected: count(rejected),
        failed: count(failed),
        invalid: count(invalid),
    }))
}

/// An event's deliveries whose first attempt is to be published.
#[derive(Debug, Default)]
pub struct FannedOut {
    /// Deliveries this call created.
    pub created: u64,
    /// Deliveries of the event not attempted yet (those just created, and
    /// any a crash left unpublished): their first attempt is published.
    pub unattempted: Vec<Uuid>,
}

/// One delivery per live endpoint of the partner subscribed to the
/// event's type (an endpoint that already has one keeps it), and the
/// event's deliveries not attempted yet, in one statement.
///
/// Every lookup is by key (`event_id = $2` on the unique (event, endpoint)
/// index): with a list of events, or on a fresh table without statistics,
/// the planner took the partner-and-status index for `status = 'pending'`
/// and read every pending delivery per event (0.9 ms each in `bench/run
/// --only webhooks`, three quarters of Postgres' time).
#[tracing::instrument(skip_all, fields(%partner_id, event_type = payload.kind))]
pub async fn fan_out(
    db: &PgPool,
    partner_id: Uuid,
    event_id: Uuid,
    payload: &Payload,
) -> sqlx::Result<FannedOut> {
    let rows: Vec<(Uuid, bool)> = sqlx::query_as(
        "WITH created AS (
             INSERT INTO webhook_deliveries (id, endpoint_id, partner_id, event_id, event_type, payload)
             SELECT gen_random_uuid(), e.id, e.partner_id, $2, $3, $4
             FROM webhook_endpoints e
             WHERE e.partner_id = $1 AND e.deleted_at IS NULL AND e.disabled_at IS NULL
               AND $3 = ANY (e.event_types)
             ON CONFLICT (event_id, endpoint_id) DO NOTHING
             RETURNING id)
         SELECT id, true FROM created
         UNION ALL
         -- The statement's snapshot does not see the rows it inserts: no twice.
         SELECT id, false FROM webhook_deliveries
         WHERE event_id = $2 AND status = 'pending' AND attempts = 0",
    )
    .bind(partner_id)
    .bind(event_id)
    .bind(&payload.kind)
    .bind(Json(payload))
    .fetch_all(db)
    .await?;
    Ok(FannedOut {
        created: rows.iter().filter(|(_, created)| *created).count() as u64,
        unattempted: rows.into_iter().map(|(id, _)| id).collect(),
    })
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

/// Fails a delivery whose attempt was dead-lettered, with an attempt row
/// that says why (error class `undeliverable`); a delivery already settled
/// is left as it is.
pub async fn fail_undeliverable(db: &PgPool, delivery_id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "WITH failed AS ( \
             UPDATE webhook_deliveries SET status = 'failed', failed_at = now(), \
                 attempts = attempts + 1, last_attempt_at = now() \
             WHERE id = $1 AND status = 'pending' RETURNING id, attempts) \
         INSERT INTO webhook_attempts (delivery_id, attempt, status_code, latency_ms, error) \
         SELECT id, attempts, NULL, 0, 'undeliverable' FROM failed",
    )
    .bind(delivery_id)
    .execute(db)
    .await
    .map(drop)
}
