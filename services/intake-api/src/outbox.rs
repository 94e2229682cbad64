//! Events that must go out once a transaction commits (a password changed,
//! so its notice email): written in that transaction, published right after
//! it commits, and deleted once the broker confirmed them. If that first try
//! fails (RabbitMQ down, the process killed), the relay publishes what is
//! left: at least once, and the notification worker is idempotent per event.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use shared::{
    broker::Broker,
    messages::{OutcomeEvent, PatientEvent},
    shutdown::Shutdown,
};
use sqlx::{types::Json, PgConnection, PgPool};
use uuid::Uuid;

/// How often the relay looks for leftovers.
const RELAY_EVERY: Duration = Duration::from_secs(5);
/// Rows younger than this are still being published by their request.
const LEFT_AFTER: &str = "10 seconds";
const BATCH: i64 = 100;

/// What the outbox holds: any of the events intake-api publishes after a
/// commit (each body tagged by its own versioned `type`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Staged {
    Patient(PatientEvent),
    Outcome(OutcomeEvent),
}

impl From<PatientEvent> for Staged {
    fn from(event: PatientEvent) -> Self {
        Self::Patient(event)
    }
}

impl From<OutcomeEvent> for Staged {
    fn from(event: OutcomeEvent) -> Self {
        Self::Outcome(event)
    }
}

impl Staged {
    fn event_id(&self) -> Uuid {
        match self {
            Self::Patient(e) => e.event_id(),
            Self::Outcome(e) => e.event_id(),
        }
    }

    async fn publish(&self, broker: &Broker) -> Result<(), shared::broker::BrokerError> {
        match self {
            Self::Patient(e) => broker.publish_message(e).await,
            Self::Outcome(e) => broker.publish_message(e).await,
        }
    }
}

/// Writes `event` in the caller's transaction.
pub async fn stage(conn: &mut PgConnection, event: &Staged) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO outbox (event_id, event) VALUES ($1, $2)")
        .bind(event.event_id())
        .bind(Json(event))
        .execute(conn)
        .await
        .map(drop)
}

/// Publishes a staged event now that its transaction committed, in a task
/// of its own: the answer waits for no broker (what was done is done), and
/// the relay retries what this does not get out.
pub fn publish_soon(state: &crate::AppState, event: impl Into<Staged>) {
    let event = event.into();
    let (db, broker) = (state.db.clone(), state.broker.clone());
    tokio::spawn(async move { publish(&db, &broker, &event).await });
}

async fn publish(db: &PgPool, broker: &Broker, event: &Staged) {
    let event_id = event.event_id();
    match event.publish(broker).await {
        Ok(()) => {
            if let Err(e) = delete(db, event_id).await {
                tracing::warn!(error = %e, %event_id, "published; the relay will publish it again");
            }
        }
        Err(e) => tracing::warn!(error = %e, %event_id, "event not published yet; the relay will"),
    }
}

async fn delete(db: &PgPool, event_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM outbox WHERE event_id = $1")
        .bind(event_id)
        .execute(db)
        .await
        .map(drop)
}

/// Publishes the leftovers of every instance, each row held by one relay
/// at a time (`SKIP LOCKED`), until shutdown.
pub fn spawn_relay(db: PgPool, broker: Broker, shutdown: Shutdown) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(RELAY_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {},
                () = shutdown.clone().wait() => return,
            }
            match relay_once(&db, &broker).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(published = n, "outbox leftovers published"),
                Err(e) => tracing::warn!(error = %e, "outbox relay: will retry"),
            }
        }
    });
}

/// Claims a batch of leftovers (moving their `created_at` on, so no other
/// relay takes them for [`LEFT_AFTER`]), then publishes and deletes each:
/// no transaction or lock is held while the broker is talked to.
async fn relay_once(db: &PgPool, broker: &Broker) -> anyhow::Result<usize> {
    let rows: Vec<(Uuid, Json<Staged>)> = sqlx::query_as(&format!(
        "UPDATE outbox SET created_at = now() WHERE event_id IN ( \
             SELECT event_id FROM outbox WHERE created_at < now() - interval '{LEFT_AFTER}' \
             ORDER BY created_at LIMIT {BATCH} FOR UPDATE SKIP LOCKED) \
         RETURNING event_id, event"
    ))
    .fetch_all(db)
    .await?;
    let mut published = 0;
    for (event_id, Json(event)) in rows {
        event.publish(broker).await?;
        delete(db, event_id).await?;
        published += 1;
    }
    Ok(published)
}
