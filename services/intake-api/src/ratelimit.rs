//! A token-bucket rate limiter kept in memory, per process: `max` requests
//! per `window`, refilled continuously, one small record per key. Each
//! intake-api replica enforces it on its own (the login lockout, which must
//! hold across replicas, lives in Postgres).
//!
//! Keys are small `Copy` values (an address, a partner id, a hash), so a
//! check allocates nothing.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

pub struct RateLimiter<K> {
    capacity: f64,
    /// Tokens per second.
    rate: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Past this many keys, full (idle) buckets are swept on the next check.
const SWEEP_ABOVE: usize = 10_000;

impl<K: Hash + Eq + Copy> RateLimiter<K> {
    pub fn new(max: usize, window: Duration) -> Self {
        let capacity = max as f64;
        Self {
            capacity,
            rate: capacity / window.as_secs_f64().max(f64::EPSILON),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key`; `Err(retry_after)` when none is left.
    pub fn check(&self, key: K, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > SWEEP_ABOVE {
            buckets.retain(|_, b| self.refilled(*b, now) < self.capacity);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.capacity,
            at: now,
        });
        let tokens = self.refilled(*bucket, now);
        if tokens < 1.0 {
            *bucket = Bucket { tokens, at: now };
            return Err(Duration::from_secs_f64((1.0 - tokens) / self.rate));
        }
        *bucket = Bucket {
            tokens: tokens - 1.0,
            at: now,
        };
        Ok(())
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * self.rate).min(self.capacity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_of_max_then_refills_at_the_window_rate() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(limiter.check("k", t0).is_ok());
        assert!(limiter.check("k", t0).is_ok());
        let wait = limiter.check("k", t0).err().map(|d| d.as_secs());
        assert_eq!(wait, Some(30)); // one token every 30 s
        assert!(limiter.check("other", t0).is_ok());
        assert!(limiter.check("k", t0 + Duration::from_secs(30)).is_ok());
        assert!(limiter.check("k", t0 + Duration::from_secs(31)).is_err());
    }
}
