//! Webhooks end to end: real registrations by a partner, the webhook
//! worker, and a real HTTP receiver (`e2e::receiver`). Signatures are
//! checked by a verifier written here from the Standard Webhooks
//! specification's text, not by `shared::webhook`. Retries run on the
//! stacks' short schedule (`1s,1s,1s` unless a test sets its own).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use chrono::{DateTime, Utc};
use e2e::{
    eventually,
    receiver::{Received, Receiver},
    unique_example, Service, Stack, StackOptions,
};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use uuid::Uuid;

const SOON: Duration = Duration::from_secs(60);

/// A new partner's API key.
async fn partner_key(stack: &Stack, name: &str) -> String {
    shared::partner::create_key(&stack.db, name)
        .await
        .unwrap()
        .key
}

/// An endpoint made through the partner API: its id and its secret.
async fn endpoint(stack: &Stack, key: &str, url: &str, event_types: &[&str]) -> (Uuid, String) {
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

/// Registers `body` as the partner whose key this is; the request id.
async fn register_as(stack: &Stack, key: &str, body: &Value) -> String {
    let response = stack.register_with(body, &[("x-api-key", key)]).await;
    assert_eq!(response.status(), 202);
    let json: Value = response.json().await.unwrap();
    json["data"]["request_id"].as_str().unwrap().to_owned()
}

/// The Standard Webhooks verification, from the specification: the signed
/// content is `{webhook-id}.{webhook-timestamp}.{body}`; the key is the
/// base64 after the secret's `whsec_` prefix; each space-separated
/// `v1,<base64 HMAC-SHA256>` in `webhook-signature` is a candidate, compared
/// in constant time; a timestamp more than five minutes from `now` is
/// refused (replays).
fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> bool {
    let Ok(timestamp) = timestamp.parse::<i64>() else {
        return false;
    };
    if (now - timestamp).abs() > 5 * 60 {
        return false;
    }
    let Some(key) = secret
        .strip_prefix("whsec_")
        .and_then(|k| STANDARD.decode(k).ok())
    else {
        return false;
    };
    signatures.split(' ').any(|candidate| {
        let Some(signature) = candidate
            .strip_prefix("v1,")
            .and_then(|s| STANDARD.decode(s).ok())
        else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        mac.verify_slice(&signature).is_ok()
    })
}

fn verifies(secret: &str, request: &Received, body: &[u8], now: i64) -> bool {
    verify(
        secret,
        request.header("webhook-id"),
        request.header("webhook-timestamp"),
        request.header("webhook-signature"),
        body,
        now,
    )
}

/// One row of `webhook_attempts`.
#[derive(Debug, sqlx::FromRow)]
struct Attempt {
    attempt: i32,
    status_code: Option<i32>,
    latency_ms: i32,
    error: Option<String>,
    attempted_at: DateTime<Utc>,
}

async fn attempts(stack: &Stack, delivery_id: Uuid) -> Vec<Attempt> {
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
async fn delivery(stack: &Stack, event_id: &str, endpoint_id: Uuid) -> Uuid {
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
async fn settled_delivery(stack: &Stack, delivery_id: Uuid) -> String {
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

/// A sample's value in the webhook worker's `/metrics` (0 when absent).
async fn webhook_metric(stack: &Stack, sample: &str) -> f64 {
    let url = format!("{}/metrics", stack.health_url(Service::Webhook));
    let text = stack
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Waits until the fan-out has handled `n` outcomes.
async fn outcomes_handled(stack: &Stack, n: u32) {
    eventually("the fan-out to handle every outcome", SOON, || async {
        let acked = webhook_metric(stack, r#"messages_acked_total{queue="webhook.events"}"#).await;
        (acked >= f64::from(n)).then_some(())
    })
    .await;
}

fn seconds_between(earlier: DateTime<Utc>, later: DateTime<Utc>) -> f64 {
    (later - earlier).num_milliseconds() as f64 / 1000.0
}

/// A gap between attempts matches its scheduled delay: early by less than
/// a quarter of a second (clocks), late by less than one and a half.
fn assert_spaced(gap: f64, delay: f64, what: &str) {
    assert!(
        gap > delay - 0.25 && gap < delay + 1.5,
        "{what}: {gap:.2}s apart, scheduled {delay}s"
    );
}

#[tokio::test]
async fn a_partner_hears_of_its_registrations_signed_scoped_and_without_phi() {
    let stack = Stack::start().await;
    let (everything, rejections) = (Receiver::start().await, Receiver::start().await);
    let key = partner_key(&stack, "Acme Health").await;
    let all_types = [
        "registration.completed",
        "registration.rejected",
        "registration.failed",
        "patient.email_verified",
    ];
    let (all_id, secret) = endpoint(&stack, &key, &everything.url(), &all_types).await;
    let (rejections_id, _) =
        endpoint(&stack, &key, &rejections.url(), &["registration.rejected"]).await;

    let anonymous = stack.register_accepted(&unique_example()).await;
    assert_eq!(stack.settled(&anonymous).await["status"], "completed");
    let body = unique_example();
    let completed = register_as(&stack, &key, &body).await;

    // The completed registration's webhook, signed with the endpoint's secret.
    let request = everything.wait_for(1, SOON).await.remove(0);
    let delivery_id = delivery(&stack, &completed, all_id).await;
    assert_eq!(
        request.header("webhook-id"),
        format!("msg_{}", delivery_id.simple())
    );
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(
        request.header("user-agent"),
        "patient-registration-webhooks/1"
    );
    let payload = request.json();
    assert_eq!(payload["type"], "registration.completed");
    assert_eq!(payload["data"]["request_id"], completed.as_str());
    assert_eq!(payload["data"]["status"], "completed");
    assert!(payload["data"]["patient_id"].is_string(), "{payload}");
    let now = Utc::now().timestamp();
    assert!(verifies(&secret, &request, &request.body, now));
    let tampered = String::from_utf8(request.body.clone()).unwrap().replacen(
        "\"completed\"",
        "\"rejected\"",
        1,
    );
    assert_ne!(tampered.as_bytes(), request.body);
    assert!(!verifies(&secret, &request, tampered.as_bytes(), now));
    assert!(!verifies(
        &secret,
        &request,
        &request.body,
        now + 5 * 60 + 1
    ));
    assert!(!verifies(
        &secret.replace("whsec_", "whsec_A"),
        &request,
        &request.body,
        now
    ));

    // The same email again: rejected, to both endpoints, with the field
    // errors and nothing of the patient.
    let mut twin = unique_example();
    twin["email"] = body["email"].clone();
    let rejected = register_as(&stack, &key, &twin).await;
    let to_all = everything.wait_for(2, SOON).await.remove(1);
    let to_rejections = rejections.wait_for(1, SOON).await;
    assert_eq!(
        to_rejections.len(),
        1,
        "only the rejection is subscribed to"
    );
    for request in [&to_all, &to_rejections[0]] {
        let payload = request.json();
        assert_eq!(payload["type"], "registration.rejected");
        assert_eq!(payload["data"]["request_id"], rejected.as_str());
        assert_eq!(
            payload["data"]["errors"],
            json!({"email": ["Email is already registered"]})
        );
        let text = String::from_utf8_lossy(&request.body).to_lowercase();
        for field in ["email", "phone_number", "first_name", "last_name"] {
            let value = twin[field].as_str().unwrap().to_lowercase();
            assert!(!text.contains(&value), "{field} in {text}");
        }
    }
    delivery(&stack, &rejected, rejections_id).await;

    // Three outcomes handled; the anonymous one made no delivery.
    outcomes_handled(&stack, 3).await;
    let anonymous_deliveries: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE event_id = $1")
            .bind(anonymous.parse::<Uuid>().unwrap())
            .fetch_one(&stack.db)
            .await
            .unwrap();
    assert_eq!(anonymous_deliveries, 0);
    assert_eq!(everything.received().len(), 2);
    assert_eq!(rejections.received().len(), 1);
}

#[tokio::test]
async fn retries_follow_the_schedule_with_one_webhook_id_until_the_endpoint_answers() {
    let stack = Stack::start_with(StackOptions {
        env: vec![("WEBHOOK_RETRY_SCHEDULE", "2s,1s,3s".into())],
    })
    .await;
    let receiver = Receiver::start_down();
    let key = partner_key(&stack, "Acme Health").await;
    let (endpoint_id, secret) =
        endpoint(&stack, &key, &receiver.url(), &["registration.completed"]).await;
    let request_id = register_as(&stack, &key, &unique_example()).await;
    let delivery_id = delivery(&stack, &request_id, endpoint_id).await;

    // The first attempt meets a refused connection; then the receiver is
    // up, but answers the second with a 503.
    eventually("the first attempt", SOON, || async {
        (!attempts(&stack, delivery_id).await.is_empty()).then_some(())
    })
    .await;
    receiver.fail_next(1, 503);
    receiver.up().await;
    assert_eq!(settled_delivery(&stack, delivery_id).await, "delivered");

    let made = attempts(&stack, delivery_id).await;
    let summary: Vec<_> = made
        .iter()
        .map(|a| (a.attempt, a.status_code, a.error.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            (1, None, Some("connect")),
            (2, Some(503), Some("status")),
            (3, Some(200), None)
        ]
    );
    let gap = |i: usize| seconds_between(made[i - 1].attempted_at, made[i].attempted_at);
    assert_spaced(gap(1), 2.0, "attempts 1 and 2");
    assert_spaced(gap(2), 1.0, "attempts 2 and 3");

    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!((received[0].answered, received[1].answered), (503, 200));
    let id = format!("msg_{}", delivery_id.simple());
    assert!(received.iter().all(|r| r.header("webhook-id") == id));
    assert_eq!(received[0].body, received[1].body);
    assert_spaced(
        (received[1].at - received[0].at).as_secs_f64(),
        1.0,
        "arrivals",
    );
    let now = Utc::now().timestamp();
    assert!(received.iter().all(|r| verifies(&secret, r, &r.body, now)));
    let delivered: (i32, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT attempts, delivered_at FROM webhook_deliveries WHERE id = $1")
            .bind(delivery_id)
            .fetch_one(&stack.db)
            .await
            .unwrap();
    assert_eq!(delivered.0, 3);
    assert!(delivered.1.is_some());
}

#[tokio::test]
async fn a_delivery_never_answered_with_2xx_fails_after_its_last_attempt_every_attempt_recorded() {
    let stack = Stack::start().await;
    let receiver = Receiver::start().await;
    receiver.answer(500);
    let key = partner_key(&stack, "Acme Health").await;
    let (endpoint_id, _) =
        endpoint(&stack, &key, &receiver.url(), &["registration.completed"]).await;
    let request_id = register_as(&stack, &key, &unique_example()).await;
    let delivery_id = delivery(&stack, &request_id, endpoint_id).await;
    assert_eq!(settled_delivery(&stack, delivery_id).await, "failed");

    // 1 attempt and the 3 retries of `1s,1s,1s`, each with its answer's
    // status and how long it took; nothing of the answer's body.
    let made = attempts(&stack, delivery_id).await;
    assert_eq!(
        made.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    for attempt in &made {
        assert_eq!(attempt.status_code, Some(500), "{attempt:?}");
        assert_eq!(attempt.error.as_deref(), Some("status"), "{attempt:?}");
        assert!((0..10_000).contains(&attempt.latency_ms), "{attempt:?}");
    }
    for i in 1..made.len() {
        let gap = seconds_between(made[i - 1].attempted_at, made[i].attempted_at);
        assert_spaced(gap, 1.0, "attempts");
    }
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns
         WHERE table_name = 'webhook_attempts' ORDER BY ordinal_position",
    )
    .fetch_all(&stack.db)
    .await
    .unwrap();
    assert_eq!(
        columns,
        [
            "id",
            "delivery_id",
            "attempt",
            "attempted_at",
            "status_code",
            "latency_ms",
            "error"
        ]
    );
    let (attempts_count, failed_at): (i32, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT attempts, failed_at FROM webhook_deliveries WHERE id = $1")
            .bind(delivery_id)
            .fetch_one(&stack.db)
            .await
            .unwrap();
    assert_eq!(attempts_count, 4);
    assert!(failed_at.is_some());
    let streak: (Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT failing_since, disabled_at FROM webhook_endpoints WHERE id = $1")
            .bind(endpoint_id)
            .fetch_one(&stack.db)
            .await
            .unwrap();
    assert!(streak.0.is_some() && streak.1.is_none(), "{streak:?}");

    let received = receiver.received();
    assert_eq!(received.len(), 4);
    let id = format!("msg_{}", delivery_id.simple());
    assert!(received.iter().all(|r| r.header("webhook-id") == id));
    let outcome = |o: &str| format!(r#"webhook_deliveries_total{{outcome="{o}"}}"#);
    assert_eq!(webhook_metric(&stack, &outcome("retried")).await, 3.0);
    assert_eq!(webhook_metric(&stack, &outcome("failed")).await, 1.0);
    assert_eq!(
        webhook_metric(&stack, "webhook_attempt_duration_seconds_count").await,
        4.0
    );
}

#[tokio::test]
async fn an_endpoint_failing_for_longer_than_the_disable_period_is_disabled() {
    let stack = Stack::start_with(StackOptions {
        env: vec![
            ("WEBHOOK_RETRY_SCHEDULE", "2s,2s".into()),
            ("WEBHOOK_DISABLE_AFTER", "1s".into()),
        ],
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.answer(502);
    let key = partner_key(&stack, "Acme Health").await;
    let (endpoint_id, _) =
        endpoint(&stack, &key, &receiver.url(), &["registration.completed"]).await;
    let first = register_as(&stack, &key, &unique_example()).await;
    let delivery_id = delivery(&stack, &first, endpoint_id).await;
    assert_eq!(settled_delivery(&stack, delivery_id).await, "failed");

    // The second failure came 2 s after the first: past the 1 s allowed, so
    // the endpoint was disabled, and the last attempt was never made.
    let errors: Vec<Option<String>> = attempts(&stack, delivery_id)
        .await
        .into_iter()
        .map(|a| a.error)
        .collect();
    assert_eq!(
        errors,
        [
            Some("status".to_owned()),
            Some("status".to_owned()),
            Some("endpoint_disabled".to_owned())
        ]
    );
    let disabled: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT disabled_at FROM webhook_endpoints WHERE id = $1")
            .bind(endpoint_id)
            .fetch_one(&stack.db)
            .await
            .unwrap();
    assert!(disabled.is_some());
    assert_eq!(receiver.received().len(), 2);

    // A disabled endpoint gets no new deliveries.
    register_as(&stack, &key, &unique_example()).await;
    outcomes_handled(&stack, 2).await;
    let deliveries: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries")
        .fetch_one(&stack.db)
        .await
        .unwrap();
    assert_eq!(deliveries, 1);
}

#[tokio::test]
async fn a_worker_killed_mid_delivery_delivers_after_restart_with_the_same_webhook_id() {
    let mut stack = Stack::start_with(StackOptions {
        env: vec![("WEBHOOK_TIMEOUT", "60s".into())],
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.delay(Duration::from_secs(120));
    let key = partner_key(&stack, "Acme Health").await;
    let (endpoint_id, secret) =
        endpoint(&stack, &key, &receiver.url(), &["registration.completed"]).await;
    let request_id = register_as(&stack, &key, &unique_example()).await;

    // The worker is killed while the receiver holds its answer.
    receiver.wait_for(1, SOON).await;
    stack.stop(Service::Webhook).await;
    let delivery_id = delivery(&stack, &request_id, endpoint_id).await;
    assert!(attempts(&stack, delivery_id).await.is_empty());
    receiver.delay(Duration::ZERO);
    stack.spawn(Service::Webhook);
    stack.wait_ready(Service::Webhook).await;

    assert_eq!(settled_delivery(&stack, delivery_id).await, "delivered");
    let received = receiver.received();
    assert!(received.len() >= 2, "{received:?}");
    let id = format!("msg_{}", delivery_id.simple());
    let now = Utc::now().timestamp();
    for request in &received {
        assert_eq!(request.header("webhook-id"), id);
        assert_eq!(request.body, received[0].body);
        assert!(verifies(&secret, request, &request.body, now));
    }
    let made = attempts(&stack, delivery_id).await;
    assert_eq!(made.last().map(|a| a.status_code), Some(Some(200)));
}

/// A measurement, not run by default (`cargo test -p e2e --test system
/// webhooks -- --ignored`, best alone): one worker delivers a backlog of
/// 10,000 to a local receiver at 1,000 a second or more.
#[tokio::test]
#[ignore = "a throughput measurement; run it alone with --ignored"]
async fn one_worker_delivers_a_backlog_of_ten_thousand_at_a_thousand_a_second() {
    const BACKLOG: usize = 10_000;
    let mut stack = Stack::start().await;
    stack.stop(Service::Webhook).await;
    let receiver = Receiver::start().await;
    let key = partner_key(&stack, "Acme Health").await;
    let (endpoint_id, _) =
        endpoint(&stack, &key, &receiver.url(), &["registration.completed"]).await;
    // The deliveries the fan-out would have made, and their first attempts.
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (id, endpoint_id, partner_id, event_id, event_type, payload)
         SELECT gen_random_uuid(), e.id, e.partner_id, gen_random_uuid(), 'registration.completed',
                jsonb_build_object('type', 'registration.completed', 'timestamp', now(),
                    'data', jsonb_build_object('request_id', gen_random_uuid(), 'status', 'completed'))
         FROM webhook_endpoints e, generate_series(1, $2) WHERE e.id = $1 RETURNING id",
    )
    .bind(endpoint_id)
    .bind(BACKLOG as i32)
    .fetch_all(&stack.db)
    .await
    .unwrap();
    let broker = shared::broker::Broker::new(
        &stack.amqp_url.clone().into(),
        shared::broker::Topology::default(),
        8,
    )
    .unwrap();
    for chunk in ids.chunks(500) {
        futures_util::future::try_join_all(chunk.iter().map(|&delivery_id| {
            let broker = broker.clone();
            async move {
                let first = shared::messages::WebhookAttempt::V1(
                    shared::messages::WebhookAttemptV1 {
                        delivery_id,
                        attempt: 1,
                    },
                );
                broker.publish_message(&first).await
            }
        }))
        .await
        .unwrap();
    }

    stack.spawn(Service::Webhook);
    let received = receiver.wait_for(BACKLOG, Duration::from_secs(300)).await;
    let seconds = (received[BACKLOG - 1].at - received[0].at).as_secs_f64();
    let rate = BACKLOG as f64 / seconds;
    eprintln!("{BACKLOG} webhooks in {seconds:.2} s: {rate:.0}/s");
    eventually("every delivery recorded", SOON, || async {
        let delivered: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'",
        )
        .fetch_one(&stack.db)
        .await
        .unwrap();
        (delivered == BACKLOG as i64).then_some(())
    })
    .await;
    assert!(rate >= 1_000.0, "{rate:.0}/s");
}
