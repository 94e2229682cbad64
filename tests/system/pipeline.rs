//! The registration pipeline end to end: the real binaries against real
//! Postgres, RabbitMQ and SMTP.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::{eventually, example, faults, free_port, spaced, unique_example, Inbox, Service, Stack};
use serde_json::{json, Value};

#[tokio::test]
async fn the_reference_example_completes_and_its_email_carries_the_stored_token() {
    let stack = Stack::start().await;
    let response = stack.register(&example()).await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "Registration accepted for processing.");
    assert_eq!(body["data"]["status"], "pending");
    let request_id = body["data"]["request_id"].as_str().unwrap();
    assert_eq!(
        uuid::Uuid::parse_str(request_id).unwrap().get_version_num(),
        4
    );
    assert_eq!(
        location,
        format!("/api/v1/patient/registrations/{request_id}")
    );
    assert_eq!(body["data"]["status_url"], location);

    let data = stack.settled(request_id).await;
    assert_eq!(data["status"], "completed", "{data}");
    assert_eq!(data["email"], "jane.smith@email.com");
    assert_eq!(data["phone_number"], "+1234567890");
    assert_eq!(data["email_verified"], false);
    assert_eq!(data["phone_verified"], false);
    let patient_id: uuid::Uuid = data["patient_id"].as_str().unwrap().parse().unwrap();

    let (email, stored) = stack
        .verification_email(patient_id, "jane.smith@email.com")
        .await;
    assert!(stored <= 1, "{stored} tokens stored for one patient");
    assert_eq!(email.subject, "Verify your email address");
    assert!(email
        .text
        .contains(&format!("{}/verify-email?token=", stack.base_url)));
}

#[tokio::test]
async fn a_second_registration_with_the_same_email_or_phone_is_rejected() {
    let stack = Stack::start().await;
    let first = unique_example();
    let id = stack.register_accepted(&first).await;
    assert_eq!(stack.settled(&id).await["status"], "completed");

    let mut same_email = unique_example();
    same_email["email"] = json!(first["email"].as_str().unwrap().to_uppercase());
    let mut same_phone = unique_example();
    // The same number written another way: normalised before comparing.
    same_phone["phone_number"] = json!(spaced(first["phone_number"].as_str().unwrap()));

    let email_id = stack.register_accepted(&same_email).await;
    let phone_id = stack.register_accepted(&same_phone).await;
    let by_email = stack.settled(&email_id).await;
    let by_phone = stack.settled(&phone_id).await;
    assert_eq!(by_email["status"], "rejected");
    assert_eq!(
        by_email["errors"],
        json!({"email": ["Email is already registered"]})
    );
    assert_eq!(by_phone["status"], "rejected");
    assert_eq!(
        by_phone["errors"],
        json!({"phone_number": ["Phone number is already registered"]})
    );
    let patients: i64 = sqlx::query_scalar("SELECT count(*) FROM patients")
        .fetch_one(&stack.db)
        .await
        .unwrap();
    assert_eq!(patients, 1);
    // Each outcome is audited once, in the statement that settled it.
    let audited: Vec<(String, String)> = sqlx::query_as(
        "SELECT request_id::text, outcome FROM audit_log WHERE action = 'registration' ORDER BY id",
    )
    .fetch_all(&stack.db)
    .await
    .unwrap();
    let mut expected = vec![
        (id.clone(), "completed".to_owned()),
        (email_id.clone(), "rejected".to_owned()),
        (phone_id.clone(), "rejected".to_owned()),
    ];
    let mut audited_sorted = audited.clone();
    audited_sorted.sort();
    expected.sort();
    assert_eq!(audited_sorted, expected, "{audited:?}");
}

#[tokio::test]
async fn with_the_broker_unreachable_intake_answers_503_and_leaves_nothing_pending() {
    let stack = Stack::start().await;
    // A second intake-api pointed at a port where no broker listens.
    let (port, dead_broker) = (free_port(), free_port());
    let mut child = tokio::process::Command::new(e2e::binary_path("intake-api"))
        .env_clear()
        .env("APP_ENV", "test")
        .env("DATABASE_URL", &stack.database_url)
        .env(
            "AMQP_URL",
            format!("amqp://guest:guest@127.0.0.1:{dead_broker}/%2f"),
        )
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/api/v1/patient/register");
    let response = eventually(
        "the second intake-api to answer",
        Duration::from_secs(30),
        || async {
            stack
                .http
                .post(&url)
                .json(&unique_example())
                .send()
                .await
                .ok()
        },
    )
    .await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["success"], false);
    let pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM registration_requests WHERE status = 'pending'")
            .fetch_one(&stack.db)
            .await
            .unwrap();
    assert_eq!(pending, 0);
    child.kill().await.unwrap();
}

#[tokio::test]
async fn a_request_message_published_twice_makes_one_patient_one_event_and_one_email() {
    let stack = Stack::start().await;
    let body = unique_example();
    let request_id = uuid::Uuid::new_v4();
    let message = faults::sealed_registration(request_id, &body, e2e::TEST_PHI_KEY);
    let conn = stack.amqp().await;
    let channel = conn.create_channel().await.unwrap();
    faults::publish_raw(&channel, request_id, &message).await;
    faults::publish_raw(&channel, request_id, &message).await;

    // No intake-api recorded it: the worker creates its status row.
    eventually(
        "the worker to record the request",
        Duration::from_secs(60),
        || async { (stack.status(&request_id.to_string()).await.0 == 200).then_some(()) },
    )
    .await;
    let data = stack.settled(&request_id.to_string()).await;
    assert_eq!(data["status"], "completed", "{data}");
    // Both deliveries are handled: the second republishes the event, and
    // the notification worker recognises it as already sent.
    eventually(
        "the second delivery to be handled",
        Duration::from_secs(60),
        || async {
            stack
                .log(Service::Registration)
                .contains("request already completed; republishing its event")
                .then_some(())
        },
    )
    .await;
    eventually(
        "the twin event to be recognised",
        Duration::from_secs(60),
        || async {
            let log = stack.log(Service::Notification);
            (log.contains("email already sent for this event")).then_some(())
        },
    )
    .await;
    let email = body["email"].as_str().unwrap();
    let inbox = Inbox::from_env();
    assert_eq!(inbox.to(email).await.len(), 1);
    let (patients, deliveries): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM patients), (SELECT count(*) FROM notification_deliveries WHERE status = 'sent')",
    )
    .fetch_one(&stack.db)
    .await
    .unwrap();
    assert_eq!((patients, deliveries), (1, 1));
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'registration' AND request_id = $1",
    )
    .bind(request_id)
    .fetch_one(&stack.db)
    .await
    .unwrap();
    assert_eq!(audited, 1, "the twin delivery audited its request again");
}

#[tokio::test]
async fn the_password_is_stored_only_as_a_cost_12_bcrypt_hash_and_leaks_nowhere() {
    let stack = Stack::start().await;
    let mut body = unique_example();
    let password = format!(
        "Unique{}Pass!9",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    body["password"] = json!(password);
    body["confirm_password"] = json!(password);
    let response = stack.register(&body).await;
    let accepted = response.text().await.unwrap();
    let request_id = serde_json::from_str::<Value>(&accepted).unwrap()["data"]["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, status) = stack.status(&request_id).await;
    let data = stack.settled(&request_id).await;
    assert_eq!(data["status"], "completed");

    let hash: String = sqlx::query_scalar("SELECT password_hash FROM patients")
        .fetch_one(&stack.db)
        .await
        .unwrap();
    let cost: u32 = hash[4..6].parse().unwrap();
    assert!(cost >= 12, "cost {cost}");
    assert!(bcrypt::verify(&password, &hash).unwrap());

    for (place, text) in [
        ("the 202", accepted),
        ("the status", status.to_string()),
        ("the final status", data.to_string()),
        ("the logs", stack.all_logs()),
        ("the tables", dump_tables(&stack).await),
    ] {
        assert!(!text.contains(&password), "the password appears in {place}");
        assert!(!text.contains(&hash), "the hash appears in {place}");
    }
}

/// Every row of every table as text.
async fn dump_tables(stack: &Stack) -> String {
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'patients'")
            .fetch_all(&stack.db)
            .await
            .unwrap();
    let mut out = String::new();
    for table in tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM \"{table}\" t"))
            .fetch_all(&stack.db)
            .await
            .unwrap();
        out.push_str(&rows.join("\n"));
    }
    out
}

#[tokio::test]
async fn a_message_that_is_not_json_is_dead_lettered_and_the_worker_keeps_going() {
    let stack = Stack::start().await;
    let conn = stack.amqp().await;
    let channel = conn.create_channel().await.unwrap();
    faults::publish_raw(&channel, uuid::Uuid::new_v4(), b"this is { not json").await;

    let dead = eventually(
        "the message in the dead-letter queue",
        Duration::from_secs(60),
        || async {
            let got = channel
                .basic_get(
                    "registration.requests.dlq".into(),
                    lapin::options::BasicGetOptions::default(),
                )
                .await
                .unwrap();
            got.map(|m| m.delivery.data)
        },
    )
    .await;
    assert_eq!(dead, b"this is { not json");

    let id = stack.register_accepted(&unique_example()).await;
    assert_eq!(stack.settled(&id).await["status"], "completed");
}

#[tokio::test]
async fn a_service_without_a_required_secret_stops_with_one_line_naming_it() {
    for binary in ["intake-api", "registration-worker", "notification-worker"] {
        let out = tokio::process::Command::new(e2e::binary_path(binary))
            .env_clear()
            .env("APP_ENV", "production")
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "{binary} started without secrets");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{binary}: {stderr}");
        assert!(stderr.contains("PHI_ENCRYPTION_KEY"), "{binary}: {stderr}");
    }
    let out = tokio::process::Command::new(e2e::binary_path("registration-worker"))
        .env_clear()
        .env("APP_ENV", "development")
        .env("BCRYPT_ROUNDS", "10")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success());
    assert!(
        stderr.contains("BCRYPT_ROUNDS") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

#[tokio::test]
async fn docker_compose_file_is_valid() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/check-compose");
    let out = tokio::process::Command::new("bash")
        .arg(script)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "docker-compose config -q failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
