//! Memory under a backlog: the registration worker's RSS when idle (started
//! on an empty queue) against its RSS a few seconds after a fresh worker
//! starts consuming a queue of `backlog` valid registration messages. The
//! prefetch bounds what it holds, so the two should be about equal.

use std::time::Duration;

use futures_util::{stream, StreamExt, TryStreamExt};
use serde::Serialize;
use tokio::time::Instant;
use uuid::Uuid;

use crate::{
    data::{body, envelope, Publisher, Target},
    infra::Infra,
    rss::max_rss_over,
    stack::{Service, Stack},
};

pub const PREFETCH: u16 = 4;

#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    pub backlog: usize,
    pub prefetch: u16,
    pub publish_per_s: f64,
    pub idle_rss_kib: u64,
    pub loaded_rss_kib: u64,
    /// `loaded / idle - 1`, in percent.
    pub growth_pct: f64,
    /// Seconds after the worker was ready that each RSS was sampled (over 2 s).
    pub sampled_after_s: f64,
    /// Messages still queued when the loaded RSS was taken.
    pub queued_at_sample: u32,
}

pub async fn run(infra: &Infra, backlog: usize, settle: Duration) -> anyhow::Result<Memory> {
    let mut stack = Stack::create(infra, "memory").await?;
    let result = measure(infra, &mut stack, backlog, settle).await;
    stack.destroy().await?;
    result
}

async fn measure(
    infra: &Infra,
    stack: &mut Stack<'_>,
    backlog: usize,
    settle: Duration,
) -> anyhow::Result<Memory> {
    let env = [("WORKER_PREFETCH", PREFETCH.to_string())];
    let sample = Duration::from_secs(2);

    let idle = stack.start(Service::Registration, &env).await?;
    tokio::time::sleep(settle).await;
    let idle_rss_kib = max_rss_over(idle, sample).await;
    stack.kill(idle).await?;

    let publisher = Publisher::open(&stack.amqp_url, 2, 2, Target::Requests).await?;
    let prefix = format!("{}mem.", infra.email_prefix());
    let t0 = Instant::now();
    stream::iter(0..backlog as u64)
        .map(|i| {
            let request_id = Uuid::new_v4();
            let message = envelope(&infra.keyring, request_id, &body(&prefix, i, true));
            let publisher = &publisher;
            async move { publisher.publish(request_id, &message?).await }
        })
        .buffer_unordered(64)
        .try_collect::<()>()
        .await?;
    let publish_per_s = backlog as f64 / t0.elapsed().as_secs_f64();

    let loaded = stack.start(Service::Registration, &env).await?;
    tokio::time::sleep(settle).await;
    let loaded_rss_kib = max_rss_over(loaded, sample).await;
    let queued_at_sample = publisher.queue_depth().await?;
    stack.kill(loaded).await?;
    publisher.close().await;
    Ok(Memory {
        backlog,
        prefetch: PREFETCH,
        publish_per_s,
        idle_rss_kib,
        loaded_rss_kib,
        growth_pct: (loaded_rss_kib as f64 / idle_rss_kib.max(1) as f64 - 1.0) * 100.0,
        sampled_after_s: settle.as_secs_f64(),
        queued_at_sample,
    })
}
