//! The bcrypt bound: what one cost-12 hash costs on this machine with the
//! worker's own crate, and so the most registrations per second the
//! machine's cores can hash (`cores / t_hash`). Also measured: the rate
//! with every core hashing at once, which tells whether the cores are
//! really independent (hyper-threads or a noisy neighbour are not).

use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use crate::stats::summarize;

pub const COST: u32 = 12;
const PASSWORD: &str = "SecurePassword123!";

#[derive(Debug, Clone, Serialize)]
pub struct Bcrypt {
    pub cost: u32,
    pub samples: usize,
    /// Median time of one hash on one core.
    pub t_hash_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub cores: usize,
    /// `cores / t_hash`: registrations per second the CPU allows.
    pub bound_per_s: f64,
    /// Hashes per second with `cores` threads hashing at once.
    pub parallel_per_s: f64,
}

fn one_hash() -> anyhow::Result<f64> {
    let t0 = Instant::now();
    bcrypt::hash(PASSWORD, COST).context("bcrypt")?;
    Ok(t0.elapsed().as_secs_f64() * 1000.0)
}

pub async fn run(samples: usize) -> anyhow::Result<Bcrypt> {
    tokio::task::spawn_blocking(move || measure(samples)).await?
}

fn measure(samples: usize) -> anyhow::Result<Bcrypt> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    one_hash()?; // warm the caches
    let times = (0..samples)
        .map(|_| one_hash())
        .collect::<anyhow::Result<Vec<f64>>>()?;
    let s = summarize(times.clone());
    let min_ms = times.iter().copied().fold(f64::INFINITY, f64::min);
    let per_thread = 3;
    let t0 = Instant::now();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..cores)
            .map(|_| scope.spawn(move || (0..per_thread).try_for_each(|_| one_hash().map(drop))))
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .map_err(|_| anyhow::anyhow!("a hashing thread panicked"))?
        })
    })?;
    let parallel_per_s = (cores * per_thread) as f64 / t0.elapsed().as_secs_f64();
    Ok(Bcrypt {
        cost: COST,
        samples,
        t_hash_ms: s.p50_ms,
        min_ms,
        max_ms: s.max_ms,
        cores,
        bound_per_s: cores as f64 / (s.p50_ms / 1000.0),
        parallel_per_s,
    })
}
