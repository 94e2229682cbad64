//! Group commit for pending requests. Every accepted registration needs a
//! durable `registration_requests` row before its 202; one transaction per
//! row makes Postgres spend most of its time committing. Concurrent
//! requests instead hand their row to one task that writes whatever has
//! queued up as a single multi-row INSERT: one statement and one commit (one
//! WAL flush) for the batch. A lone request waits for no timer; it is
//! written at once, as a batch of one. Each caller still gets its own
//! answer only once its row is committed.

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Semaphore};
use uuid::Uuid;

/// Rows in one INSERT at most.
const MAX_BATCH: usize = 512;
/// Batches being written at once. One: while it commits, the next gathers,
/// so batches grow with the load (two in flight measured 7% fewer 202/s,
/// with Postgres spending 40 µs per row instead of 28).
const IN_FLIGHT: usize = 1;

/// A request's row, waiting to be written.
struct Pending {
    id: Uuid,
    client_addr: String,
    partner: Option<Uuid>,
    done: oneshot::Sender<Result<(), RecordError>>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum RecordError {
    #[error("recording pending requests: {0}")]
    Database(Arc<sqlx::Error>),
    #[error("the request recorder has stopped")]
    Stopped,
}

/// The handle requests use; cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::UnboundedSender<Pending>,
}

impl Recorder {
    /// Starts the writer task; it ends once every handle is dropped.
    pub fn spawn(db: PgPool) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(db, rx));
        Self { queue }
    }

    /// Records a request as pending; returns once its row is committed.
    pub async fn insert_pending(
        &self,
        id: Uuid,
        client_addr: String,
        partner: Option<Uuid>,
    ) -> Result<(), RecordError> {
        let (done, answer) = oneshot::channel();
        self.queue
            .send(Pending {
                id,
                client_addr,
                partner,
                done,
            })
            .map_err(|_| RecordError::Stopped)?;
        answer.await.unwrap_or(Err(RecordError::Stopped))
    }
}

async fn write_batches(db: PgPool, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        // Wait for a free slot first, so rows gather while both are busy.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let rows = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
        let db = db.clone();
        tokio::spawn(async move {
            let outcome = insert(&db, &rows)
                .await
                .map_err(|e| RecordError::Database(Arc::new(e)));
            for row in rows {
                // A caller that went away no longer needs its answer.
                let _ = row.done.send(outcome.clone());
            }
            drop(slot);
        });
    }
}

async fn insert(db: &PgPool, rows: &[Pending]) -> sqlx::Result<()> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let addrs: Vec<&str> = rows.iter().map(|r| r.client_addr.as_str()).collect();
    let partners: Vec<Option<Uuid>> = rows.iter().map(|r| r.partner).collect();
    sqlx::query(
        "INSERT INTO registration_requests (id, status, client_addr, partner_id) \
         SELECT id, 'pending', client_addr, partner_id \
         FROM UNNEST($1::uuid[], $2::text[], $3::uuid[]) AS t (id, client_addr, partner_id)",
    )
    .bind(&ids)
    .bind(&addrs)
    .bind(&partners)
    .execute(db)
    .await
    .map(drop)
}
