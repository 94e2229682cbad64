//! End to end: a backlog of N valid registrations submitted through
//! intake-api while no registration worker runs, then the worker started
//! and the drain timed from its readiness to the last request's settling
//! (`updated_at` in the `registration_requests` table, polled every 100 ms
//! to see the drain end); once with one worker process and again with two.
//! [`drains`] runs on any stack (the transport phase's variants too).

use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::{stream, StreamExt, TryStreamExt};
use serde::Serialize;
use tokio::time::Instant;

use crate::{
    cpu::{self, CpuUse},
    data::{body, register_request},
    infra::Infra,
    rss::{Peak, Watch},
    stack::{Service, Stack},
};

#[derive(Debug, Clone, Serialize)]
pub struct Drain {
    pub workers: usize,
    pub n: usize,
    pub completed: i64,
    pub rejected: i64,
    pub failed: i64,
    /// From the first worker being ready to the last request settled.
    pub seconds: f64,
    pub per_s: f64,
    /// `per_s` over the bcrypt bound.
    pub ratio_to_bound: f64,
    pub worker_rss: Vec<Peak>,
    /// Cores used by each process group during the drain.
    pub cpu: CpuUse,
}

/// POSTs one registration; answers the status code.
pub async fn register(
    http: &reqwest::Client,
    base_url: &str,
    bytes: Vec<u8>,
    prefer_wait: Option<u32>,
) -> reqwest::Result<u16> {
    let mut request = register_request(http, base_url, bytes);
    if let Some(secs) = prefer_wait {
        request = request.header("prefer", format!("wait={secs}"));
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    response.bytes().await?;
    Ok(status)
}

/// Submits registrations `range` through intake-api, 16 at a time; each
/// must be accepted.
async fn submit(infra: &Infra, base_url: &str, range: std::ops::Range<u64>) -> anyhow::Result<()> {
    let prefix = format!("{}e2e.", infra.email_prefix());
    stream::iter(range)
        .map(|i| {
            let bytes = serde_json::to_vec(&body(&prefix, i, false));
            async move {
                let status = register(&infra.http, base_url, bytes?, None).await?;
                if status != 202 {
                    bail!("intake-api answered {status} to a valid registration");
                }
                Ok(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<()>()
        .await
}

pub async fn run(
    infra: &Infra,
    n: usize,
    t_hash_ms: f64,
    bound: f64,
) -> anyhow::Result<Vec<Drain>> {
    let mut stack = Stack::create(infra, "e2e").await?;
    let result = drains(infra, &mut stack, n, &[1, 2], t_hash_ms, bound).await;
    stack.destroy().await?;
    result
}

/// Starts intake-api and the notification worker on `stack`, then drains a
/// backlog of `n` with each number of registration workers in `rounds` in
/// turn (a new backlog each time).
pub async fn drains(
    infra: &Infra,
    stack: &mut Stack<'_>,
    n: usize,
    rounds: &[usize],
    t_hash_ms: f64,
    bound: f64,
) -> anyhow::Result<Vec<Drain>> {
    stack.start(Service::Intake, &[]).await?;
    stack.start(Service::Notification, &[]).await?;
    let mut drains = Vec::new();
    for (round, &workers) in rounds.iter().enumerate() {
        let before = stack.counts().await?;
        let first = (round * n) as u64;
        submit(infra, &stack.base_url, first..first + n as u64)
            .await
            .context("submitting the backlog")?;
        let mut pids = Vec::new();
        for _ in 0..workers {
            pids.push(stack.spawn(Service::Registration, &[])?);
        }
        stack.wait_ready(pids[0]).await?;
        let t0 = Instant::now();
        let t0_db: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
            .fetch_one(&stack.db)
            .await?;
        for pid in &pids[1..] {
            stack.wait_ready(*pid).await?;
        }
        let names = pids
            .iter()
            .enumerate()
            .map(|(k, pid)| (format!("registration-worker #{}", k + 1), *pid))
            .collect();
        let watch = Watch::start(names);
        let cpu_before = cpu::snapshot(&stack.pids());
        let limit = Duration::from_secs_f64(60.0 + 4.0 * n as f64 * t_hash_ms / 1000.0);
        let now = stack.drained(t0, limit, Duration::from_millis(100)).await?;
        // The drain ends with the last request's settling transaction, not
        // with the poll that noticed it.
        let last: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
            "SELECT max(updated_at) FROM registration_requests WHERE updated_at >= $1",
        )
        .bind(t0_db)
        .fetch_one(&stack.db)
        .await?;
        let seconds = last.map_or_else(
            || t0.elapsed().as_secs_f64(),
            |last| (last - t0_db).as_seconds_f64(),
        );
        let cpu = cpu::since(&cpu_before);
        let worker_rss = watch.finish().await;
        for pid in pids {
            stack.kill(pid).await?;
        }
        let completed = now.completed - before.completed;
        let per_s = completed as f64 / seconds;
        drains.push(Drain {
            workers,
            n,
            completed,
            rejected: now.rejected - before.rejected,
            failed: now.failed - before.failed,
            seconds,
            per_s,
            ratio_to_bound: per_s / bound,
            worker_rss,
            cpu,
        });
    }
    Ok(drains)
}
