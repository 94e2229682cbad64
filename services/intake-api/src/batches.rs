//! Registration batches in Postgres: the batch's Idempotency-Key, the one
//! statement that records a batch (its row, every accepted item's pending
//! request, every item with its inline errors), settling the key once the
//! broker confirmed, failing what it did not, and reading a batch back.
//!
//! A batch's key lives in `idempotency_keys` under the scope
//! `batch:<partner id>` (apart from the same partner's single
//! registrations), `accepting` until every accepted item is confirmed, then
//! `accepted` with the batch's id.

use std::time::Duration;

use chrono::{DateTime, Utc};
use shared::{
    messages::{OutcomeEvent, RegistrationSettledV1},
    validation::FieldErrors,
};
use sqlx::{types::Json, PgPool};
use uuid::Uuid;

use crate::outbox::Staged;

/// What a batch's key says about a request that carries it.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// First use: go on, and finish with [`complete`] or release it. The
    /// claim's instant tells this claim from a later takeover.
    New(DateTime<Utc>),
    /// Seen before with this body: answer as for this batch.
    Replay(Uuid),
    /// Seen before with another body.
    Mismatch,
    /// The first request with this key is still being accepted.
    InProgress,
}

/// How long a claim may stay `accepting` before a retry may take it over
/// (its holder died before its answer), as for single registrations.
const ABANDONED_AFTER: &str = "30 seconds";

/// The scope of a partner's batch keys.
pub fn scope(partner: Uuid) -> String {
    format!("batch:{partner}")
}

pub async fn claim(
    db: &PgPool,
    scope: &str,
    key: &str,
    print: &[u8; 32],
    ttl: Duration,
) -> sqlx::Result<Claim> {
    let claimed: Option<DateTime<Utc>> = sqlx::query_scalar(&format!(
        "INSERT INTO idempotency_keys (scope, key, fingerprint, status) VALUES ($1, $2, $3, 'accepting') \
         ON CONFLICT (scope, key) DO UPDATE \
            SET fingerprint = EXCLUDED.fingerprint, status = 'accepting', request_id = NULL, \
                batch_id = NULL, created_at = now() \
          WHERE idempotency_keys.created_at < now() - $4::interval \
             OR (idempotency_keys.status = 'accepting' \
                 AND idempotency_keys.created_at < now() - interval '{ABANDONED_AFTER}' \
                 AND idempotency_keys.fingerprint = EXCLUDED.fingerprint) \
         RETURNING created_at"
    ))
    .bind(scope)
    .bind(key)
    .bind(print.as_slice())
    .bind(format!("{} seconds", ttl.as_secs()))
    .fetch_optional(db)
    .await?;
    if let Some(at) = claimed {
        return Ok(Claim::New(at));
    }
    let (stored, status, batch_id): (Vec<u8>, String, Option<Uuid>) = sqlx::query_as(
        "SELECT fingerprint, status, batch_id FROM idempotency_keys WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_one(db)
    .await?;
    Ok(match (stored == print, status.as_str(), batch_id) {
        (false, _, _) => Claim::Mismatch,
        (true, "accepted", Some(id)) => Claim::Replay(id),
        _ => Claim::InProgress,
    })
}

/// One item as recorded: accepted (its request) or answered inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRow {
    pub client_ref: String,
    pub outcome: ItemOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    Accepted(Uuid),
    Invalid(FieldErrors),
}

/// Records the batch in one statement (one commit): its row, a pending
/// request per accepted item (with its partner and batch), and every item
/// in order with its request or its field errors.
#[tracing::instrument(skip_all, fields(%batch_id, items = items.len()))]
pub async fn record(
    db: &PgPool,
    batch_id: Uuid,
    partner: Uuid,
    client_addr: &str,
    items: &[ItemRow],
) -> sqlx::Result<()> {
    let positions: Vec<i32> = (0..).take(items.len()).collect();
    let refs: Vec<&str> = items.iter().map(|i| i.client_ref.as_str()).collect();
    let requests: Vec<Option<Uuid>> = items.iter().map(|i| i.outcome.request_id()).collect();
    let errors: Vec<Option<Json<&FieldErrors>>> = items
        .iter()
        .map(|i| match &i.outcome {
            ItemOutcome::Invalid(errors) => Some(Json(errors)),
            ItemOutcome::Accepted(_) => None,
        })
        .collect();
    let accepted: Vec<Uuid> = requests.iter().flatten().copied().collect();
    sqlx::query(
        "WITH batch AS ( \
             INSERT INTO registration_batches (id, partner_id, total) VALUES ($1, $2, $3) \
         ), requests AS ( \
             INSERT INTO registration_requests (id, status, client_addr, partner_id, batch_id) \
             SELECT id, 'pending', $4, $2, $1 FROM UNNEST($5::uuid[]) AS t (id) \
         ) \
         INSERT INTO registration_batch_items (batch_id, position, client_ref, request_id, errors) \
         SELECT $1, position, client_ref, request_id, errors \
         FROM UNNEST($6::int[], $7::text[], $8::uuid[], $9::jsonb[]) \
              AS t (position, client_ref, request_id, errors)",
    )
    .bind(batch_id)
    .bind(partner)
    .bind(i32::try_from(items.len()).unwrap_or(i32::MAX))
    .bind(client_addr)
    .bind(&accepted)
    .bind(&positions)
    .bind(&refs)
    .bind(&requests)
    .bind(&errors)
    .execute(db)
    .await
    .map(drop)
}

impl ItemOutcome {
    pub fn request_id(&self) -> Option<Uuid> {
        match self {
            Self::Accepted(id) => Some(*id),
            Self::Invalid(_) => None,
        }
    }
}

/// The key's claim is done: a replay gets this batch from now on. A claim
/// taken over meanwhile (this one outlived [`ABANDONED_AFTER`]) is left to
/// its new holder.
pub async fn complete(
    db: impl sqlx::PgExecutor<'_>,
    scope: &str,
    key: &str,
    claimed_at: DateTime<Utc>,
    batch_id: Uuid,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE idempotency_keys SET status = 'accepted', batch_id = $4 \
         WHERE scope = $1 AND key = $2 AND status = 'accepting' AND created_at = $3",
    )
    .bind(scope)
    .bind(key)
    .bind(claimed_at)
    .bind(batch_id)
    .execute(db)
    .await
    .map(drop)
}

/// What becomes of a batch's key once its unconfirmed items are failed.
pub enum KeyFate<'a> {
    /// Part of the batch was confirmed: the batch is answered (202), and
    /// replays get it.
    Complete {
        scope: &'a str,
        key: &'a str,
        claimed_at: DateTime<Utc>,
        batch_id: Uuid,
    },
    /// Nothing was confirmed: the batch is refused (503), and the key is
    /// free for a retry.
    Release { scope: &'a str, key: &'a str },
}

/// Marks the requests the broker did not confirm as failed (a worker that
/// still sees one's message skips it and republishes this outcome), each
/// with its `registration.failed` staged in the outbox, as a single
/// registration's are: its partner hears of it whichever side noticed, and
/// the batch can complete. The key is settled in the same transaction.
/// Returns the staged outcomes, to publish once committed.
#[tracing::instrument(skip_all, fields(unconfirmed = ids.len()))]
pub async fn fail_unconfirmed(
    db: &PgPool,
    ids: &[Uuid],
    key: KeyFate<'_>,
) -> sqlx::Result<Vec<OutcomeEvent>> {
    let mut tx = db.begin().await?;
    let failed: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE registration_requests \
         SET status = 'failed', failure_reason = 'not accepted: broker unavailable' \
         WHERE id = ANY($1) AND status = 'pending' RETURNING id",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    let now = Utc::now();
    let events: Vec<OutcomeEvent> = failed
        .iter()
        .map(|&request_id| {
            OutcomeEvent::Failed(RegistrationSettledV1 {
                event_id: request_id,
                request_id,
                patient_id: None,
                errors: None,
                occurred_at: now,
            })
        })
        .collect();
    let staged: Vec<Json<Staged>> = events.iter().cloned().map(|e| Json(e.into())).collect();
    sqlx::query(
        "INSERT INTO outbox (event_id, event) SELECT * FROM UNNEST($1::uuid[], $2::jsonb[]) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(&failed)
    .bind(&staged)
    .execute(&mut *tx)
    .await?;
    match key {
        KeyFate::Complete {
            scope,
            key,
            claimed_at,
            batch_id,
        } => complete(&mut *tx, scope, key, claimed_at, batch_id).await?,
        KeyFate::Release { scope, key } => {
            sqlx::query(
                "DELETE FROM idempotency_keys \
                 WHERE scope = $1 AND key = $2 AND status = 'accepting'",
            )
            .bind(scope)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(events)
}

/// A batch's items in order, as first answered.
pub async fn items(db: &PgPool, batch_id: Uuid) -> sqlx::Result<Vec<ItemRow>> {
    let rows: Vec<(String, Option<Uuid>, Option<Json<FieldErrors>>)> = sqlx::query_as(
        "SELECT client_ref, request_id, errors FROM registration_batch_items \
         WHERE batch_id = $1 ORDER BY position",
    )
    .bind(batch_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(client_ref, request_id, errors)| ItemRow {
            client_ref,
            outcome: match request_id {
                Some(id) => ItemOutcome::Accepted(id),
                None => ItemOutcome::Invalid(errors.map(|e| e.0).unwrap_or_default()),
            },
        })
        .collect())
}

/// A batch as its partner reads it: when, how many items, and how many
/// are in each state.
#[derive(Debug, sqlx::FromRow)]
pub struct Summary {
    pub created_at: DateTime<Utc>,
    pub total: i32,
    pub pending: i64,
    pub completed: i64,
    pub rejected: i64,
    pub failed: i64,
    pub invalid: i64,
}

/// The batch, if it is this partner's.
pub async fn summary(db: &PgPool, batch_id: Uuid, partner: Uuid) -> sqlx::Result<Option<Summary>> {
    sqlx::query_as(
        "SELECT b.created_at, b.total, \
                count(r.id) FILTER (WHERE r.status = 'pending') AS pending, \
                count(r.id) FILTER (WHERE r.status = 'completed') AS completed, \
                count(r.id) FILTER (WHERE r.status = 'rejected') AS rejected, \
                count(r.id) FILTER (WHERE r.status = 'failed') AS failed, \
                count(*) FILTER (WHERE i.position IS NOT NULL AND i.request_id IS NULL) AS invalid \
         FROM registration_batches b \
         LEFT JOIN registration_batch_items i ON i.batch_id = b.id \
         LEFT JOIN registration_requests r ON r.id = i.request_id \
         WHERE b.id = $1 AND b.partner_id = $2 \
         GROUP BY b.id",
    )
    .bind(batch_id)
    .bind(partner)
    .fetch_optional(db)
    .await
}

/// One item as read back: where it is in the batch, and its request's
/// status and errors (a rejection's) or its own (answered inline).
#[derive(Debug, sqlx::FromRow)]
pub struct ItemState {
    pub position: i32,
    pub client_ref: String,
    pub request_id: Option<Uuid>,
    pub status: Option<String>,
    pub errors: Option<Json<FieldErrors>>,
}

/// Up to `limit` items after position `after` (all from the start when
/// `None`), in order.
pub async fn page(
    db: &PgPool,
    batch_id: Uuid,
    after: Option<i32>,
    limit: i64,
) -> sqlx::Result<Vec<ItemState>> {
    sqlx::query_as(
        "SELECT i.position, i.client_ref, i.request_id, r.status, COALESCE(i.errors, r.errors) AS errors \
         FROM registration_batch_items i LEFT JOIN registration_requests r ON r.id = i.request_id \
         WHERE i.batch_id = $1 AND i.position > $2 \
         ORDER BY i.position LIMIT $3",
    )
    .bind(batch_id)
    .bind(after.unwrap_or(-1))
    .bind(limit)
    .fetch_all(db)
    .await
}
