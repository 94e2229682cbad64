//! Recording attempts in batches: every attempt in flight hands its result
//! to one writer task, which records all it has gathered in one statement
//! (the attempt rows, each delivery's state, each endpoint's failing
//! streak) while the next batch gathers. An attempt is acked only once its
//! batch is committed. A backlog of thousands costs a few hundred commits,
//! not thousands.

use std::{collections::HashSet, time::Duration};

use shared::{db, worker::Failure};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::sender::Attempted;

/// The most attempts one statement records.
const MOST_PER_BATCH: usize = 512;

/// What an attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// A later attempt is scheduled.
    Retried,
    /// It was the last one, or the endpoint is gone.
    Failed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retried => "retried",
            Self::Failed => "failed",
        }
    }
}

/// One attempt made, to be recorded.
#[derive(Debug, Clone)]
pub struct Record {
    pub delivery_id: Uuid,
    pub endpoint_id: Uuid,
    pub attempt: i32,
    pub attempted: Attempted,
    pub verdict: Verdict,
}

/// Why a batch could not be written, for each attempt in it.
#[derive(Debug, Clone)]
struct WriteError {
    unavailable: bool,
    message: String,
}

type Job = (Record, oneshot::Sender<Result<(), WriteError>>);

/// The handle attempts record through.
#[derive(Clone)]
pub struct Recorder(mpsc::Sender<Job>);

impl Recorder {
    /// Starts the writer; it stops when the last handle is dropped.
    pub fn spawn(db: PgPool, disable_after: Duration) -> Self {
        let (tx, rx) = mpsc::channel(MOST_PER_BATCH * 4);
        tokio::spawn(write_batches(db, rx, disable_after));
        Self(tx)
    }

    /// Records one attempt; returns once it is committed.
    pub async fn record(&self, record: Record) -> Result<(), Failure> {
        let (done, written) = oneshot::channel();
        let stopped = || Failure::Unavailable("the attempt recorder stopped".into());
        self.0.send((record, done)).await.map_err(|_| stopped())?;
        match written.await.map_err(|_| stopped())? {
            Ok(()) => Ok(()),
            Err(e) if e.unavailable => Err(Failure::Unavailable(e.message)),
            Err(e) => Err(Failure::Transient(e.message)),
        }
    }
}

async fn write_batches(db: PgPool, mut rx: mpsc::Receiver<Job>, disable_after: Duration) {
    let mut batch = Vec::with_capacity(MOST_PER_BATCH);
    while rx.recv_many(&mut batch, MOST_PER_BATCH).await > 0 {
        let records: Vec<&Record> = batch.iter().map(|(record, _)| record).collect();
        let written = write(&db, &records, disable_after)
            .await
            .map_err(|e| WriteError {
                unavailable: db::is_transient(&e),
                message: format!("database: {e}"),
            });
        for (_, done) in batch.drain(..) {
            let _ = done.send(written.clone());
        }
    }
}

/// Records a batch in one statement: every attempt's row; each pending
/// delivery's attempt count and state (a duplicate of an attempt already
/// recorded changes nothing, except that a success always settles it);
/// and each endpoint's streak: cleared by any success, begun by a
/// failure, and the endpoint disabled once it has lasted `disable_after`.
#[tracing::instrument(skip_all, fields(attempts = records.len()))]
async fn write(db: &PgPool, records: &[&Record], disable_after: Duration) -> sqlx::Result<()> {
    let recovered: HashSet<Uuid> = records
        .iter()
        .filter(|r| r.verdict == Verdict::Delivered)
        .map(|r| r.endpoint_id)
        .collect();
    let failing: HashSet<Uuid> = records
        .iter()
        .map(|r| r.endpoint_id)
        .filter(|id| !recovered.contains(id))
        .collect();
    let mut tx = db.begin().await?;
    let streaks: Vec<(Uuid, Option<bool>)> = sqlx::query_as(
        "WITH r AS (
             SELECT * FROM UNNEST($1::uuid[], $2::int4[], $3::timestamptz[], $4::int4[],
                                  $5::int4[], $6::text[], $7::text[])
                 AS r (delivery_id, attempt, attempted_at, status_code, latency_ms, error, verdict)
         ), recorded AS (
             INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, status_code, latency_ms, error)
             SELECT delivery_id, attempt, attempted_at, status_code, latency_ms, error FROM r
         ), settled AS (
             UPDATE webhook_deliveries d SET
                 attempts = GREATEST(d.attempts, r.attempt),
                 last_attempt_at = r.attempted_at,
                 status = CASE WHEN r.verdict = 'retried' THEN d.status ELSE r.verdict END,
                 delivered_at = CASE WHEN r.verdict = 'delivered' THEN now() ELSE d.delivered_at END,
                 failed_at = CASE WHEN r.verdict = 'failed' THEN now() ELSE d.failed_at END
             FROM r
             WHERE d.id = r.delivery_id AND d.status = 'pending'
               AND (r.verdict = 'delivered' OR d.attempts < r.attempt)
         ), recovered AS (
             UPDATE webhook_endpoints SET failing_since = NULL
             WHERE id = ANY ($8) AND failing_since IS NOT NULL
         )
         UPDATE webhook_endpoints e SET
             failing_since = COALESCE(e.failing_since, now()),
             disabled_at = CASE
                 WHEN e.disabled_at IS NULL AND e.failing_since <= now() - make_interval(secs => $10)
                 THEN now() ELSE e.disabled_at END
         WHERE e.id = ANY ($9)
           AND (e.failing_since IS NULL OR e.disabled_at IS NULL)
         RETURNING e.id, e.disabled_at = now() AS disabled_now",
    )
    .bind(records.iter().map(|r| r.delivery_id).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.attempt).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.attempted.at).collect::<Vec<_>>())
    .bind(
        records
            .iter()
            .map(|r| r.attempted.status.map(i32::from))
            .collect::<Vec<_>>(),
    )
    .bind(
        records
            .iter()
            .map(|r| i32::try_from(r.attempted.latency.as_millis()).unwrap_or(i32::MAX))
            .collect::<Vec<_>>(),
    )
    .bind(
        records
            .iter()
            .map(|r| r.attempted.error.map(|e| e.as_str()))
            .collect::<Vec<_>>(),
    )
    .bind(records.iter().map(|r| r.verdict.as_str()).collect::<Vec<_>>())
    .bind(recovered.into_iter().collect::<Vec<_>>())
    .bind(failing.into_iter().collect::<Vec<_>>())
    .bind(disable_after.as_secs_f64())
    // Planned afresh for each batch, with its arrays as they are: a plan
    // cached on a young table without statistics joined the batch to every
    // pending delivery through the partner-and-status index (1.5 ms a batch
    // in `bench/run --only webhooks`) instead of one key lookup per row.
    // An unnamed statement is parsed and executed in two round trips: in a
    // transaction of its own, so that PgBouncer in transaction mode runs
    // both on the same server connection.
    .persistent(false)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let disabled = streaks
        .into_iter()
        .filter_map(|(id, now)| now.unwrap_or(false).then_some(id));
    for endpoint_id in disabled {
        tracing::warn!(
            %endpoint_id,
            failing_for_secs = disable_after.as_secs(),
            "webhook endpoint disabled: every attempt failed for too long"
        );
    }
    Ok(())
}
