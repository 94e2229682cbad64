//! The webhook backlog: `n` `registration.completed` outcomes, each for a
//! pending request row of one partner (all the fan-out reads of it), queued
//! before one webhook-worker starts (default prefetch); then timed from the
//! first delivery's arrival at the receiver to the last's, and from the
//! worker's readiness to the last. Every delivery must end recorded
//! `delivered`.

use std::time::Duration;

use anyhow::bail;
use futures_util::{stream, StreamExt, TryStreamExt};
use serde::Serialize;
use shared::{
    broker::topology::{EVENTS_EXCHANGE, REGISTRATION_COMPLETED},
    messages::{OutcomeEvent, RegistrationSettledV1},
};
use tokio::time::Instant;
use uuid::Uuid;

use super::{partner_with_endpoint, Receiver};
use crate::{
    cpu::{self, CpuUse},
    data::{Publisher, Route, Target},
    infra::Infra,
    stack::{Service, Stack},
};

const COMPLETED: Route<'static> = Route {
    exchange: EVENTS_EXCHANGE,
    key: REGISTRATION_COMPLETED,
    kind: "registration.completed.v1",
};

#[derive(Debug, Clone, Serialize)]
pub struct Backlog {
    pub n: usize,
    /// How fast the bench queued the outcomes (confirmed, 64 in flight).
    pub publish_per_s: f64,
    /// From the first delivery's arrival to the last's; the rate over it
    /// is `(n - 1) / first_to_last_s`.
    pub first_to_last_s: f64,
    pub per_s: f64,
    /// From the worker answering ready to the last arrival.
    pub from_ready_s: f64,
    pub per_s_from_ready: f64,
    /// Requests the receiver got (duplicates included), and distinct
    /// requests among them.
    pub arrived: usize,
    pub distinct: usize,
    /// Deliveries recorded `delivered` in `webhook_deliveries`.
    pub delivered_rows: i64,
    /// CPU used by each group from the worker's readiness to the last arrival.
    pub cpu: CpuUse,
}

pub async fn run(infra: &Infra, n: usize) -> anyhow::Result<Backlog> {
    let mut stack = Stack::create(infra, "webhooks").await?;
    let result = measure(infra, &mut stack, n).await;
    stack.destroy().await?;
    result
}

async fn measure(infra: &Infra, stack: &mut Stack<'_>, n: usize) -> anyhow::Result<Backlog> {
    // No service has run yet: the bench migrates the database itself.
    shared::db::MIGRATOR.run(&stack.db).await?;
    let receiver = Receiver::start().await?;
    let (_, partner_id) = partner_with_endpoint(infra, &stack.db, &receiver.url()).await?;
    let requests: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
    sqlx::query("INSERT INTO registration_requests (id, partner_id) SELECT unnest($1::uuid[]), $2")
        .bind(&requests)
        .bind(partner_id)
        .execute(&stack.db)
        .await?;
    let publish_per_s = queue_outcomes(&stack.amqp_url, &requests).await?;

    let pid = stack.start(Service::Webhook, &[]).await?;
    let ready = Instant::now();
    let before = cpu::snapshot(&stack.pids());
    let limit = Duration::from_secs(30) + Duration::from_millis(10) * n as u32;
    let (arrived, distinct) = loop {
        let (arrived, distinct) = receiver.counts();
        if distinct >= n {
            break (arrived, distinct);
        }
        if ready.elapsed() > limit {
            bail!("{distinct} of {n} webhooks arrived within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let cpu = cpu::since(&before);
    let Some((first, last)) = receiver.span() else {
        bail!("no webhook arrived");
    };
    let delivered_rows = delivered(stack, n).await?;
    stack.kill(pid).await?;
    let first_to_last_s = (last - first).as_secs_f64().max(f64::MIN_POSITIVE);
    let from_ready_s = (last - ready).as_secs_f64().max(f64::MIN_POSITIVE);
    Ok(Backlog {
        n,
        publish_per_s,
        first_to_last_s,
        per_s: (n.saturating_sub(1)) as f64 / first_to_last_s,
        from_ready_s,
        per_s_from_ready: n as f64 / from_ready_s,
        arrived,
        distinct,
        delivered_rows,
        cpu,
    })
}

/// Queues one `registration.completed` per request (confirmed, 64 in
/// flight); answers the rate.
async fn queue_outcomes(amqp_url: &str, requests: &[Uuid]) -> anyhow::Result<f64> {
    let publisher = Publisher::open(amqp_url, 2, 2, Target::Requests).await?;
    let t0 = Instant::now();
    stream::iter(requests.iter().copied())
        .map(|request_id| {
            let event = OutcomeEvent::Completed(RegistrationSettledV1 {
                event_id: request_id,
                request_id,
                patient_id: Some(Uuid::new_v4()),
                errors: None,
                occurred_at: chrono::Utc::now(),
            });
            let publisher = &publisher;
            async move {
                let bytes = serde_json::to_vec(&event)?;
                publisher
                    .publish_to(COMPLETED, request_id, request_id, &bytes)
                    .await
            }
        })
        .buffer_unordered(64)
        .try_collect::<()>()
        .await?;
    let per_s = requests.len() as f64 / t0.elapsed().as_secs_f64();
    publisher.close().await;
    Ok(per_s)
}

/// Deliveries recorded `delivered`, once all `n` are (the worker records
/// attempts in batches, after answering), or after 10 s.
async fn delivered(stack: &Stack<'_>, n: usize) -> anyhow::Result<i64> {
    let t0 = Instant::now();
    loop {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'",
        )
        .fetch_one(&stack.db)
        .await?;
        if count >= n as i64 || t0.elapsed() > Duration::from_secs(10) {
            return Ok(count);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
