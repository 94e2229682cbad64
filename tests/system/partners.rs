//! Partner intake end to end: API keys, rate limits, Idempotency-Key, and
//! replaying dead-lettered messages with the admin command.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::{eventually, unique_example, Service, Stack, StackOptions};
use serde_json::{json, Value};

use e2e::partner::{admin, create_partner};

#[tokio::test]
async fn partner_keys_are_created_shown_once_attributed_and_revocable() {
    let stack = Stack::start_with(StackOptions {
        env: vec![("REQUIRE_PARTNER_KEY", "true".into())],
    })
    .await;
    let (key, created) = create_partner(&stack, "Acme Health").await;
    let key_id = created
        .lines()
        .find_map(|l| l.strip_prefix("key id: "))
        .unwrap()
        .to_owned();
    assert!(key.starts_with("pk_") && key.len() > 40, "{key}");

    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT key_hash FROM partner_keys")
        .fetch_all(&stack.db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0]
        .windows(8)
        .any(|w| key.as_bytes().windows(8).any(|k| k == w)));
    let listed = admin(&stack, &["partner", "list"]).await;
    assert!(
        listed.contains("Acme Health") && !listed.contains(&key),
        "{listed}"
    );

    assert_eq!(
        stack.register_with(&unique_example(), &[]).await.status(),
        401
    );
    assert_eq!(
        stack
            .register_with(&unique_example(), &[("x-api-key", "pk_wrong")])
            .await
            .status(),
        401
    );
    let bearer = format!("Bearer {key}");
    for header in [
        ("x-api-key", key.as_str()),
        ("authorization", bearer.as_str()),
    ] {
        let response = stack.register_with(&unique_example(), &[header]).await;
        assert_eq!(response.status(), 202, "{header:?}");
    }
    let partners: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT p.name FROM registration_requests r LEFT JOIN partners p ON p.id = r.partner_id",
    )
    .fetch_all(&stack.db)
    .await
    .unwrap();
    assert_eq!(partners, vec![Some("Acme Health".to_owned()); 2]);

    assert!(admin(&stack, &["partner", "revoke", &key_id])
        .await
        .contains("revoked"));
    assert_eq!(
        stack
            .register_with(&unique_example(), &[("x-api-key", key.as_str())])
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn callers_over_their_rate_get_429_with_retry_after() {
    let stack = Stack::start_with(StackOptions {
        env: vec![
            ("REGISTER_RATE_LIMIT_PER_CLIENT", "2".into()),
            ("REGISTER_RATE_LIMIT_PER_PARTNER", "1".into()),
            ("RATE_LIMIT_WINDOW", "60s".into()),
        ],
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            stack.register_with(&unique_example(), &[]).await.status(),
            202
        );
    }
    let limited = stack.register_with(&unique_example(), &[]).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    let json: Value = limited.json().await.unwrap();
    assert_eq!(
        (json["success"].clone(), json["errors"].clone()),
        (json!(false), json!({}))
    );

    // A partner has its own budget, not the address's.
    let (key, _) = create_partner(&stack, "Beta Clinic").await;
    assert_eq!(
        stack
            .register_with(&unique_example(), &[("x-api-key", &key)])
            .await
            .status(),
        202
    );
    assert_eq!(
        stack
            .register_with(&unique_example(), &[("x-api-key", &key)])
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn an_idempotency_key_returns_the_same_request_and_refuses_another_payload() {
    let stack = Stack::start().await;
    let body = unique_example();
    let key = uuid::Uuid::new_v4().to_string();
    let first = stack
        .register_with(&body, &[("idempotency-key", &key)])
        .await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let request_id = first["data"]["request_id"].as_str().unwrap().to_owned();
    assert_eq!(stack.settled(&request_id).await["status"], "completed");

    let again = stack
        .register_with(&body, &[("idempotency-key", &key)])
        .await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["data"]["request_id"], request_id.as_str());
    assert_eq!(again["data"]["status"], "completed");

    let other = stack
        .register_with(&unique_example(), &[("idempotency-key", &key)])
        .await;
    assert_eq!(other.status(), 422);
    let other: Value = other.json().await.unwrap();
    assert!(
        other["message"]
            .as_str()
            .unwrap()
            .contains("different request payload"),
        "{other}"
    );

    // Keys are scoped: the same key from a partner is a new request.
    let (partner_key, _) = create_partner(&stack, "Gamma").await;
    let scoped = stack
        .register_with(
            &unique_example(),
            &[("idempotency-key", &key), ("x-api-key", &partner_key)],
        )
        .await;
    assert_eq!(scoped.status(), 202);
    let requests: i64 = sqlx::query_scalar("SELECT count(*) FROM registration_requests")
        .fetch_one(&stack.db)
        .await
        .unwrap();
    assert_eq!(requests, 2);
    let bad = stack
        .register_with(&unique_example(), &[("idempotency-key", "")])
        .await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn dead_lettered_registrations_can_be_listed_and_replayed() {
    const OTHER_KEY: &str = "HxwdHhscGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";
    let mut stack = Stack::start().await;
    // Sealed under a key id this worker does not know: dead-lettered, failed.
    stack.set_env("PHI_ENCRYPTION_KEY", OTHER_KEY);
    stack.set_env("PHI_ENCRYPTION_KEY_ID", "k9");
    stack.restart(Service::Intake).await;
    let request_id = stack.register_accepted(&unique_example()).await;
    assert_eq!(stack.settled(&request_id).await["status"], "failed");
    let listed = admin(&stack, &["dlq", "list", "registration.requests"]).await;
    assert!(
        listed.contains(&request_id) && listed.contains("1 dead-lettered"),
        "{listed}"
    );
    let listed_again = admin(&stack, &["dlq", "list", "registration.requests"]).await;
    assert_eq!(listed, listed_again, "listing must not consume");

    // The operator gives the worker the missing key and replays.
    stack.set_env("PHI_ENCRYPTION_KEY", e2e::TEST_PHI_KEY);
    stack.set_env("PHI_ENCRYPTION_KEY_ID", "k1");
    stack.set_env("PHI_ENCRYPTION_RETIRED_KEYS", format!("k9:{OTHER_KEY}"));
    stack.restart(Service::Registration).await;
    let replayed = admin(&stack, &["dlq", "replay", "registration.requests"]).await;
    assert!(replayed.contains("replayed 1"), "{replayed}");
    let data = eventually(
        "the replayed request to complete",
        Duration::from_secs(60),
        || async {
            let (_, body) = stack.status(&request_id).await;
            (body["data"]["status"] == "completed").then(|| body["data"].clone())
        },
    )
    .await;
    assert!(data["patient_id"].is_string());
    assert!(admin(&stack, &["dlq", "list", "registration.requests"])
        .await
        .contains("0 dead-lettered"));
}
