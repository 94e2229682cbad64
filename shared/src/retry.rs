//! Waiting out an outage in place: an operation whose dependency is down
//! is tried again with capped exponential backoff until it gets through or
//! the service shuts down. The message being handled stays in hand, so an
//! outage never spends its delivery budget.

use std::{future::Future, time::Duration};

use crate::shutdown::Shutdown;

const FIRST: Duration = Duration::from_millis(200);
const CAP: Duration = Duration::from_secs(30);

/// Capped exponential backoff: 200 ms, 400 ms, … up to 30 s. Shared by
/// [`while_unavailable`] and the consume loop's reconnects and requeues.
#[derive(Default)]
pub(crate) struct Backoff(u32);

impl Backoff {
    pub(crate) fn for_attempt(attempt: u64) -> Duration {
        let exp = u32::try_from(attempt.min(8)).unwrap_or(8);
        (FIRST * 2u32.pow(exp)).min(CAP)
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let d = Self::for_attempt(u64::from(self.0));
        self.0 = self.0.saturating_add(1);
        d
    }
}

/// Runs `attempt` until it succeeds or fails with an error for which
/// `is_unavailable` is false; returns the last error on shutdown.
pub async fn while_unavailable<T, E, F, Fut>(
    shutdown: &Shutdown,
    is_unavailable: impl Fn(&E) -> bool,
    mut attempt: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::default();
    loop {
        match attempt().await {
            Err(e) if is_unavailable(&e) && !shutdown.is_triggered() => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "a dependency is unavailable; retrying in place");
                shutdown.sleep(delay).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let delays: Vec<u128> = (0..12)
            .map(|n| Backoff::for_attempt(n).as_millis())
            .collect();
        assert_eq!(&delays[..4], &[200, 400, 800, 1600]);
        assert!(delays.iter().all(|&d| d <= 30_000));
        assert_eq!(delays[11], 30_000);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_only_while_unavailable() {
        let (_trigger, shutdown) = Shutdown::new();
        let calls = AtomicU32::new(0);
        let result: Result<(), String> = while_unavailable(
            &shutdown,
            |e: &String| e == "down",
            || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0..=2 => Err("down".to_owned()),
                    _ => Err("broken".to_owned()),
                }
            },
        )
        .await;
        assert_eq!(result, Err("broken".to_owned()));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_shutdown() {
        let (trigger, shutdown) = Shutdown::new();
        trigger.fire();
        let result: Result<(), String> = while_unavailable(
            &shutdown,
            |_: &String| true,
            || async { Err("down".to_owned()) },
        )
        .await;
        assert_eq!(result, Err("down".to_owned()));
    }
}
