//! Intake: accepted (202: recorded, published persistent to the quorum
//! request queue and confirmed) registrations per second from `clients`
//! concurrent keep-alive HTTP/1.1 connections (the lean client of
//! [`http1`]), with no registration worker running; the services' RSS
//! sampled meanwhile. Beside it, the baseline:
//! raw confirmed persistent publishes of a message of the same size to a
//! quorum queue on the same broker (the bench's own: the request queue's
//! length limit would refuse a raw run's volume) at the same concurrency, on
//! a few confirm-mode channels.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use serde::Serialize;
use uuid::Uuid;

use crate::{
    cpu::{self, CpuUse},
    data::{body, envelope, Publisher, Target, REGISTER_PATH},
    http1,
    infra::Infra,
    rss::{Peak, Watch},
    stack::{Service, Stack},
    stats::{drive, Load},
};

#[derive(Debug, Clone, Serialize)]
pub struct Intake {
    /// Size of one `registration.requested.v1` message.
    pub message_bytes: usize,
    pub intake: Load,
    pub baseline: Load,
    /// Intake's accepted/s over the baseline's confirmed publishes/s.
    pub ratio: f64,
    /// Messages in the request queue after the intake run, and the 202s
    /// answered in all: every accepted request must be there.
    pub queued_after_intake: u32,
    pub accepted_in_all: u64,
    pub rss: Vec<Peak>,
    /// CPU used by each process group during each run (warm-up included).
    pub intake_cpu: CpuUse,
    pub baseline_cpu: CpuUse,
    /// A diagnostic: the same publishes on as many channels as clients, one
    /// publish per channel at a time (intake-api's pattern until it let a
    /// channel carry many publishes awaiting confirms), for at most 5 s.
    pub baseline_64_channels: Load,
    pub baseline_64_channels_cpu: CpuUse,
    /// A diagnostic: the same publishes through the registration exchange
    /// to the request queue itself (its length limit, dead-lettering and
    /// delivery limit), on the baseline's few channels, for at most 5 s.
    pub baseline_request_queue: Load,
    pub baseline_request_queue_cpu: CpuUse,
}

pub struct Settings {
    pub clients: usize,
    pub warmup: Duration,
    pub window: Duration,
}

pub async fn run(infra: &Infra, settings: &Settings) -> anyhow::Result<Intake> {
    let mut stack = Stack::create(infra, "intake").await?;
    let result = measure(infra, &mut stack, settings).await;
    stack.destroy().await?;
    result
}

/// One intake run on a stack: what the intake phase measures, and the
/// transport phase for each of its variants.
#[derive(Debug, Clone, Serialize)]
pub struct Accepted {
    pub load: Load,
    /// CPU used by each process group (warm-up included).
    pub cpu: CpuUse,
    pub rss: Vec<Peak>,
    /// Messages in the request queue after the run (then purged): every
    /// 202 (`load.total_ok`) must be there.
    pub queued: u32,
}

/// Starts intake-api and the notification worker on `stack` (no
/// registration worker) and measures the intake load against them,
/// registrations with emails under `prefix`. The services keep running.
pub async fn accepted(
    stack: &mut Stack<'_>,
    prefix: &str,
    s: &Settings,
) -> anyhow::Result<Accepted> {
    let intake_pid = stack.start(Service::Intake, &[]).await?;
    let notification_pid = stack.start(Service::Notification, &[]).await?;
    let requests = stack.publisher(1, 1, Target::Requests).await?;
    let addr = address(&stack.base_url)?;

    let watch = Watch::start(vec![
        ("intake-api".into(), intake_pid),
        ("notification-worker".into(), notification_pid),
    ]);
    let before = cpu::snapshot(&stack.pids());
    let load = accepted_load(addr, prefix.to_owned(), s).await;
    let cpu = cpu::since(&before);
    let rss = watch.finish().await;
    let queued = requests.queue_depth().await?;
    requests.purge().await?;
    requests.close().await;
    Ok(Accepted {
        load,
        cpu,
        rss,
        queued,
    })
}

async fn measure(infra: &Infra, stack: &mut Stack<'_>, s: &Settings) -> anyhow::Result<Intake> {
    let prefix = format!("{}in.", infra.email_prefix());
    let Accepted {
        load: intake,
        cpu: intake_cpu,
        rss,
        queued: queued_after_intake,
    } = accepted(stack, &prefix, s).await?;

    let message = Arc::new(envelope(
        &infra.keyring,
        Uuid::new_v4(),
        &body(&prefix, 0, false),
    )?);
    let message_bytes = message.len();
    let pids = stack.pids();
    let few = Publisher::open(&stack.amqp_url, 2, 2, Target::Baseline).await?;
    let (baseline, baseline_cpu) =
        raw_publish(few, &message, s.clients, s.warmup, s.window, &pids).await?;
    // Many channels, one publish on each at a time: what few channels save.
    let channels = (s.clients / 2).max(1);
    let many = Publisher::open(&stack.amqp_url, 2, channels, Target::Baseline).await?;
    let short = s.window.min(Duration::from_secs(5));
    let (baseline_64_channels, baseline_64_channels_cpu) =
        raw_publish(many, &message, s.clients, s.warmup, short, &pids).await?;
    let queue = Publisher::open(&stack.amqp_url, 2, 2, Target::Requests).await?;
    let (baseline_request_queue, baseline_request_queue_cpu) =
        raw_publish(queue, &message, s.clients, s.warmup, short, &pids).await?;
    Ok(Intake {
        message_bytes,
        ratio: if baseline.per_s > 0.0 {
            intake.per_s / baseline.per_s
        } else {
            0.0
        },
        accepted_in_all: intake.total_ok,
        intake,
        baseline,
        queued_after_intake,
        rss,
        intake_cpu,
        baseline_cpu,
        baseline_64_channels,
        baseline_64_channels_cpu,
        baseline_request_queue,
        baseline_request_queue_cpu,
    })
}

/// intake-api's socket address, from its base URL.
pub fn address(base_url: &str) -> anyhow::Result<std::net::SocketAddr> {
    base_url
        .trim_start_matches("http://")
        .parse()
        .context("intake-api's address")
}

/// The intake load: `clients` keep-alive connections to `addr` POSTing
/// valid registrations (emails under `prefix`), each 202 a success.
pub async fn accepted_load(addr: std::net::SocketAddr, prefix: String, s: &Settings) -> Load {
    load_on(addr, REGISTER_PATH, prefix, s).await
}

/// The same load to any `path` at `addr` (the minimal endpoint's too).
pub async fn load_on(
    addr: std::net::SocketAddr,
    path: &'static str,
    prefix: String,
    s: &Settings,
) -> Load {
    let pool = Arc::new(http1::Pool::new(addr));
    drive(s.clients, s.warmup, s.window, move |seq| {
        let pool = Arc::clone(&pool);
        let bytes = serde_json::to_vec(&body(&prefix, seq, false));
        async move {
            let bytes = bytes.map_err(|e| e.to_string())?;
            let mut conn = pool.take().await.map_err(|e| format!("{e:#}"))?;
            let status = conn
                .post(&pool.host, path, &bytes)
                .await
                .map_err(|e| format!("{e:#}"))?;
            pool.put(conn);
            if status == 202 {
                Ok(())
            } else {
                Err(format!("HTTP {status}"))
            }
        }
    })
    .await
}

/// Confirmed publishes of `message` from `clients` tasks on `publisher`'s
/// channels; the queue is purged afterwards and the publisher closed.
async fn raw_publish(
    publisher: Publisher,
    message: &Arc<Vec<u8>>,
    clients: usize,
    warmup: Duration,
    window: Duration,
    pids: &[(u32, &'static str)],
) -> anyhow::Result<(Load, CpuUse)> {
    let publisher = Arc::new(publisher);
    let (p, m) = (Arc::clone(&publisher), Arc::clone(message));
    let before = cpu::snapshot(pids);
    let load = drive(clients, warmup, window, move |_| {
        let (p, m) = (Arc::clone(&p), Arc::clone(&m));
        async move {
            p.publish(Uuid::new_v4(), &m)
                .await
                .map_err(|e| e.to_string())
        }
    })
    .await;
    let used = cpu::since(&before);
    publisher.purge().await?;
    // `drive` has dropped every clone: the publisher is ours alone again.
    if let Ok(publisher) = Arc::try_unwrap(publisher) {
        publisher.close().await;
    }
    Ok((load, used))
}
