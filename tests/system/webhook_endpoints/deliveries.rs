//! A partner's deliveries: listed newest first a page at a time, and a
//! failed one retried by hand (its attempt read off the queue here).

use chrono::{DateTime, Utc};
use e2e::{Service, Stack};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{call, create, partner_key, DELIVERIES};

/// Puts a delivery row as the webhook worker would; returns its id.
async fn delivery(
    stack: &Stack,
    endpoint: &str,
    status: &str,
    minutes_ago: i32,
    attempts: i32,
) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, endpoint_id, partner_id, event_id, event_type, payload, \
             status, attempts, created_at, failed_at, delivered_at) \
         SELECT $1, e.id, e.partner_id, gen_random_uuid(), 'registration.completed', '{}', $3, $4, \
             now() - $5 * interval '1 minute', \
             CASE WHEN $3 = 'failed' THEN now() END, CASE WHEN $3 = 'delivered' THEN now() END \
         FROM webhook_endpoints e WHERE e.id = $2::uuid",
    )
    .bind(id)
    .bind(endpoint)
    .bind(status)
    .bind(attempts)
    .bind(minutes_ago)
    .execute(&stack.db)
    .await
    .unwrap();
    for attempt in 1..=attempts {
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, attempt, status_code, latency_ms, error) \
             VALUES ($1, $2, $3, 12, $4)",
        )
        .bind(id)
        .bind(attempt)
        .bind(if status == "failed" { 500 } else { 200 })
        .bind((status == "failed").then_some("http_status"))
        .execute(&stack.db)
        .await
        .unwrap();
    }
    id
}

async fn page(stack: &Stack, key: &str, query: &str) -> (StatusCode, Value) {
    let (status, _, body) = call(
        stack,
        Method::GET,
        &format!("{DELIVERIES}?{query}"),
        Some(key),
        None,
    )
    .await;
    (status, body)
}

fn ids(body: &Value) -> Vec<String> {
    body["data"]["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn deliveries_are_paged_newest_first_and_a_failed_one_is_retried() {
    let mut stack = Stack::start().await;
    // The rows below are made by hand, and the retried attempt is read off
    // its queue: no worker may act on them first.
    stack.stop(Service::Webhook).await;
    let acme = partner_key(&stack, "Acme Health").await;
    let other = partner_key(&stack, "Other Clinic").await;
    let events = json!(["registration.completed"]);
    let (_, body) = create(&stack, &acme, "https://acme.example/hooks", events.clone()).await;
    let endpoint = body["data"]["id"].as_str().unwrap().to_owned();
    let (_, body) = create(&stack, &other, "https://other.example/hooks", events).await;
    let theirs = body["data"]["id"].as_str().unwrap().to_owned();

    let failed = delivery(&stack, &endpoint, "failed", 1, 3).await;
    let delivered = delivery(&stack, &endpoint, "delivered", 2, 1).await;
    let pending = delivery(&stack, &endpoint, "pending", 3, 0).await;
    let older_failed = delivery(&stack, &endpoint, "failed", 4, 2).await;
    let oldest = delivery(&stack, &endpoint, "delivered", 5, 1).await;
    let their_failed = delivery(&stack, &theirs, "failed", 0, 1).await;
    let newest_first: Vec<String> = [failed, delivered, pending, older_failed, oldest]
        .iter()
        .map(Uuid::to_string)
        .collect();

    // Pages of two, following next_cursor.
    let mut seen = Vec::new();
    let mut query = "limit=2".to_owned();
    for pages in 1..=10 {
        assert!(pages < 10, "the cursor never ends");
        let (status, body) = page(&stack, &acme, &query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        seen.extend(ids(&body));
        match body["data"]["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=2&cursor={cursor}"),
            None => {
                assert_eq!(pages, 3);
                break;
            }
        }
    }
    assert_eq!(seen, newest_first);

    let (status, body) = page(&stack, &acme, "status=failed&cursor=&limit=").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body), [failed.to_string(), older_failed.to_string()]);
    let first = &body["data"]["deliveries"][0];
    assert_eq!(first["webhook_id"], shared::webhook::message_id(failed));
    assert_eq!(first["endpoint_id"], endpoint.as_str());
    assert_eq!(
        (first["attempts"].clone(), first["last_status_code"].clone()),
        (json!(3), json!(500))
    );
    assert_eq!(first["last_error"], "http_status");
    assert!(first["failed_at"].is_string() && first["delivered_at"].is_null());
    let (_, body) = page(&stack, &other, "").await;
    assert_eq!(ids(&body), [their_failed.to_string()]);
    for (query, field) in [
        ("status=lost", "status"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("cursor=garbage", "cursor"),
    ] {
        let (status, body) = page(&stack, &acme, query).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert!(body["errors"][field].is_array(), "{query}: {body}");
    }

    // Retry: only a failed delivery of one's own.
    let retry = |id: &dyn ToString| format!("{DELIVERIES}/{}/retry", id.to_string());
    for (id, key, want) in [
        (their_failed.to_string(), &acme, StatusCode::NOT_FOUND),
        (Uuid::new_v4().to_string(), &acme, StatusCode::NOT_FOUND),
        ("not-an-id".to_owned(), &acme, StatusCode::NOT_FOUND),
        (delivered.to_string(), &acme, StatusCode::CONFLICT),
        (pending.to_string(), &acme, StatusCode::CONFLICT),
    ] {
        let (status, _, body) = call(&stack, Method::POST, &retry(&id), Some(key), None).await;
        assert_eq!(status, want, "{id}: {body}");
    }
    let (status, _, body) = call(&stack, Method::POST, &retry(&failed), Some(&acme), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["data"]["attempt"], 4);
    assert_eq!(body["data"]["status"], "pending");
    let (status, failed_at): (String, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT status, failed_at FROM webhook_deliveries WHERE id = $1")
            .bind(failed)
            .fetch_one(&stack.db)
            .await
            .unwrap();
    assert_eq!((status.as_str(), failed_at), ("pending", None));
    let message = take_attempt(&stack).await;
    assert_eq!(
        message,
        json!({"type": "webhook.attempt.v1", "delivery_id": failed, "attempt": 4})
    );
    // Pending now: a second retry is refused, and says why.
    let (status, _, body) = call(&stack, Method::POST, &retry(&failed), Some(&acme), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["message"].as_str().unwrap().contains("still pending"),
        "{body}"
    );
}

/// The next message on `webhook.attempts` (with the webhook worker stopped).
async fn take_attempt(stack: &Stack) -> Value {
    let conn = stack.amqp().await;
    let channel = conn.create_channel().await.unwrap();
    let got = channel
        .basic_get(
            shared::broker::topology::WEBHOOK_ATTEMPTS_QUEUE.into(),
            lapin::options::BasicGetOptions { no_ack: true },
        )
        .await
        .unwrap()
        .expect("an attempt waits on webhook.attempts");
    serde_json::from_slice(&got.delivery.data).unwrap()
}
