//! Partners' webhook endpoints and deliveries through the API, on the real
//! services: secrets shown once and sealed at rest, every field error at
//! once, the per-partner limit, one partner blind to another's, rotation
//! with a grace period, deliveries paged newest first, and a failed one
//! retried onto the `webhook.attempts` queue.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use e2e::{Service, Stack, StackOptions};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use shared::{config::Vars, crypto::Keyring, crypto::Sealed, webhook::Secret};
use uuid::Uuid;

const ENDPOINTS: &str = "/api/v1/partner/webhook-endpoints";
const DELIVERIES: &str = "/api/v1/partner/webhook-deliveries";

/// A new partner's API key.
async fn partner_key(stack: &Stack, name: &str) -> String {
    shared::partner::create_key(&stack.db, name)
        .await
        .unwrap()
        .key
}

/// One call with `key` (if any); the status, the `WWW-Authenticate` header
/// and the body.
async fn call(
    stack: &Stack,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Option<String>, Value) {
    let mut request = stack
        .http
        .request(method, format!("{}{path}", stack.base_url));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        response.status(),
        challenge,
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn create(stack: &Stack, key: &str, url: &str, events: Value) -> (StatusCode, Value) {
    let body = json!({"url": url, "event_types": events});
    let (status, _, body) = call(stack, Method::POST, ENDPOINTS, Some(key), Some(body)).await;
    (status, body)
}

async fn listed(stack: &Stack, key: &str) -> Vec<Value> {
    let (status, _, body) = call(stack, Method::GET, ENDPOINTS, Some(key), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["endpoints"].as_array().unwrap().clone()
}

fn keyring() -> Keyring {
    let vars = HashMap::from([("PHI_ENCRYPTION_KEY", e2e::TEST_PHI_KEY)]);
    Keyring::from_vars(&Vars(&vars), shared::config::AppEnv::Test).unwrap()
}

/// The sealed secrets of an endpoint's row: (current, previous).
async fn sealed(stack: &Stack, id: Uuid) -> (Value, Option<Value>) {
    sqlx::query_as("SELECT secret, previous_secret FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .fetch_one(&stack.db)
        .await
        .unwrap()
}

fn opened(sealed: &Value, id: Uuid) -> String {
    let sealed: Sealed = serde_json::from_value(sealed.clone()).unwrap();
    Secret::open(&keyring(), &sealed, id)
        .unwrap()
        .expose()
        .to_owned()
}

#[tokio::test]
async fn endpoints_are_created_listed_rotated_and_deleted_by_their_own_partner_only() {
    let stack = Stack::start().await;
    let acme = partner_key(&stack, "Acme Health").await;
    let other = partner_key(&stack, "Other Clinic").await;
    let events = json!(["registration.completed", "batch.completed"]);

    for key in [None, Some("pk_made_up")] {
        let body = json!({"url": "https://acme.example/hooks", "event_types": events});
        let (status, challenge, body) =
            call(&stack, Method::POST, ENDPOINTS, key, Some(body)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key:?}");
        assert_eq!(challenge.as_deref(), Some("Bearer"));
        assert_eq!(body["success"], false);
        let (status, ..) = call(&stack, Method::GET, DELIVERIES, key, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key:?}");
    }

    let (status, body) = create(&stack, &acme, "https://acme.example/hooks", events.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let data = &body["data"];
    let secret = data["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    assert_eq!(data["url"], "https://acme.example/hooks");
    assert_eq!(data["event_types"], events);
    let id: Uuid = data["id"].as_str().unwrap().parse().unwrap();

    // Sealed at rest, bound to its row.
    let (current, previous) = sealed(&stack, id).await;
    let raw_row: String =
        sqlx::query_scalar("SELECT row_to_json(e)::text FROM webhook_endpoints e WHERE id = $1")
            .bind(id)
            .fetch_one(&stack.db)
            .await
            .unwrap();
    let key_part = secret.trim_start_matches("whsec_");
    assert!(!raw_row.contains(key_part), "the raw secret is in the row");
    assert_eq!(opened(&current, id), secret);
    assert!(previous.is_none());

    // Listed without it; invisible to another partner.
    let mine = listed(&stack, &acme).await;
    assert_eq!(mine.len(), 1);
    assert!(mine[0].get("secret").is_none() && !mine[0].to_string().contains(key_part));
    assert!(mine[0]["previous_secret_expires_at"].is_null());
    assert!(listed(&stack, &other).await.is_empty());
    let one = format!("{ENDPOINTS}/{id}");
    let rotate = format!("{one}/rotate-secret");
    for (method, path) in [(Method::DELETE, &one), (Method::POST, &rotate)] {
        let (status, _, body) = call(&stack, method, path, Some(&other), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["message"], "Webhook endpoint not found");
    }

    // Rotation: a new secret; the old one signs for the grace period.
    let before = Utc::now();
    let (status, _, body) = call(&stack, Method::POST, &rotate, Some(&acme), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rotated = body["data"]["secret"].as_str().unwrap();
    assert!(rotated.starts_with("whsec_") && rotated != secret);
    let expires: DateTime<Utc> = body["data"]["previous_secret_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let grace = expires - before;
    assert!(
        grace >= chrono::Duration::hours(24) - chrono::Duration::seconds(5)
            && grace <= chrono::Duration::hours(24) + chrono::Duration::seconds(30),
        "{grace:?}"
    );
    let (current, previous) = sealed(&stack, id).await;
    assert_eq!(opened(&current, id), rotated);
    assert_eq!(opened(&previous.unwrap(), id), secret);
    assert!(listed(&stack, &acme).await[0]["previous_secret_expires_at"].is_string());

    // Deleted: gone from the list, and a second delete is a 404.
    let (status, _, body) = call(&stack, Method::DELETE, &one, Some(&acme), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(listed(&stack, &acme).await.is_empty());
    for (method, path) in [(Method::DELETE, &one), (Method::POST, &rotate)] {
        let (status, ..) = call(&stack, method, path, Some(&acme), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path} after delete");
    }

    let audited: Vec<(String, String)> = sqlx::query_as(
        "SELECT action, outcome FROM audit_log WHERE action LIKE 'webhook_%' ORDER BY id",
    )
    .fetch_all(&stack.db)
    .await
    .unwrap();
    let audited: Vec<(&str, &str)> = audited
        .iter()
        .map(|(a, o)| (a.as_str(), o.as_str()))
        .collect();
    assert_eq!(
        audited,
        [
            ("webhook_endpoint_create", "success"),
            ("webhook_endpoint_delete", "not_found"),
            ("webhook_secret_rotate", "not_found"),
            ("webhook_secret_rotate", "success"),
            ("webhook_endpoint_delete", "success"),
            ("webhook_endpoint_delete", "not_found"),
            ("webhook_secret_rotate", "not_found"),
        ]
    );
}

#[tokio::test]
async fn bad_subscriptions_get_every_field_error_and_the_limit_holds_per_partner() {
    let stack = Stack::start_with(StackOptions {
        env: vec![("WEBHOOK_MAX_ENDPOINTS", "2".into())],
    })
    .await;
    let acme = partner_key(&stack, "Acme Health").await;
    let other = partner_key(&stack, "Other Clinic").await;
    let good = json!(["registration.completed"]);
    let cases = [
        (json!({}), vec!["event_types", "url"]),
        (
            json!({"url": "ftp://acme.example", "event_types": []}),
            vec!["event_types", "url"],
        ),
        (
            json!({"url": "https://u:p@acme.example", "event_types": good}),
            vec!["url"],
        ),
        (
            json!({"url": "https://acme.example/#x", "event_types": good}),
            vec!["url"],
        ),
        (json!({"url": "/hooks", "event_types": good}), vec!["url"]),
        (
            json!({"url": "https://acme.example", "event_types": ["registration.completed", "nope"]}),
            vec!["event_types"],
        ),
        (
            json!({"url": "https://acme.example", "event_types": ["batch.completed", "batch.completed"]}),
            vec!["event_types"],
        ),
        (
            json!({"url": "https://acme.example", "event_types": "batch.completed"}),
            vec!["event_types"],
        ),
    ];
    for (body, fields) in cases {
        let (status, _, answer) = call(
            &stack,
            Method::POST,
            ENDPOINTS,
            Some(&acme),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        let named: Vec<&str> = answer["errors"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(named, fields, "{body}: {answer}");
    }
    let (_, _, unknown) = call(
        &stack,
        Method::POST,
        ENDPOINTS,
        Some(&acme),
        Some(json!({"url": "https://acme.example", "event_types": ["nope"]})),
    )
    .await;
    let message = unknown["errors"]["event_types"][0].as_str().unwrap();
    assert!(
        message.contains("allowed are registration.completed"),
        "{message}"
    );

    let mut ids = Vec::new();
    for n in 0..2 {
        let (status, body) = create(
            &stack,
            &acme,
            &format!("http://127.0.0.1:9/{n}"),
            good.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["data"]["id"].as_str().unwrap().to_owned());
    }
    let (status, body) = create(&stack, &acme, "https://acme.example/3", good.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("limit reached"),
        "{body}"
    );
    // Per partner: another partner still has room.
    let (status, _) = create(&stack, &other, "https://other.example", good.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    // A deleted endpoint makes room again.
    let path = format!("{ENDPOINTS}/{}", ids[0]);
    assert_eq!(
        call(&stack, Method::DELETE, &path, Some(&acme), None)
            .await
            .0,
        StatusCode::OK
    );
    let (status, _) = create(&stack, &acme, "https://acme.example/3", good).await;
    assert_eq!(status, StatusCode::CREATED);

    let outcomes: Vec<String> = sqlx::query_scalar(
        "SELECT outcome FROM audit_log WHERE action = 'webhook_endpoint_create' ORDER BY id",
    )
    .fetch_all(&stack.db)
    .await
    .unwrap();
    assert_eq!(outcomes.iter().filter(|o| *o == "invalid").count(), 9);
    assert_eq!(outcomes.iter().filter(|o| *o == "limit_reached").count(), 1);
}

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
    for pages in 1.. {
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
