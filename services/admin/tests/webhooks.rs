//! `admin webhook ...` on the real Postgres and RabbitMQ: endpoints for any
//! partner under the API's rules (the limit, a secret shown once and sealed
//! at rest), deliveries listed, and a failed one retried through the
//! broker; every run audited with its outcome.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Output;

use common::Db;
use uuid::Uuid;

/// What a command printed, after checking that it exited 0.
fn printed(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The value after `label: ` on a line of `text`.
fn field<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in {text}"))
}

async fn outcomes(db: &Db, action: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT outcome FROM audit_log WHERE action = $1 AND outcome <> 'started' ORDER BY id",
    )
    .bind(action)
    .fetch_all(&db.admin)
    .await
    .unwrap()
}

/// `admin webhook create` with a limit of two endpoints per partner.
async fn create(db: &Db, partner: &str, url: &str) -> String {
    let args = [
        "webhook",
        "create",
        "--partner",
        partner,
        "--url",
        url,
        "--events",
        "registration.completed,batch.completed",
    ];
    printed(
        &db.admin_with(&args, &[("WEBHOOK_MAX_ENDPOINTS", "2")])
            .await,
    )
}

#[tokio::test]
async fn endpoints_are_created_listed_rotated_and_deleted_under_the_apis_rules() {
    let db = Db::new().await;
    printed(&db.admin(&["partner", "create", "Acme Health"]).await);
    let created = create(&db, "Acme Health", "https://acme.example/hooks").await;
    let id: Uuid = field(&created, "endpoint id: ").parse().unwrap();
    let secret = field(&created, "secret (shown once, store it now): ").to_owned();
    assert!(secret.starts_with("whsec_"), "no whsec_ secret printed");
    assert_eq!(
        field(&created, "events: "),
        "registration.completed,batch.completed"
    );
    let row: String =
        sqlx::query_scalar("SELECT secret::text FROM webhook_endpoints WHERE id = $1")
            .bind(id)
            .fetch_one(&db.admin)
            .await
            .unwrap();
    assert!(
        !row.contains(secret.trim_start_matches("whsec_")),
        "stored in the clear"
    );

    // By id as well as by name; then the limit; an unknown partner.
    let partner_id: Uuid = sqlx::query_scalar("SELECT id FROM partners")
        .fetch_one(&db.admin)
        .await
        .unwrap();
    let by_id = create(&db, &partner_id.to_string(), "http://127.0.0.1:9/second").await;
    assert!(by_id.contains("endpoint id: "), "{by_id}");
    let refused = create(&db, "Acme Health", "https://acme.example/third").await;
    assert!(refused.contains("WEBHOOK_MAX_ENDPOINTS"), "{refused}");
    assert!(create(&db, "Nobody", "https://x.example")
        .await
        .contains("no partner"));

    let listed = printed(
        &db.admin(&["webhook", "list", "--partner", "Acme Health"])
            .await,
    );
    assert!(
        listed.contains(&id.to_string())
            && listed.contains("https://acme.example/hooks")
            && listed.contains("2 live endpoint(s)")
            && !listed.contains("whsec_"),
        "{listed}"
    );

    let rotated = printed(
        &db.admin(&["webhook", "rotate-secret", &id.to_string()])
            .await,
    );
    let new_secret = field(&rotated, "secret (shown once, store it now): ");
    assert!(
        new_secret.starts_with("whsec_") && new_secret != secret,
        "{rotated}"
    );
    let previous: Option<String> =
        sqlx::query_scalar("SELECT previous_secret::text FROM webhook_endpoints WHERE id = $1")
            .bind(id)
            .fetch_one(&db.admin)
            .await
            .unwrap();
    assert_eq!(previous.as_deref(), Some(row.as_str()));

    assert!(printed(&db.admin(&["webhook", "delete", &id.to_string()]).await).contains("deleted"));
    let again = printed(&db.admin(&["webhook", "delete", &id.to_string()]).await);
    assert!(again.contains("no such live endpoint"), "{again}");
    let listed = printed(&db.admin(&["webhook", "list"]).await);
    assert!(listed.contains("1 live endpoint(s)"), "{listed}");

    let usage = db
        .admin(&["webhook", "create", "--partner", "Acme Health"])
        .await;
    assert_eq!(usage.status.code(), Some(2));

    assert_eq!(
        outcomes(&db, "admin_webhook_create").await,
        ["success", "success", "limit_reached", "not_found"]
    );
    assert_eq!(outcomes(&db, "admin_webhook_rotate").await, ["success"]);
    assert_eq!(
        outcomes(&db, "admin_webhook_delete").await,
        ["success", "not_found"]
    );
    assert_eq!(
        outcomes(&db, "admin_webhook_list").await,
        ["success", "success"]
    );
}

/// A delivery row as the webhook worker would write it.
async fn delivery(db: &Db, endpoint: Uuid, status: &str, attempts: i32) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, endpoint_id, partner_id, event_id, event_type, payload, \
             status, attempts, failed_at) \
         SELECT $1, id, partner_id, $2, 'registration.completed', '{}', $3, $4, \
             CASE WHEN $3 = 'failed' THEN now() END \
         FROM webhook_endpoints WHERE id = $5",
    )
    .bind(id)
    .bind(Uuid::new_v4())
    .bind(status)
    .bind(attempts)
    .bind(endpoint)
    .execute(&db.admin)
    .await
    .unwrap();
    id
}

async fn status_of(db: &Db, id: Uuid) -> String {
    sqlx::query_scalar("SELECT status FROM webhook_deliveries WHERE id = $1")
        .bind(id)
        .fetch_one(&db.admin)
        .await
        .unwrap()
}

#[tokio::test]
async fn deliveries_are_listed_and_a_failed_one_is_retried_through_the_broker() {
    let db = Db::new().await;
    printed(&db.admin(&["partner", "create", "Acme Health"]).await);
    let created = printed(
        &db.admin(&[
            "webhook",
            "create",
            "--partner",
            "Acme Health",
            "--url",
            "https://acme.example/h",
            "--events",
            "registration.completed",
        ])
        .await,
    );
    let endpoint: Uuid = field(&created, "endpoint id: ").parse().unwrap();
    let failed = delivery(&db, endpoint, "failed", 2).await;
    let delivered = delivery(&db, endpoint, "delivered", 1).await;
    let unreachable = delivery(&db, endpoint, "failed", 5).await;

    let listed = printed(
        &db.admin(&["webhook", "deliveries", "--status", "failed"])
            .await,
    );
    assert!(
        listed.contains(&failed.to_string())
            && listed.contains(&unreachable.to_string())
            && !listed.contains(&delivered.to_string())
            && listed.contains("2 delivery(ies) shown"),
        "{listed}"
    );
    let mine = printed(
        &db.admin(&["webhook", "deliveries", "--partner", "Acme Health"])
            .await,
    );
    assert!(mine.contains("3 delivery(ies) shown"), "{mine}");

    let retried = printed(&db.admin(&["webhook", "retry", &failed.to_string()]).await);
    assert!(retried.contains("retry scheduled: attempt 3"), "{retried}");
    assert_eq!(status_of(&db, failed).await, "pending");
    let conn = lapin::Connection::connect(&db.amqp_url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    let message = channel
        .basic_get(
            "webhook.attempts".into(),
            lapin::options::BasicGetOptions { no_ack: true },
        )
        .await
        .unwrap()
        .expect("the attempt is on webhook.attempts");
    let body: serde_json::Value = serde_json::from_slice(&message.delivery.data).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"type": "webhook.attempt.v1", "delivery_id": failed, "attempt": 3})
    );

    let refused = printed(
        &db.admin(&["webhook", "retry", &delivered.to_string()])
            .await,
    );
    assert!(refused.contains("this one is delivered"), "{refused}");

    // No broker: the command fails in one line, and the delivery stays failed.
    let down = db
        .admin_with(
            &["webhook", "retry", &unreachable.to_string()],
            &[("AMQP_URL", "amqp://guest:guest@127.0.0.1:9/%2f")],
        )
        .await;
    assert_eq!(down.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&down.stderr).lines().count(), 1);
    assert_eq!(status_of(&db, unreachable).await, "failed");

    assert_eq!(
        outcomes(&db, "admin_webhook_retry").await,
        ["success", "not_failed", "failed"]
    );
}
