//! PHI protection end to end: sealed at rest and on the broker, absent from
//! every log line, every access audited, keys rotated.

#![allow(clippy::unwrap_used)]

use e2e::{
    accounts::{login, marked_example, post, profile, registered, PASSWORD},
    unique_example, Service, Stack, StackOptions,
};
use serde_json::json;

#[tokio::test]
async fn phi_is_sealed_at_rest() {
    let stack = Stack::start().await;
    let (body, secrets) = marked_example();
    registered(&stack, &body).await;
    let raw: String = sqlx::query_scalar(
        "SELECT concat_ws('|', emergency_contact::text, medical_history::text, insurance_info::text) FROM patients",
    )
    .fetch_one(&stack.db)
    .await
    .unwrap();
    assert!(raw.contains("\"kid\""), "{raw}");
    for secret in &secrets[1..] {
        assert!(
            !raw.contains(secret.as_str()),
            "{secret} is stored in plain text"
        );
    }
}

#[tokio::test]
async fn the_broker_never_holds_the_password_or_phi_in_plain_text() {
    let mut stack = Stack::start().await;
    stack.stop(Service::Registration).await;
    let (body, secrets) = marked_example();
    stack.register_accepted(&body).await;
    let message = stack.take_request_message().await;
    let raw = String::from_utf8_lossy(&message.data).into_owned();
    assert!(raw.contains("registration.requested.v1"), "{raw}");
    for secret in secrets
        .iter()
        .chain([&body["email"].as_str().unwrap().to_owned()])
    {
        assert!(
            !raw.contains(secret.as_str()),
            "{secret} travels in plain text"
        );
    }
}

#[tokio::test]
async fn no_secret_or_phi_reaches_any_log_line_even_at_trace_level() {
    let stack = Stack::start_with(StackOptions {
        env: vec![("RUST_LOG", "trace".into())],
    })
    .await;
    let (body, mut secrets) = marked_example();
    let address = body["email"].as_str().unwrap().to_owned();
    let (patient_id, email) = registered(&stack, &body).await;
    let token = email.token().unwrap();
    assert_eq!(
        post(
            &stack,
            "/api/v1/patient/verify-email",
            json!({"token": token})
        )
        .await
        .0,
        200
    );
    let (_, json) = login(&stack, &address, &secrets[0]).await;
    let jwt = json["data"]["access_token"].as_str().unwrap().to_owned();
    assert_eq!(login(&stack, &address, "WrongPassword123!").await.0, 401);
    assert_eq!(profile(&stack, &patient_id, Some(&jwt)).await.0, 200);
    // A rejected registration, with its own secrets.
    let (mut twin, twin_secrets) = marked_example();
    twin["email"] = json!(address);
    let id = stack.register_accepted(&twin).await;
    assert_eq!(stack.settled(&id).await["status"], "rejected");

    let hash: String = sqlx::query_scalar("SELECT password_hash FROM patients")
        .fetch_one(&stack.db)
        .await
        .unwrap();
    secrets.extend(twin_secrets);
    secrets.extend([
        token,
        jwt,
        hash,
        address,
        email.text.lines().nth(2).unwrap_or_default().to_owned(),
    ]);
    let logs = stack.all_logs();
    assert!(
        logs.lines().count() > 100,
        "trace logging produced too little to be meaningful"
    );
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        assert!(
            !logs.contains(secret.as_str()),
            "a log line holds a secret or PHI: {secret}"
        );
    }
}

#[tokio::test]
async fn every_access_leaves_an_append_only_audit_row() {
    let stack = Stack::start().await;
    let body = unique_example();
    let address = body["email"].as_str().unwrap().to_owned();
    let (patient_id, email) = registered(&stack, &body).await;
    post(
        &stack,
        "/api/v1/patient/verify-email",
        json!({"token": email.token().unwrap()}),
    )
    .await;
    login(&stack, &address, "WrongPassword123!").await;
    let (_, json) = login(&stack, &address, PASSWORD).await;
    profile(&stack, &patient_id, json["data"]["access_token"].as_str()).await;

    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT action, outcome, client_addr FROM audit_log WHERE patient_id = $1::uuid ORDER BY id",
    )
    .bind(&patient_id)
    .fetch_all(&stack.db)
    .await
    .unwrap();
    let actions: Vec<(&str, &str)> = rows
        .iter()
        .map(|(a, o, _)| (a.as_str(), o.as_str()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("registration", "completed"),
            // The poll that saw it completed (it shows contact details).
            ("registration_status_read", "success"),
            ("email_verification", "success"),
            ("login", "invalid_credentials"),
            ("login", "success"),
            ("profile_read", "success"),
        ]
    );
    assert!(
        rows.iter()
            .all(|(_, _, addr)| addr.as_deref() == Some("127.0.0.1")),
        "{rows:?}"
    );
    for statement in [
        "UPDATE audit_log SET outcome = 'x'",
        "DELETE FROM audit_log",
    ] {
        let refused = sqlx::query(statement).execute(&stack.db).await;
        assert!(refused.is_err(), "{statement} was allowed");
    }
}

#[tokio::test]
async fn rotating_the_phi_key_keeps_old_values_readable_and_reseal_moves_them() {
    const NEW_KEY: &str = "HxwdHhscGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";
    let mut stack = Stack::start().await;
    let (body, secrets) = marked_example();
    let (patient_id, _) = registered(&stack, &body).await;
    // A webhook endpoint whose secret is sealed under the old key.
    let (partner_key, _) = e2e::partner::create_partner(&stack, "Rotating").await;
    let created: serde_json::Value = stack
        .http
        .post(format!(
            "{}/api/v1/partner/webhook-endpoints",
            stack.base_url
        ))
        .header("x-api-key", &partner_key)
        .json(
            &json!({"url": "http://127.0.0.1:9/hooks", "event_types": ["registration.completed"]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let webhook_secret = created["data"]["secret"].as_str().unwrap().to_owned();
    let endpoint_id: uuid::Uuid = created["data"]["id"].as_str().unwrap().parse().unwrap();

    let rotated = [
        ("PHI_ENCRYPTION_KEY", NEW_KEY.to_owned()),
        ("PHI_ENCRYPTION_KEY_ID", "k2".to_owned()),
        (
            "PHI_ENCRYPTION_RETIRED_KEYS",
            format!("k1:{}", e2e::TEST_PHI_KEY),
        ),
    ];
    for (name, value) in &rotated {
        stack.set_env(name, value.clone());
    }
    stack.restart(Service::Intake).await;
    let (_, json) = login(&stack, body["email"].as_str().unwrap(), &secrets[0]).await;
    let token = json["data"]["access_token"].as_str().unwrap().to_owned();
    let before = profile(&stack, &patient_id, Some(&token)).await.1;
    assert_eq!(before["data"]["medical_history"], json!([secrets[1]]));

    let reseal = || async {
        tokio::process::Command::new(e2e::binary_path("admin"))
            .arg("reseal-phi")
            .env_clear()
            .env("APP_ENV", "test")
            .env("DATABASE_URL", &stack.database_url)
            .envs(rotated.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .await
            .unwrap()
    };
    let out = reseal().await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("re-sealed 1 patient"));
    let kids: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT DISTINCT k FROM patients, LATERAL (VALUES (emergency_contact->>'kid'), (medical_history->>'kid'), (insurance_info->>'kid')) v(k)",
    )
    .fetch_all(&stack.db)
    .await
    .unwrap();
    assert_eq!(kids, vec![Some("k2".to_owned())]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("re-sealed 1 webhook endpoint secret"));
    // The endpoint's secret is under the new key now, and still the same.
    let sealed: sqlx::types::Json<shared::crypto::Sealed> =
        sqlx::query_scalar("SELECT secret FROM webhook_endpoints WHERE id = $1")
            .bind(endpoint_id)
            .fetch_one(&stack.db)
            .await
            .unwrap();
    assert_eq!(sealed.0.kid, "k2");
    let new_keyring = {
        let vars: std::collections::HashMap<&str, &str> =
            rotated.iter().map(|(k, v)| (*k, v.as_str())).collect();
        shared::crypto::Keyring::from_vars(
            &shared::config::Vars(&vars),
            shared::config::AppEnv::Test,
        )
        .unwrap()
    };
    let opened = shared::webhook::Secret::open(&new_keyring, &sealed.0, endpoint_id).unwrap();
    assert!(
        opened.expose() == webhook_secret,
        "the re-sealed secret is another"
    );
    assert!(String::from_utf8_lossy(&reseal().await.stdout).contains("re-sealed 0 patient"));
    let mut after = profile(&stack, &patient_id, Some(&token)).await.1;
    let mut before = before;
    for v in [&mut before, &mut after] {
        v["data"].as_object_mut().unwrap().remove("updated_at");
    }
    assert_eq!(after, before);
}
