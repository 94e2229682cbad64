//! Partners' webhook endpoints and deliveries through the API, on the real
//! services: secrets shown once and sealed at rest, every field error at
//! once, the per-partner limit, one partner blind to another's, rotation
//! with a grace period; deliveries paged newest first, and a failed one
//! retried onto the `webhook.attempts` queue, in `deliveries`.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use e2e::{Stack, StackOptions};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use shared::{config::Vars, crypto::Keyring, crypto::Sealed, webhook::Secret};
use uuid::Uuid;

use crate::webhooks::partner_key;

mod deliveries;

pub(super) const ENDPOINTS: &str = "/api/v1/partner/webhook-endpoints";
pub(super) const DELIVERIES: &str = "/api/v1/partner/webhook-deliveries";

/// One call with `key` (if any); the status, the `WWW-Authenticate` header
/// and the body.
pub(super) async fn call(
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

pub(super) async fn create(
    stack: &Stack,
    key: &str,
    url: &str,
    events: Value,
) -> (StatusCode, Value) {
    let body = json!({"url": url, "event_types": events});
    let (status, _, body) = call(stack, Method::POST, ENDPOINTS, Some(key), Some(body)).await;
    (status, body)
}

pub(super) async fn listed(stack: &Stack, key: &str) -> Vec<Value> {
    let (status, _, body) = call(stack, Method::GET, ENDPOINTS, Some(key), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["endpoints"].as_array().unwrap().clone()
}

pub(super) fn keyring() -> Keyring {
    let vars = HashMap::from([("PHI_ENCRYPTION_KEY", e2e::TEST_PHI_KEY)]);
    Keyring::from_vars(&Vars(&vars), shared::config::AppEnv::Test).unwrap()
}

/// The sealed secrets of an endpoint's row: (current, previous).
pub(super) async fn sealed(stack: &Stack, id: Uuid) -> (Value, Option<Value>) {
    sqlx::query_as("SELECT secret, previous_secret FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .fetch_one(&stack.db)
        .await
        .unwrap()
}

pub(super) fn opened(sealed: &Value, id: Uuid) -> String {
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
        "a secret of {} characters, not whsec_ and base64",
        secret.len()
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
    assert!(
        opened(&current, id) == secret,
        "the row opens to another secret"
    );
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
    assert!(
        opened(&current, id) == rotated,
        "the row opens to another secret"
    );
    assert!(
        opened(&previous.unwrap(), id) == secret,
        "the previous secret opens to another value"
    );
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
