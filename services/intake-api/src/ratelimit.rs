//! A sliding-window rate limiter kept in memory, per process: enough to
//! blunt abuse of the resend endpoint on each replica. (The login lockout,
//! which must hold across replicas, lives in Postgres.)

use std::{
    collections::{HashMap, VecDeque},
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

pub struct RateLimiter {
    max: usize,
    window: Duration,
    hits: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// Past this many keys, stale ones are swept on the next check.
const SWEEP_ABOVE: usize = 10_000;

impl RateLimiter {
    pub fn new(max: usize, window: Duration) -> Self {
        Self {
            max,
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a hit for `key`; `Err(retry_after)` when over the limit.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut hits = self.hits.lock().unwrap_or_else(PoisonError::into_inner);
        if hits.len() > SWEEP_ABOVE {
            hits.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        let queue = hits.entry(key.to_owned()).or_default();
        while queue
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            queue.pop_front();
        }
        if queue.len() >= self.max {
            let oldest = queue.front().copied().unwrap_or(now);
            return Err(self.window.saturating_sub(now.duration_since(oldest)));
        }
        queue.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_max_hits_per_window_then_says_when_to_retry() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(limiter.check("k", t0).is_ok());
        assert!(limiter.check("k", t0 + Duration::from_secs(10)).is_ok());
        assert_eq!(
            limiter.check("k", t0 + Duration::from_secs(20)),
            Err(Duration::from_secs(40))
        );
        assert!(limiter.check("other", t0 + Duration::from_secs(20)).is_ok());
        assert!(limiter.check("k", t0 + Duration::from_secs(61)).is_ok());
    }
}
