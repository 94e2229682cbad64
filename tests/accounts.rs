//! Patient accounts end to end: verify, login, profile, lockout, resend,
//! and the PHI checks (at rest, on the broker, in logs, in the audit).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::{eventually, unique_example, Email, Inbox, Service, Stack, StackOptions};
use reqwest::StatusCode;
use serde_json::{json, Value};

const PASSWORD: &str = "SecurePassword123!";

async fn post(stack: &Stack, path: &str, body: Value) -> (StatusCode, Value) {
    let response = stack
        .http
        .post(format!("{}{path}", stack.base_url))
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

/// Registers, waits for completion and for `count` verification emails.
async fn registered(stack: &Stack, body: &Value) -> (String, Email) {
    let id = stack.register_accepted(body).await;
    let data = stack.settled(&id).await;
    assert_eq!(data["status"], "completed", "{data}");
    let email = nth_email(body["email"].as_str().unwrap(), 1).await;
    (data["patient_id"].as_str().unwrap().to_owned(), email)
}

async fn nth_email(address: &str, n: usize) -> Email {
    let inbox = Inbox::from_env();
    eventually(
        &format!("email #{n} to {address}"),
        Duration::from_secs(60),
        || async {
            let mut all = inbox.to(address).await;
            (all.len() >= n).then(|| all.swap_remove(n - 1))
        },
    )
    .await
}

async fn login(stack: &Stack, email: &str, password: &str) -> (StatusCode, Value) {
    post(
        stack,
        "/api/v1/patient/login",
        json!({"email": email, "password": password}),
    )
    .await
}

async fn profile(stack: &Stack, patient_id: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = stack.http.get(format!(
        "{}/api/v1/patient/profile/{patient_id}",
        stack.base_url
    ));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn register_verify_login_and_read_the_profile() {
    let stack = Stack::start().await;
    let mut body = unique_example();
    body["medical_history"] = json!(["Asthma", "Penicillin allergy"]);
    let address = body["email"].as_str().unwrap().to_owned();
    let (patient_id, email) = registered(&stack, &body).await;

    // Login works before verification; the profile says so.
    let (code, json) = login(&stack, &address, PASSWORD).await;
    assert_eq!(code, 200, "{json}");
    let token = json["data"]["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        profile(&stack, &patient_id, Some(&token)).await.1["data"]["email_verified"],
        false
    );

    let (code, json) = post(
        &stack,
        "/api/v1/patient/verify-email",
        json!({"token": email.token().unwrap()}),
    )
    .await;
    assert_eq!(code, 200, "{json}");
    assert_eq!(
        json,
        json!({"success": true, "message": "Email verified successfully.",
               "data": {"patient_id": patient_id, "email_verified": true}})
    );

    let (code, json) = login(&stack, &address.to_uppercase(), PASSWORD).await;
    assert_eq!(code, 200, "{json}");
    assert_eq!(json["message"], "Login successful");
    assert_eq!(json["data"]["token_type"], "Bearer");
    assert_eq!(json["data"]["patient_id"], patient_id.as_str());
    assert!(json["data"]["expires_in"].as_u64().unwrap() > 0);
    let token = json["data"]["access_token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3);

    let response = stack
        .http
        .get(format!(
            "{}/api/v1/patient/profile/{patient_id}",
            stack.base_url
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let text = response.text().await.unwrap();
    assert!(!text.contains("password"), "{text}");
    let data = serde_json::from_str::<Value>(&text).unwrap()["data"].clone();
    assert_eq!(data["email_verified"], true);
    assert_eq!(data["email"], address.as_str());
    assert_eq!(
        data["medical_history"],
        json!(["Asthma", "Penicillin allergy"])
    );
    assert_eq!(
        data["insurance_info"],
        json!({"provider": "Blue Cross", "policy_number": "BC123456789"})
    );
    assert_eq!(data["emergency_contact"]["name"], "John Smith");
    assert_eq!(data["address"]["zip"], "02101");
    assert_eq!(data["date_of_birth"], "1990-05-15");
}

#[tokio::test]
async fn bad_tokens_and_credentials_get_one_generic_answer_each() {
    let stack = Stack::start().await;
    let body = unique_example();
    let address = body["email"].as_str().unwrap().to_owned();
    let (_, email) = registered(&stack, &body).await;
    let token = email.token().unwrap();

    let verify = |t: String| post(&stack, "/api/v1/patient/verify-email", json!({"token": t}));
    assert_eq!(verify(token.clone()).await.0, 200);
    let (reused, reused_json) = verify(token).await;
    let (unknown, unknown_json) = verify("not-a-real-token".into()).await;
    assert_eq!(
        (reused, unknown),
        (StatusCode::BAD_REQUEST, StatusCode::BAD_REQUEST)
    );
    assert_eq!(reused_json, unknown_json);
    assert_eq!(
        reused_json["message"],
        "Invalid or expired verification token"
    );

    let (wrong, wrong_json) = login(&stack, &address, "WrongPassword123!").await;
    let (nobody, nobody_json) = login(&stack, "nobody@example.com", PASSWORD).await;
    assert_eq!(
        (wrong, nobody),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(wrong_json, nobody_json);
    assert_eq!(wrong_json["message"], "Invalid email or password");
}

#[tokio::test]
async fn an_expired_verification_token_is_refused() {
    let stack = Stack::start_with(StackOptions {
        env: vec![("VERIFICATION_TOKEN_TTL", "1s".into())],
    })
    .await;
    let body = unique_example();
    let (_, email) = registered(&stack, &body).await;
    eventually("the token to expire", Duration::from_secs(10), || async {
        let expired: bool = sqlx::query_scalar(
            "SELECT bool_and(expires_at < now()) FROM email_verification_tokens",
        )
        .fetch_one(&stack.db)
        .await
        .unwrap();
        expired.then_some(())
    })
    .await;
    let (code, json) = post(
        &stack,
        "/api/v1/patient/verify-email",
        json!({"token": email.token().unwrap()}),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(json["message"], "Invalid or expired verification token");
}

#[tokio::test]
async fn five_failures_lock_an_email_out_until_the_cool_down_passes() {
    let stack = Stack::start_with(StackOptions {
        env: vec![("LOGIN_LOCKOUT_WINDOW", "4s".into())],
    })
    .await;
    let body = unique_example();
    let address = body["email"].as_str().unwrap().to_owned();
    registered(&stack, &body).await;
    for _ in 0..5 {
        assert_eq!(login(&stack, &address, "WrongPassword123!").await.0, 401);
    }
    let response = stack
        .http
        .post(format!("{}/api/v1/patient/login", stack.base_url))
        .json(&json!({"email": address, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=4).contains(&retry_after), "{retry_after}");
    let started = std::time::Instant::now();
    eventually("the lockout to end", Duration::from_secs(15), || async {
        (login(&stack, &address, PASSWORD).await.0 == 200).then_some(())
    })
    .await;
    assert!(started.elapsed() >= Duration::from_secs(retry_after.saturating_sub(1)));
}

#[tokio::test]
async fn access_tokens_open_only_their_own_profile() {
    let stack = Stack::start_with(StackOptions {
        env: vec![("JWT_TTL", "2s".into())],
    })
    .await;
    let alice = unique_example();
    let bob = unique_example();
    let (alice_id, _) = registered(&stack, &alice).await;
    let (bob_id, _) = registered(&stack, &bob).await;
    let (_, json) = login(&stack, alice["email"].as_str().unwrap(), PASSWORD).await;
    let token = json["data"]["access_token"].as_str().unwrap().to_owned();

    assert_eq!(profile(&stack, &alice_id, Some(&token)).await.0, 200);
    assert_eq!(profile(&stack, &bob_id, Some(&token)).await.0, 403);
    assert_eq!(profile(&stack, &alice_id, None).await.0, 401);
    assert_eq!(profile(&stack, &alice_id, Some("not.a.jwt")).await.0, 401);
    let (head, rest) = token.split_once('.').unwrap();
    let (payload, _) = rest.split_once('.').unwrap();
    let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
    assert_eq!(
        profile(
            &stack,
            &alice_id,
            Some(&format!("{none_header}.{payload}."))
        )
        .await
        .0,
        401
    );
    let mut tampered = token.clone();
    let flip = head.len() + 5;
    let replacement = if &tampered[flip..=flip] == "A" {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(flip..=flip, replacement);
    assert_eq!(profile(&stack, &alice_id, Some(&tampered)).await.0, 401);
    let (code, json) = profile(&stack, &alice_id, None).await;
    assert_eq!(
        (code, json["success"].clone()),
        (StatusCode::UNAUTHORIZED, json!(false))
    );

    // The patient disappears: a valid token for them finds nothing.
    sqlx::query("UPDATE registration_requests SET status = 'failed', patient_id = NULL, failure_reason = 'test' WHERE patient_id = $1::uuid")
        .bind(&alice_id)
        .execute(&stack.db)
        .await
        .unwrap();
    for table in ["email_verification_tokens", "notification_deliveries"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE patient_id = $1::uuid"))
            .bind(&alice_id)
            .execute(&stack.db)
            .await
            .unwrap();
    }
    sqlx::query("DELETE FROM patients WHERE id = $1::uuid")
        .bind(&alice_id)
        .execute(&stack.db)
        .await
        .unwrap();
    assert_eq!(profile(&stack, &alice_id, Some(&token)).await.0, 404);

    eventually(
        "the access token to expire",
        Duration::from_secs(10),
        || async { (profile(&stack, &alice_id, Some(&token)).await.0 == 401).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn a_deactivated_patient_cannot_log_in() {
    let stack = Stack::start().await;
    let body = unique_example();
    let (patient_id, _) = registered(&stack, &body).await;
    sqlx::query("UPDATE patients SET is_active = false WHERE id = $1::uuid")
        .bind(&patient_id)
        .execute(&stack.db)
        .await
        .unwrap();
    assert_eq!(
        login(&stack, body["email"].as_str().unwrap(), PASSWORD)
            .await
            .0,
        403
    );
    assert_eq!(
        login(&stack, body["email"].as_str().unwrap(), "WrongPassword1!")
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn resend_answers_alike_for_everyone_and_only_the_newest_token_works() {
    let stack = Stack::start().await;
    let body = unique_example();
    let address = body["email"].as_str().unwrap().to_owned();
    let (_, first) = registered(&stack, &body).await;

    let unknown = format!("nobody.{}@example.com", uuid::Uuid::new_v4().simple());
    let (code_unknown, json_unknown) = post(
        &stack,
        "/api/v1/patient/resend-verification",
        json!({"email": unknown}),
    )
    .await;
    let (code_known, json_known) = post(
        &stack,
        "/api/v1/patient/resend-verification",
        json!({"email": address}),
    )
    .await;
    assert_eq!(
        (code_unknown, code_known),
        (StatusCode::ACCEPTED, StatusCode::ACCEPTED)
    );
    assert_eq!(json_unknown, json_known);

    let second = nth_email(&address, 2).await;
    assert_ne!(first.token(), second.token());
    let verify = |t: Option<String>| {
        post(
            &stack,
            "/api/v1/patient/verify-email",
            json!({"token": t.unwrap()}),
        )
    };
    assert_eq!(verify(first.token()).await.0, 400);
    assert_eq!(verify(second.token()).await.0, 200);
    // Verified now: a further resend sends nothing, and still answers alike.
    let (code, json) = post(
        &stack,
        "/api/v1/patient/resend-verification",
        json!({"email": address}),
    )
    .await;
    assert_eq!((code, json), (StatusCode::ACCEPTED, json_known));
    assert!(Inbox::from_env().to(&unknown).await.is_empty());
    let sent: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'verification_resend' AND outcome = 'sent'",
    )
    .fetch_one(&stack.db)
    .await
    .unwrap();
    assert_eq!(sent, 1);
}

/// A registration whose PHI values are unique, so a search can find them.
fn marked_example() -> (Value, Vec<String>) {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let mut body = unique_example();
    let secrets = vec![
        format!("Pw{}!x", &tag[..12]),
        format!("Condition{}", &tag[..10]),
        format!("POL{}", &tag[12..22].to_uppercase()),
        format!("Kin{}", &tag[4..14]),
    ];
    body["password"] = json!(secrets[0]);
    body["confirm_password"] = json!(secrets[0]);
    body["medical_history"] = json!([secrets[1]]);
    body["insurance_info"]["policy_number"] = json!(secrets[2]);
    body["emergency_contact"]["name"] = json!(secrets[3]);
    (body, secrets)
}

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
    let conn = stack.amqp().await;
    let channel = conn.create_channel().await.unwrap();
    let message = channel
        .basic_get(
            "registration.requests".into(),
            lapin::options::BasicGetOptions::default(),
        )
        .await
        .unwrap()
        .expect("the registration waits on the queue");
    let raw = String::from_utf8_lossy(&message.delivery.data).into_owned();
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
    assert!(String::from_utf8_lossy(&reseal().await.stdout).contains("re-sealed 0 patient"));
    let mut after = profile(&stack, &patient_id, Some(&token)).await.1;
    let mut before = before;
    for v in [&mut before, &mut after] {
        v["data"].as_object_mut().unwrap().remove("updated_at");
    }
    assert_eq!(after, before);
}

#[tokio::test]
async fn resend_is_rate_limited_per_email() {
    let stack = Stack::start_with(StackOptions {
        env: vec![("RESEND_LIMIT_PER_EMAIL", "1".into())],
    })
    .await;
    let email = json!({"email": "someone@example.com"});
    assert_eq!(
        post(&stack, "/api/v1/patient/resend-verification", email.clone())
            .await
            .0,
        202
    );
    let response = stack
        .http
        .post(format!(
            "{}/api/v1/patient/resend-verification",
            stack.base_url
        ))
        .json(&email)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["success"], false);
}
