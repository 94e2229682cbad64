//! Percentiles, and a closed-loop load driver: `clients` tasks each send
//! one request after another for a fixed time, and every completion inside
//! the measured window (after a warm-up) is kept with its latency.

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use serde::Serialize;
use tokio::time::Instant;

/// Latency percentiles in milliseconds (nearest rank).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn summarize(mut ms: Vec<f64>) -> Summary {
    ms.sort_by(f64::total_cmp);
    Summary {
        count: ms.len(),
        p50_ms: percentile(&ms, 50.0),
        p99_ms: percentile(&ms, 99.0),
        max_ms: ms.last().copied().unwrap_or(0.0),
        mean_ms: if ms.is_empty() {
            0.0
        } else {
            ms.iter().sum::<f64>() / ms.len() as f64
        },
    }
}

/// One point of a time series: completions per second and latency
/// percentiles of the requests that completed in `[t - bucket, t)`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Point {
    pub t_s: f64,
    pub per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// What a load run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Load {
    pub clients: usize,
    pub seconds: f64,
    /// Successful completions in the window.
    pub ok: usize,
    pub per_s: f64,
    pub latency: Summary,
    /// Failures in the window, by kind.
    pub errors: BTreeMap<String, u64>,
    /// Requests completed in all (warm-up and tail included).
    pub total_ok: u64,
    pub series: Vec<Point>,
}

const BUCKET_S: f64 = 0.5;

/// Runs `op(seq)` from `clients` concurrent tasks: `warmup`, then the
/// measured `window`. `op` answers `Err(kind)` on a failure.
pub async fn drive<F, Fut>(clients: usize, warmup: Duration, window: Duration, op: F) -> Load
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let start = Instant::now() + Duration::from_millis(20);
    let from = start + warmup;
    let until = from + window;
    let seq = Arc::new(AtomicU64::new(0));
    let total_ok = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (op, seq, total_ok) = (op.clone(), seq.clone(), total_ok.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(start).await;
            let mut done: Vec<(f64, f64)> = Vec::new();
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            while Instant::now() < until {
                let t0 = Instant::now();
                let result = op(seq.fetch_add(1, Ordering::Relaxed)).await;
                let t1 = Instant::now();
                if result.is_ok() {
                    total_ok.fetch_add(1, Ordering::Relaxed);
                }
                if t1 < from || t1 > until {
                    continue;
                }
                match result {
                    Ok(()) => {
                        done.push(((t1 - from).as_secs_f64(), (t1 - t0).as_secs_f64() * 1000.0))
                    }
                    Err(kind) => *errors.entry(kind).or_default() += 1,
                }
            }
            (done, errors)
        }));
    }
    let mut done = Vec::new();
    let mut errors = BTreeMap::new();
    for task in tasks {
        if let Ok((d, e)) = task.await {
            done.extend(d);
            for (k, n) in e {
                *errors.entry(k).or_default() += n;
            }
        }
    }
    let seconds = window.as_secs_f64();
    Load {
        clients,
        seconds,
        ok: done.len(),
        per_s: done.len() as f64 / seconds,
        latency: summarize(done.iter().map(|d| d.1).collect()),
        errors,
        total_ok: total_ok.load(Ordering::Relaxed),
        series: series(&done, seconds),
    }
}

fn series(done: &[(f64, f64)], seconds: f64) -> Vec<Point> {
    let buckets = (seconds / BUCKET_S).ceil().max(1.0) as usize;
    let mut by_bucket: Vec<Vec<f64>> = vec![Vec::new(); buckets];
    for &(t, ms) in done {
        let i = ((t / BUCKET_S) as usize).min(buckets - 1);
        by_bucket[i].push(ms);
    }
    by_bucket
        .into_iter()
        .enumerate()
        .map(|(i, ms)| {
            let s = summarize(ms);
            Point {
                t_s: (i + 1) as f64 * BUCKET_S,
                per_s: s.count as f64 / BUCKET_S,
                p50_ms: s.p50_ms,
                p99_ms: s.p99_ms,
            }
        })
        .collect()
}
