//! Wakes the requests that wait for their outcome (`Prefer: wait=N`).
//! One `LISTEN registration_status` connection per process feeds them all:
//! a waiter sleeps until Postgres says its request changed, so hundreds of
//! waiting clients cost no polling at all.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use shared::shutdown::Shutdown;
use sqlx::{postgres::PgListener, PgPool};
use tokio::sync::Notify;
use uuid::Uuid;

/// The Postgres channel the `registration_requests` trigger notifies.
const CHANNEL: &str = "registration_status";

#[derive(Clone, Default)]
pub struct Outcomes {
    waiters: Arc<Mutex<HashMap<Uuid, Arc<Notify>>>>,
}

/// A subscription to one request's changes; unsubscribes when dropped.
pub struct Waiter {
    id: Uuid,
    notify: Arc<Notify>,
    outcomes: Outcomes,
}

impl Waiter {
    /// Resolves at the next change (or right away if one came since the
    /// last call: `Notify` keeps a permit).
    pub async fn changed(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.outcomes.lock().remove(&self.id);
    }
}

impl Outcomes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<Notify>>> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn subscribe(&self, id: Uuid) -> Waiter {
        let notify = Arc::new(Notify::new());
        self.lock().insert(id, Arc::clone(&notify));
        Waiter {
            id,
            notify,
            outcomes: self.clone(),
        }
    }

    fn wake(&self, id: Uuid) {
        if let Some(notify) = self.lock().get(&id) {
            notify.notify_one();
        }
    }

    /// After the listener lost its connection, notifications may have been
    /// missed: every waiter looks again.
    fn wake_all(&self) {
        for notify in self.lock().values() {
            notify.notify_one();
        }
    }

    /// Runs the listener until shutdown, reconnecting with backoff.
    pub fn spawn_listener(self, db: PgPool, shutdown: Shutdown) {
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(200);
            while !shutdown.is_triggered() {
                if let Err(e) = self.listen(&db, &shutdown).await {
                    tracing::warn!(error = %e, "status listener lost Postgres; reconnecting");
                }
                self.wake_all();
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {},
                    _ = shutdown.clone().wait() => {},
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        });
    }

    async fn listen(&self, db: &PgPool, shutdown: &Shutdown) -> sqlx::Result<()> {
        let mut listener = PgListener::connect_with(db).await?;
        listener.listen(CHANNEL).await?;
        // Anything that changed while we were not listening.
        self.wake_all();
        loop {
            tokio::select! {
                _ = shutdown.clone().wait() => return Ok(()),
                received = listener.try_recv() => match received? {
                    Some(n) => {
                        if let Ok(id) = Uuid::parse_str(n.payload()) {
                            self.wake(id);
                        }
                    }
                    // The connection dropped and will be re-established.
                    None => self.wake_all(),
                },
            }
        }
    }
}
