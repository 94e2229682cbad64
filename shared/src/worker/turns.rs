//! Turns within one process: deliveries with the same key (twin deliveries
//! of one event) run one after the other, deliveries with different keys
//! side by side. See [`super::Handler::turn_key`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use tokio::sync::{Mutex as TurnLock, OwnedMutexGuard};
use uuid::Uuid;

/// The keys being worked on in this process.
#[derive(Default)]
pub(super) struct Turns(Mutex<HashMap<Uuid, Arc<TurnLock<()>>>>);

impl Turns {
    /// Waits for `key`'s turn; it lasts until the guard is dropped.
    pub(super) async fn take(&self, key: Uuid) -> OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            // Forget locks nobody holds or waits for.
            map.retain(|_, l| Arc::strong_count(l) > 1);
            Arc::clone(map.entry(key).or_default())
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_key_waits_for_its_turn_and_other_keys_do_not() {
        let turns = Turns::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let held = turns.take(a).await;
        let soon = Duration::from_millis(10);
        assert!(tokio::time::timeout(soon, turns.take(a)).await.is_err());
        assert!(tokio::time::timeout(soon, turns.take(b)).await.is_ok());
        drop(held);
        assert!(tokio::time::timeout(soon, turns.take(a)).await.is_ok());
    }

    #[tokio::test]
    async fn finished_keys_are_forgotten() {
        let turns = Turns::default();
        for _ in 0..3 {
            drop(turns.take(Uuid::new_v4()).await);
        }
        drop(turns.take(Uuid::new_v4()).await);
        let len = turns.0.lock().map(|m| m.len()).unwrap_or_default();
        assert_eq!(len, 1);
    }
}
