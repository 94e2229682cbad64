//! Backpressure: with the request queue bounded (`REQUEST_QUEUE_MAX_LENGTH`,
//! `reject-publish`) and no worker running, a flood of registrations larger
//! than the bound. What must be seen: 202s up to the bound, then 503s with
//! `Retry-After`; RabbitMQ raising no alarm; every accepted request in the
//! queue; and, once workers start, every accepted request completed, none
//! left pending. (A refused request is marked failed if it was recorded;
//! once the queue is known to be full, intake-api refuses before recording.)

use std::time::Duration;

use anyhow::bail;
use futures_util::{stream, StreamExt};
use serde::Serialize;
use shared::broker::topology::REGISTRATION_QUEUE;
use tokio::time::Instant;

use crate::{
    data::{body, queue_depth, register_request},
    infra::Infra,
    report::{check, Row},
    stack::{Service, Stack},
};

#[derive(Debug, Clone, Serialize)]
pub struct Backpressure {
    /// `REQUEST_QUEUE_MAX_LENGTH` of this phase's stack.
    pub bound: u32,
    /// Concurrent clients: a quorum queue checks its bound as each publish
    /// arrives, so up to this many in flight may land past it.
    pub clients: usize,
    pub sent: u64,
    pub accepted: u64,
    pub refused_503: u64,
    /// 503s that carried `Retry-After`.
    pub refused_with_retry_after: u64,
    /// Any other answer or error, by kind.
    pub other: Vec<String>,
    pub flood_seconds: f64,
    pub queued_after_flood: u32,
    /// RabbitMQ's alarms (memory, disk) after the flood: none is healthy.
    pub broker_alarms: Option<String>,
    pub completed: i64,
    pub failed: i64,
    pub pending_after_drain: i64,
    pub drain_seconds: f64,
}

pub async fn run(infra: &Infra, bound: u32, clients: usize) -> anyhow::Result<Backpressure> {
    let mut stack = Stack::create(infra, "backpressure").await?;
    let result = flood(infra, &mut stack, bound, clients).await;
    stack.destroy().await?;
    result
}

/// What one POST was answered.
enum Answer {
    Accepted,
    Refused { retry_after: bool },
    Other(String),
}

async fn post(infra: &Infra, base_url: &str, bytes: Vec<u8>) -> Answer {
    let sent = register_request(&infra.http, base_url, bytes)
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    match sent {
        Ok(r) if r.status() == 202 => Answer::Accepted,
        Ok(r) if r.status() == 503 => Answer::Refused {
            retry_after: r.headers().contains_key("retry-after"),
        },
        Ok(r) => Answer::Other(format!("HTTP {}", r.status().as_u16())),
        Err(e) => Answer::Other(format!("request error: {e}")),
    }
}

async fn flood(
    infra: &Infra,
    stack: &mut Stack<'_>,
    bound: u32,
    clients: usize,
) -> anyhow::Result<Backpressure> {
    let limit = [("REQUEST_QUEUE_MAX_LENGTH", bound.to_string())];
    stack.start(Service::Intake, &limit).await?;
    let sent = u64::from(bound) * 5;
    let prefix = format!("{}bp.", infra.email_prefix());
    let t0 = Instant::now();
    let answers: Vec<Answer> = stream::iter(0..sent)
        .map(|i| {
            let bytes = serde_json::to_vec(&body(&prefix, i, false)).unwrap_or_default();
            post(infra, &stack.base_url, bytes)
        })
        .buffer_unordered(clients)
        .collect()
        .await;
    let flood_seconds = t0.elapsed().as_secs_f64();
    let mut result = Backpressure {
        bound,
        clients,
        sent,
        accepted: 0,
        refused_503: 0,
        refused_with_retry_after: 0,
        other: Vec::new(),
        flood_seconds,
        queued_after_flood: 0,
        broker_alarms: None,
        completed: 0,
        failed: 0,
        pending_after_drain: 0,
        drain_seconds: 0.0,
    };
    for answer in answers {
        match answer {
            Answer::Accepted => result.accepted += 1,
            Answer::Refused { retry_after } => {
                result.refused_503 += 1;
                result.refused_with_retry_after += u64::from(retry_after);
            }
            Answer::Other(kind) => result.other.push(kind),
        }
    }
    // A passive declare on a connection of its own: a Publisher would
    // declare the queue with the default bound, which clashes with this one.
    result.queued_after_flood = queue_depth(&stack.amqp_url, REGISTRATION_QUEUE).await?;
    result.broker_alarms = infra.broker_alarms().await?;

    // The same bound for the workers: they declare the same queue.
    let t1 = Instant::now();
    for _ in 0..2 {
        stack.start(Service::Registration, &limit).await?;
    }
    let limit = Duration::from_secs(60 + u64::from(bound));
    let now = stack.drained(t1, limit, Duration::from_millis(200)).await?;
    result.drain_seconds = t1.elapsed().as_secs_f64();
    result.pending_after_drain = now.pending;
    result.completed = now.completed;
    result.failed = now.failed;
    if now.rejected != 0 {
        bail!(
            "{} flood registrations were rejected: the bench's data must be unique",
            now.rejected
        );
    }
    Ok(result)
}

impl Backpressure {
    /// The table's rows: each promise of the bounded queue, checked.
    pub fn rows(&self) -> Vec<Row> {
        let mut answered = format!(
            "{} x 202, {} x 503 ({} with Retry-After) in {:.1} s",
            self.accepted, self.refused_503, self.refused_with_retry_after, self.flood_seconds
        );
        if !self.other.is_empty() {
            answered += &format!("; {} other: {:?}", self.other.len(), self.other.first());
        }
        vec![
            check(
                format!(
                    "flood of {} past a queue bound of {}",
                    self.sent, self.bound
                ),
                answered,
                "202 up to the bound (+ publishes in flight), then 503 + Retry-After".into(),
                self.accepted >= u64::from(self.bound)
                    && self.accepted <= u64::from(self.bound) + self.clients as u64
                    && self.refused_503 > 0
                    && self.refused_with_retry_after == self.refused_503
                    && self.other.is_empty(),
            ),
            check(
                "  broker after the flood".into(),
                format!(
                    "{} queued = {} accepted; alarms: {}",
                    self.queued_after_flood,
                    self.accepted,
                    self.broker_alarms.as_deref().unwrap_or("none")
                ),
                "all queued, no alarm".into(),
                u64::from(self.queued_after_flood) == self.accepted && self.broker_alarms.is_none(),
            ),
            check(
                "  then drained by 2 workers".into(),
                format!(
                    "{} completed, {} failed (refused after being recorded), {} pending, in {:.1} s",
                    self.completed, self.failed, self.pending_after_drain, self.drain_seconds
                ),
                "accepted all complete".into(),
                u64::try_from(self.completed).ok() == Some(self.accepted)
                    && u64::try_from(self.failed).is_ok_and(|f| f <= self.refused_503)
                    && self.pending_after_drain == 0,
            ),
        ]
    }
}
