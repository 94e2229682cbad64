//! A token-bucket rate limiter kept in memory, per process: `max` requests
//! per `window`, refilled continuously, one small record per key. Each
//! intake-api replica enforces it on its own (the login lockout, which must
//! hold across replicas, lives in Postgres).
//!
//! The state is bounded: at most [`MAX_KEYS`] keys per limiter (when full, a
//! new key is refused like an exhausted one, and the map never grows), and
//! idle keys are swept by a background task ([`spawn_sweeper`]), never by a
//! scan on the request path. Keys are small `Copy` values (an address, a
//! partner id, a hash), so a check allocates nothing.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use shared::shutdown::Shutdown;

/// Keys one limiter holds at most (about 100 bytes each).
pub const MAX_KEYS: usize = 50_000;

/// How often idle keys are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

pub struct RateLimiter<K> {
    capacity: f64,
    /// Tokens per second.
    rate: f64,
    max_keys: usize,
    buckets: Mutex<HashMap<K, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl<K: Hash + Eq + Copy> RateLimiter<K> {
    pub fn new(max: usize, window: Duration) -> Self {
        Self::with_max_keys(max, window, MAX_KEYS)
    }

    pub fn with_max_keys(max: usize, window: Duration, max_keys: usize) -> Self {
        let capacity = max as f64;
        Self {
            capacity,
            rate: capacity / window.as_secs_f64().max(f64::EPSILON),
            max_keys,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key`; `Err(retry_after)` when none is left, or
    /// when `key` is new and the limiter already holds its most keys.
    pub fn check(&self, key: K, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if !buckets.contains_key(&key) && buckets.len() >= self.max_keys {
            // Full: refuse rather than grow; the sweeper frees idle keys.
            return Err(SWEEP_EVERY);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.capacity,
            at: now,
        });
        let tokens = self.refilled(*bucket, now);
        if tokens < 1.0 {
            *bucket = Bucket { tokens, at: now };
            // A limit of 0 never refills: come back after the sweep.
            let wait = (1.0 - tokens) / self.rate;
            return Err(Duration::try_from_secs_f64(wait).unwrap_or(SWEEP_EVERY));
        }
        *bucket = Bucket {
            tokens: tokens - 1.0,
            at: now,
        };
        Ok(())
    }

    /// Takes `n` tokens for `key` at once, or none: `Err(retry_after)`
    /// when fewer are left (a registration batch counts as its items).
    /// More than the limit itself is never let through.
    pub fn check_n(&self, key: K, n: usize, now: Instant) -> Result<(), Duration> {
        if n == 0 {
            return Ok(());
        }
        let wanted = n as f64;
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if !buckets.contains_key(&key) && buckets.len() >= self.max_keys {
            return Err(SWEEP_EVERY);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.capacity,
            at: now,
        });
        let tokens = self.refilled(*bucket, now);
        *bucket = Bucket { tokens, at: now };
        if tokens < wanted {
            let wait = (wanted.min(self.capacity) - tokens).max(0.0) / self.rate;
            return Err(Duration::try_from_secs_f64(wait)
                .unwrap_or(SWEEP_EVERY)
                .max(Duration::from_millis(1)));
        }
        bucket.tokens = tokens - wanted;
        Ok(())
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * self.rate).min(self.capacity)
    }

    /// Forgets the keys whose buckets are full again: they would start
    /// afresh anyway.
    pub fn sweep(&self, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        buckets.retain(|_, b| self.refilled(*b, now) < self.capacity);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Anything with idle state to sweep.
pub trait Sweep: Send + Sync {
    fn sweep(&self, now: Instant);
}

impl<K: Hash + Eq + Copy + Send> Sweep for RateLimiter<K> {
    fn sweep(&self, now: Instant) {
        RateLimiter::sweep(self, now);
    }
}

/// Sweeps `limiters` every [`SWEEP_EVERY`] until shutdown.
pub fn spawn_sweeper(limiters: Vec<Arc<dyn Sweep>>, shutdown: Shutdown) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                () = shutdown.clone().wait() => return,
            }
            let now = Instant::now();
            for limiter in &limiters {
                limiter.sweep(now);
            }
        }
    });
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

    #[test]
    fn a_batch_takes_all_its_tokens_or_none() {
        let limiter = RateLimiter::new(10, Duration::from_secs(10));
        let now = Instant::now();
        assert_eq!(limiter.check_n(1, 7, now), Ok(()));
        let wait = limiter.check_n(1, 4, now).expect_err("only 3 left");
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        assert_eq!(limiter.check_n(1, 3, now), Ok(()));
        assert!(limiter.check(1, now).is_err());
        assert_eq!(limiter.check_n(1, 0, now), Ok(()));
        let later = now + Duration::from_secs(10);
        assert!(
            limiter.check_n(1, 11, later).is_err(),
            "more than the limit"
        );
        assert_eq!(limiter.check_n(1, 10, later), Ok(()));
    }

    #[test]
    fn a_full_limiter_refuses_new_keys_and_never_grows() {
        let limiter = RateLimiter::with_max_keys(5, Duration::from_secs(60), 3);
        let t0 = Instant::now();
        for key in 0..3 {
            assert!(limiter.check(key, t0).is_ok());
        }
        for key in 3..1_000 {
            assert!(limiter.check(key, t0).is_err(), "{key}");
        }
        assert_eq!(limiter.len(), 3);
        // Known keys still work.
        assert!(limiter.check(0, t0).is_ok());
        // Once their buckets refill, the sweep frees room for new ones.
        limiter.sweep(t0 + Duration::from_secs(60));
        assert_eq!(limiter.len(), 0);
        assert!(limiter.check(7, t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn the_sweep_keeps_keys_that_are_still_limited() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        let _ = limiter.check("busy", t0);
        let _ = limiter.check("busy", t0);
        let _ = limiter.check("idle", t0);
        limiter.sweep(t0 + Duration::from_secs(31));
        // "idle" has refilled (one token in 30 s); "busy" has one of two.
        assert_eq!(limiter.len(), 1);
        assert!(limiter.check("busy", t0 + Duration::from_secs(31)).is_ok());
        assert!(limiter.check("busy", t0 + Duration::from_secs(31)).is_err());
    }
}
