//! Patient accounts end to end: verify, login, profile, lockout, resend.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::{
    accounts::{login, nth_email, post, profile, registered, PASSWORD},
    eventually, unique_example, Inbox, Stack, StackOptions,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

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
