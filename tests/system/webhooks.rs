//! Webhooks end to end: real registrations by a partner, the webhook
//! worker, and a real HTTP receiver (`e2e::receiver`). Signatures are
//! checked by a verifier written here from the Standard Webhooks
//! specification's text (`verifier`), not by `shared::webhook`. Retries
//! run on the stacks' short schedule (`1s,1s,1s`) unless a test sets its
//! own.
//!
//! - `delivery`: who hears of what, signed, without PHI;
//! - `retries`: the schedule, the final failure, disabling an endpoint;
//! - `rotation`: both secrets sign during the grace; a retry by hand;
//! - `crashes`: kill -9 and SIGTERM of the worker mid-delivery;
//! - `throughput`: a backlog of 10,000 (ignored by default: a measurement).

mod crashes;
mod delivery;
mod retries;
mod rotation;
mod throughput;
mod verifier;

use std::time::Duration;

use chrono::{DateTime, Utc};
use e2e::{eventually, Service, Stack};
use serde_json::{json, Value};
use uuid::Uuid;

pub(super) const SOON: Duration = Duration::from_secs(60);

/// A new partner's API key.
pub(super) async fn partner_key(stack: &Stack, name: &str) -> String {
    shared::partner::create_key(&stack.db, name)
        .await
        .unwrap()
        .key
}

/// An endpoint made through the partner API: its id and its secret.
pub(super) async fn endpoint(
    stack: &Stack,
    key: &str,
    url: &str,
    event_types: &[&str],
) -> (Uuid, String) {
    let response = stack
        .http
        .post(format!(
            "{}/api/v1/partner/webhook-endpoints",
            stack.base_url
        ))
        .header("x-api-key", key)
        .json(&json!({"url": url, "event_types": event_types}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let data = &body["data"];
    (
        data["id"].as_str().unwrap().parse().unwrap(),
        data["secret"].as_str().unwrap().to_owned(),
    )
}

pub(super) use e2e::partner::register_as;

/// One row of `webhook_attempts`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct Attempt {
    attempt: i32,
    status_code: Option<i32>,
    latency_ms: i32,
    error: Option<String>,
    attempted_at: DateTime<Utc>,
}

pub(super) async fn attempts(stack: &Stack, delivery_id: Uuid) -> Vec<Attempt> {
    sqlx::query_as(
        "SELECT attempt, status_code, latency_ms, error, attempted_at FROM webhook_attempts
         WHERE delivery_id = $1 ORDER BY attempt, id",
    )
    .bind(delivery_id)
    .fetch_all(&stack.db)
    .await
    .unwrap()
}

/// The delivery of an event to an endpoint, once it exists: its id.
pub(super) async fn delivery(stack: &Stack, event_id: &str, endpoint_id: Uuid) -> Uuid {
    let event_id: Uuid = event_id.parse().unwrap();
    eventually("the delivery to be created", SOON, || async {
        sqlx::query_scalar(
            "SELECT id FROM webhook_deliveries WHERE event_id = $1 AND endpoint_id = $2",
        )
        .bind(event_id)
        .bind(endpoint_id)
        .fetch_optional(&stack.db)
        .await
        .unwrap()
    })
    .await
}

/// Waits for a delivery to be settled; its status.
pub(super) async fn settled_delivery(stack: &Stack, delivery_id: Uuid) -> String {
    eventually("the delivery to settle", SOON, || async {
        let status: String =
            sqlx::query_scalar("SELECT status FROM webhook_deliveries WHERE id = $1")
                .bind(delivery_id)
                .fetch_one(&stack.db)
                .await
                .unwrap();
        (status != "pending").then_some(status)
    })
    .await
}

/// The webhook worker's `/metrics`.
pub(super) async fn metrics_text(stack: &Stack) -> String {
    let url = format!("{}/metrics", stack.health_url(Service::Webhook));
    let response = stack.http.get(url).send().await.unwrap();
    response.text().await.unwrap()
}

/// A sample's value in the webhook worker's `/metrics` (0 when absent).
pub(super) async fn webhook_metric(stack: &Stack, sample: &str) -> f64 {
    metrics_text(stack)
        .await
        .lines()
        .find_map(|line| line.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Waits until the fan-out has handled `n` outcomes.
pub(super) async fn outcomes_handled(stack: &Stack, n: u32) {
    eventually("the fan-out to handle every outcome", SOON, || async {
        let acked = webhook_metric(stack, r#"messages_acked_total{queue="webhook.events"}"#).await;
        (acked >= f64::from(n)).then_some(())
    })
    .await;
}

pub(super) fn seconds_between(earlier: DateTime<Utc>, later: DateTime<Utc>) -> f64 {
    (later - earlier).num_milliseconds() as f64 / 1000.0
}

/// A gap between attempts matches its scheduled delay: early by less than
/// a quarter of a second (clocks), late by less than one and a half.
pub(super) fn assert_spaced(gap: f64, delay: f64, what: &str) {
    assert!(
        gap > delay - 0.25 && gap < delay + 1.5,
        "{what}: {gap:.2}s apart, scheduled {delay}s"
    );
}
