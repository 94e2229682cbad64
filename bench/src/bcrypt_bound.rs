//! The bcrypt bound: what one cost-12 hash costs on this machine with the
//! worker's own crate, and so the most registrations per second the
//! machine's cores can hash (`cores / t_hash`). Also measured: the rate
//! with every core hashing at once, which tells whether the cores are
//! really independent (hyper-threads or a noisy neighbour are not).
//!
//! `t_hash` is the hash's time on the CPU (the thread's own run time from
//! `/proc/thread-self/schedstat`), so other work on a shared machine does
//! not inflate it; the wall-clock time is reported beside it.

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
    /// Median time of one hash on the CPU (wall-clock when unknown).
    pub t_hash_ms: f64,
    /// Median wall-clock time of one hash, and its extremes.
    pub wall_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub cores: usize,
    /// `cores / t_hash`: registrations per second the CPU allows.
    pub bound_per_s: f64,
    /// Hashes per second with `cores` threads hashing at once.
    pub parallel_per_s: f64,
}

/// Nanoseconds this thread has run on a CPU.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// One hash: wall-clock and on-CPU milliseconds.
fn one_hash() -> anyhow::Result<(f64, Option<f64>)> {
    let cpu0 = thread_cpu_ns();
    let t0 = Instant::now();
    bcrypt::hash(PASSWORD, COST).context("bcrypt")?;
    let wall = t0.elapsed().as_secs_f64() * 1000.0;
    let cpu = cpu0
        .zip(thread_cpu_ns())
        .map(|(a, b)| b.saturating_sub(a) as f64 / 1e6);
    Ok((wall, cpu))
}

pub async fn run(samples: usize) -> anyhow::Result<Bcrypt> {
    tokio::task::spawn_blocking(move || measure(samples)).await?
}

fn measure(samples: usize) -> anyhow::Result<Bcrypt> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    one_hash()?; // warm the caches
    let times = (0..samples)
        .map(|_| one_hash())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let wall: Vec<f64> = times.iter().map(|t| t.0).collect();
    let cpu: Option<Vec<f64>> = times.iter().map(|t| t.1).collect();
    let s = summarize(wall.clone());
    let t_hash_ms = cpu.map_or(s.p50_ms, |c| summarize(c).p50_ms);
    let min_ms = wall.iter().copied().fold(f64::INFINITY, f64::min);
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
        t_hash_ms,
        wall_ms: s.p50_ms,
        min_ms,
        max_ms: s.max_ms,
        cores,
        bound_per_s: cores as f64 / (t_hash_ms / 1000.0),
        parallel_per_s,
    })
}
