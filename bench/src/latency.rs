//! Latency when idle: sequential registrations against the whole system at
//! rest. register → completed is the time to the 201 of `Prefer: wait=30`
//! (answered when the request completes); register → email is the time
//! until MailDev's API lists a message for the address (polled every 20 ms).

use std::time::Duration;

use anyhow::bail;
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::{
    data::body,
    e2e::register,
    infra::Infra,
    smtp,
    stack::{Service, Stack},
    stats::{summarize, Summary},
};

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub n: usize,
    pub to_completed: Summary,
    pub to_email: Summary,
    /// Registrations that did not answer 201 or whose email never came.
    pub failures: usize,
    /// The same from Postgres' own timestamps, without the client's and
    /// MailDev's overheads: request recorded → completed, → email sent.
    pub server_to_completed: Summary,
    pub server_to_sent: Summary,
    /// One message handed to the SMTP sink directly, and how many it holds.
    pub smtp_accept: Summary,
    pub sink_messages: Option<u64>,
}

const WARMUP: usize = 3;

pub async fn run(infra: &Infra, n: usize) -> anyhow::Result<Latency> {
    let mut stack = Stack::create(infra, "latency").await?;
    let result = measure(infra, &mut stack, n).await;
    stack.destroy().await?;
    result
}

async fn email_arrived(infra: &Infra, address: &str) -> anyhow::Result<bool> {
    let found: Vec<Value> = infra
        .http
        .get(format!("{}/api/email", infra.servers.maildev_url))
        .query(&[("to.address", address)])
        .send()
        .await?
        .json()
        .await?;
    Ok(!found.is_empty())
}

async fn measure(infra: &Infra, stack: &mut Stack<'_>, n: usize) -> anyhow::Result<Latency> {
    stack.start(Service::Intake, &[]).await?;
    stack.start(Service::Registration, &[]).await?;
    stack.start(Service::Notification, &[]).await?;
    let (smtp_accept, sink_messages) = smtp::probe(infra, 5).await?;
    let prefix = format!("{}lat.", infra.email_prefix());
    let mut completed = Vec::new();
    let mut emailed = Vec::new();
    let mut failures = 0;
    let mut in_a_row = 0;
    for i in 0..(WARMUP + n) as u64 {
        let body = body(&prefix, i, false);
        let address = body["email"].as_str().unwrap_or_default().to_owned();
        let bytes = serde_json::to_vec(&body)?;
        let t0 = Instant::now();
        let status = register(&infra.http, &stack.base_url, bytes, Some(30)).await?;
        let t_completed = t0.elapsed();
        let mut t_email = None;
        if status == 201 {
            let deadline = t0 + Duration::from_secs(30);
            while Instant::now() < deadline {
                if email_arrived(infra, &address).await? {
                    t_email = Some(t0.elapsed());
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let Some(t_email) = t_email else {
            failures += 1;
            in_a_row += 1;
            if in_a_row >= 3 {
                bail!("three registrations in a row did not complete with an email (last answer {status})");
            }
            continue;
        };
        in_a_row = 0;
        if i as usize >= WARMUP {
            completed.push(t_completed.as_secs_f64() * 1000.0);
            emailed.push(t_email.as_secs_f64() * 1000.0);
        }
    }
    let (server_to_completed, server_to_sent) = server_side(&stack.db).await?;
    Ok(Latency {
        n,
        to_completed: summarize(completed),
        to_email: summarize(emailed),
        failures,
        server_to_completed,
        server_to_sent,
        smtp_accept,
        sink_messages,
    })
}

/// Milliseconds from each request's row to its completion and to its email
/// being sent (the event id is the request id), warm-up left out.
async fn server_side(db: &sqlx::PgPool) -> anyhow::Result<(Summary, Summary)> {
    let rows: Vec<(f64, Option<f64>)> = sqlx::query_as(
        "SELECT (EXTRACT(EPOCH FROM r.updated_at - r.created_at) * 1000)::float8, \
                (EXTRACT(EPOCH FROM d.sent_at - r.created_at) * 1000)::float8 \
         FROM registration_requests r \
         LEFT JOIN notification_deliveries d ON d.event_id = r.id \
         WHERE r.status = 'completed' ORDER BY r.created_at OFFSET $1",
    )
    .bind(WARMUP as i64)
    .fetch_all(db)
    .await?;
    let completed = rows.iter().map(|r| r.0).collect();
    let sent = rows.iter().filter_map(|r| r.1).collect();
    Ok((summarize(completed), summarize(sent)))
}
