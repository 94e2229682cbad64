//! Idle settle → delivered: the whole stack at rest (intake-api, the
//! registration, notification and webhook workers), a partner with one
//! endpoint at the bench's receiver, and `n` registrations with its key,
//! one at a time (after a warm-up). Each is timed from its request's
//! `settled_at` (Postgres: the settling transaction's `now()`) to its
//! webhook's arrival (the bench's clock; the same machine), and from its
//! 202 to that arrival.

use std::time::Duration;

use anyhow::{bail, Context};
use serde::Serialize;
use tokio::time::Instant;
use uuid::Uuid;

use super::{partner_with_endpoint, Receiver};
use crate::{
    data::{body, register_request},
    infra::Infra,
    stack::{Service, Stack},
    stats::{summarize, Summary},
};

const WARMUP: usize = 3;
/// How long one registration may take to be delivered.
const WITHIN: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Serialize)]
pub struct Settle {
    pub n: usize,
    pub settled_to_delivered: Summary,
    pub registered_to_delivered: Summary,
    /// Registrations whose webhook did not arrive within 30 s.
    pub failures: usize,
}

pub async fn run(infra: &Infra, n: usize) -> anyhow::Result<Settle> {
    let mut stack = Stack::create(infra, "webhook-settle").await?;
    let result = measure(infra, &mut stack, n).await;
    stack.destroy().await?;
    result
}

async fn measure(infra: &Infra, stack: &mut Stack<'_>, n: usize) -> anyhow::Result<Settle> {
    stack.start(Service::Intake, &[]).await?;
    stack.start(Service::Registration, &[]).await?;
    stack.start(Service::Notification, &[]).await?;
    stack.start(Service::Webhook, &[]).await?;
    let receiver = Receiver::start().await?;
    let (key, _) = partner_with_endpoint(infra, &stack.db, &receiver.url()).await?;
    let prefix = format!("{}wh.", infra.email_prefix());
    let (mut settled, mut registered) = (Vec::new(), Vec::new());
    let (mut failures, mut in_a_row) = (0, 0);
    for i in 0..(WARMUP + n) as u64 {
        let request_id = register(
            infra,
            stack,
            &key,
            serde_json::to_vec(&body(&prefix, i, false))?,
        )
        .await?;
        let t0 = Instant::now();
        let arrival = loop {
            if let Some(arrival) = receiver.arrival(request_id) {
                break Some(arrival);
            }
            if t0.elapsed() > WITHIN {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let Some(arrival) = arrival else {
            failures += 1;
            in_a_row += 1;
            if in_a_row >= 3 {
                bail!("three registrations in a row were not delivered within {WITHIN:?}");
            }
            continue;
        };
        in_a_row = 0;
        let settled_at: Option<chrono::DateTime<chrono::Utc>> =
            sqlx::query_scalar("SELECT settled_at FROM registration_requests WHERE id = $1")
                .bind(request_id)
                .fetch_one(&stack.db)
                .await?;
        let settled_at = settled_at.context("a delivered request without settled_at")?;
        if i as usize >= WARMUP {
            settled.push((arrival.wall - settled_at).as_seconds_f64() * 1000.0);
            registered.push((arrival.at - t0).as_secs_f64() * 1000.0);
        }
    }
    Ok(Settle {
        n,
        settled_to_delivered: summarize(settled),
        registered_to_delivered: summarize(registered),
        failures,
    })
}

/// Registers `bytes` with the partner's `key`; answers the request id
/// (from `Location`) of its 202.
async fn register(
    infra: &Infra,
    stack: &Stack<'_>,
    key: &str,
    bytes: Vec<u8>,
) -> anyhow::Result<Uuid> {
    let response = register_request(&infra.http, &stack.base_url, bytes)
        .header("x-api-key", key)
        .send()
        .await?;
    let status = response.status().as_u16();
    if status != 202 {
        bail!("a partner's registration was answered {status}, not 202");
    }
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .context("a 202 without Location")?;
    let id = location.rsplit('/').next().unwrap_or_default();
    Ok(id.parse()?)
}
