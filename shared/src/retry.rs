//! Trying again: [`Backoff`], the one capped exponential backoff every
//! retry loop uses (reconnects, requeues, SMTP, recording a delivery,
//! migrations), and [`while_unavailable`], which waits out an outage in
//! place. The message being handled stays in hand while it waits, so an
//! outage never spends its delivery budget.

use std::{future::Future, time::Duration};

use crate::shutdown::Shutdown;

/// Capped exponential backoff: `first`, twice that, four times that, …
/// never more than `cap`. The default runs 200 ms, 400 ms, … up to 30 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    attempt: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(200), Duration::from_secs(30))
    }
}

impl Backoff {
    pub const fn new(first: Duration, cap: Duration) -> Self {
        Self {
            first,
            cap,
            attempt: 0,
        }
    }

    /// The wait before retry number `attempt` (0 for the first retry),
    /// whatever came before: for a count the broker keeps, such as a
    /// message's deliveries.
    pub fn delay(&self, attempt: u64) -> Duration {
        // 2^31 times any first delay is past every cap worth having.
        let exp = u32::try_from(attempt.min(31)).unwrap_or(31);
        self.first.saturating_mul(2u32.pow(exp)).min(self.cap)
    }

    /// The wait before the next retry of a loop; each call doubles it.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.delay(u64::from(self.attempt));
        self.attempt = self.attempt.saturating_add(1);
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

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn backoff_doubles_from_its_first_delay_up_to_its_cap() {
        let cases: [(Backoff, &[u64]); 4] = [
            (
                Backoff::default(),
                &[
                    200, 400, 800, 1_600, 3_200, 6_400, 12_800, 25_600, 30_000, 30_000,
                ],
            ),
            (
                Backoff::new(500 * MS, Duration::from_secs(60)),
                &[
                    500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000,
                ],
            ),
            (
                Backoff::new(200 * MS, Duration::from_secs(5)),
                &[200, 400, 800, 1_600, 3_200, 5_000, 5_000],
            ),
            (Backoff::new(300 * MS, 100 * MS), &[100, 100]),
        ];
        for (backoff, want) in cases {
            let mut running = backoff;
            for (attempt, &ms) in want.iter().enumerate() {
                let attempt = attempt as u64;
                assert_eq!(
                    backoff.delay(attempt),
                    Duration::from_millis(ms),
                    "{backoff:?} #{attempt}"
                );
                assert_eq!(
                    running.next_delay(),
                    Duration::from_millis(ms),
                    "{backoff:?} next #{attempt}"
                );
            }
        }
    }

    #[test]
    fn backoff_stays_at_its_cap_however_long_it_runs() {
        let day = Duration::from_secs(86_400);
        let cases = [
            (Backoff::default(), Duration::from_secs(30)),
            (
                Backoff::new(MS, Duration::from_secs(60)),
                Duration::from_secs(60),
            ),
            // No cap to speak of: doubling stops at 2^31, without overflow.
            (Backoff::new(day, Duration::MAX), day * (1 << 31)),
        ];
        for (backoff, want) in cases {
            for attempt in [40, 1_000, u64::MAX] {
                assert_eq!(backoff.delay(attempt), want, "{backoff:?} #{attempt}");
            }
        }
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
