//! The patient's journey through the API after registration: a forgotten
//! password recovered by email, sessions that refresh, rotate and end, a
//! password changed. The pages the emails link to are driven in Chromium
//! in `pages`.

use std::time::{Duration, Instant};

use e2e::{
    accounts::{login, nth_email, post, profile, registered, PASSWORD},
    unique_example, Inbox, Stack, StackOptions,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

const NEW_PASSWORD: &str = "BrandNewPassword456!";
const OTHER_PASSWORD: &str = "AnotherPassword789?";

async fn authed(stack: &Stack, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let response = stack
        .http
        .post(format!("{}{path}", stack.base_url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

/// A registered patient: (patient id, email address).
async fn patient(stack: &Stack) -> (String, String) {
    let body = unique_example();
    let (id, _) = registered(stack, &body).await;
    (id, body["email"].as_str().unwrap().to_owned())
}

/// Logs in: (access token, refresh token).
async fn session(stack: &Stack, address: &str, password: &str) -> (String, String) {
    let (status, json) = login(stack, address, password).await;
    assert_eq!(status, 200, "{json}");
    let data = &json["data"];
    assert_eq!(data["token_type"], "Bearer");
    assert!(
        data["refresh_expires_in"].as_u64().unwrap() > 29 * 24 * 3600,
        "{data}"
    );
    (
        data["access_token"].as_str().unwrap().to_owned(),
        data["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn refresh(stack: &Stack, token: &str) -> (StatusCode, Value) {
    post(
        stack,
        "/api/v1/patient/token/refresh",
        json!({"refresh_token": token}),
    )
    .await
}

async fn forgot(stack: &Stack, address: &str) -> (StatusCode, Value, Duration) {
    let started = Instant::now();
    let (status, body) = post(
        stack,
        "/api/v1/patient/forgot-password",
        json!({"email": address}),
    )
    .await;
    (status, body, started.elapsed())
}

async fn reset(stack: &Stack, token: &str, password: &str, confirm: &str) -> (StatusCode, Value) {
    post(
        stack,
        "/api/v1/patient/reset-password",
        json!({"token": token, "password": password, "confirm_password": confirm}),
    )
    .await
}

#[tokio::test]
async fn forgot_password_answers_alike_and_emails_only_a_known_account() {
    let stack = Stack::start().await;
    let (_, address) = patient(&stack).await;
    let unknown = format!("nobody-{}@example.com", uuid::Uuid::new_v4().simple());

    let (unknown_status, unknown_body, unknown_time) = forgot(&stack, &unknown).await;
    let (known_status, known_body, known_time) = forgot(&stack, &address).await;
    assert_eq!(known_status, 202, "{known_body}");
    assert_eq!((unknown_status, &unknown_body), (known_status, &known_body));
    for took in [unknown_time, known_time] {
        assert!(took >= Duration::from_millis(250), "answered in {took:?}");
    }
    let gap = unknown_time.abs_diff(known_time);
    assert!(
        gap < Duration::from_millis(150),
        "{unknown_time:?} vs {known_time:?}"
    );

    let email = nth_email(&address, 2).await;
    assert_eq!(email.subject, "Reset your password");
    let link = email.link("/reset-password").expect("a reset link");
    assert!(
        link.starts_with(&format!("{}/reset-password?token=", stack.base_url)),
        "{link}"
    );
    assert!(
        email.html.contains(&link.replace('&', "&amp;")),
        "the HTML part has the link too"
    );
    // The known account's email is out, the unknown one got none.
    assert!(Inbox::from_env().to(&unknown).await.is_empty());
    let (status, body) = post(
        &stack,
        "/api/v1/patient/forgot-password",
        json!({"email": "not-an-email"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["errors"]["email"].is_array(), "{body}");

    // PASSWORD_RESET_LIMIT_PER_EMAIL: 3 an hour, for every address alike.
    for _ in 0..2 {
        assert_eq!(forgot(&stack, &address).await.0, 202);
    }
    let (status, body, _) = forgot(&stack, &address).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        body["message"],
        "Too many password reset emails requested. Please try again later."
    );
}

#[tokio::test]
async fn an_event_left_in_the_outbox_is_published_by_the_relay() {
    // What a publish that failed after its commit (RabbitMQ down, the
    // process killed) leaves behind: the relay sends it on.
    let stack = Stack::start().await;
    let (patient_id, address) = patient(&stack).await;
    let event_id = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO outbox (event_id, event, created_at) VALUES ($1, $2, now() - interval '1 minute')",
    )
    .bind(event_id)
    .bind(json!({"type": "password_reset.requested.v1", "event_id": event_id,
                 "patient_id": patient_id, "requested_at": "2026-11-30T00:00:00Z"}))
    .execute(&stack.db)
    .await
    .unwrap();
    let email = nth_email(&address, 2).await;
    assert_eq!(email.subject, "Reset your password");
    e2e::eventually("the outbox row to go", Duration::from_secs(30), || async {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
            .fetch_one(&stack.db)
            .await
            .unwrap();
        (left == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_reset_link_works_once_and_ends_every_session() {
    let stack = Stack::start().await;
    let (patient_id, address) = patient(&stack).await;
    let (access, first_refresh) = session(&stack, &address, PASSWORD).await;
    let (_, second_refresh) = session(&stack, &address, PASSWORD).await;
    // Locked out of the account from this address by wrong passwords.
    for _ in 0..5 {
        assert_eq!(login(&stack, &address, "WrongPassword123!").await.0, 401);
    }
    assert_eq!(login(&stack, &address, PASSWORD).await.0, 429);

    assert_eq!(forgot(&stack, &address).await.0, 202);
    let older = nth_email(&address, 2).await.token().unwrap();
    assert_eq!(forgot(&stack, &address).await.0, 202);
    let newer = nth_email(&address, 3).await.token().unwrap();
    assert_ne!(older, newer);

    let invalid = json!({"success": false, "message": "Invalid or expired password reset token", "errors": {}});
    let (status, body) = reset(&stack, &older, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(
        (status, &body),
        (StatusCode::BAD_REQUEST, &invalid),
        "an older link"
    );
    let (status, body) = reset(&stack, &newer, "weak", "other").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["errors"],
        json!({
            "password": [
                "Password must contain at least 8 characters",
                "Password must contain an uppercase letter",
                "Password must contain a number",
                "Password must contain a special character",
            ],
            "confirm_password": ["Passwords do not match"],
        })
    );
    let (status, body) = reset(&stack, &newer, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = reset(&stack, &newer, OTHER_PASSWORD, OTHER_PASSWORD).await;
    assert_eq!(
        (status, &body),
        (StatusCode::BAD_REQUEST, &invalid),
        "a used link"
    );

    assert_eq!(
        login(&stack, &address, PASSWORD).await.0,
        401,
        "the old password"
    );
    // The lockout is cleared: the new password works from the same address.
    session(&stack, &address, NEW_PASSWORD).await;
    for earlier in [&first_refresh, &second_refresh] {
        assert_eq!(refresh(&stack, earlier).await.0, 401);
    }
    assert_eq!(profile(&stack, &patient_id, Some(&access)).await.0, 401);

    let notice = nth_email(&address, 4).await;
    assert_eq!(notice.subject, "Your password was changed");
    assert!(notice.token().is_none(), "a notice carries no token");

    let audited: Vec<(String, String)> = sqlx::query_as(
        "SELECT action, outcome FROM audit_log WHERE patient_id = $1::uuid \
         AND action IN ('password_reset_request', 'password_reset') ORDER BY id",
    )
    .bind(&patient_id)
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
            ("password_reset_request", "sent"),
            ("password_reset_request", "sent"),
            ("password_reset", "success"),
        ]
    );
}

#[tokio::test]
async fn an_expired_reset_link_and_an_expired_refresh_token_are_refused() {
    let stack = Stack::start().await;
    let (_, address) = patient(&stack).await;
    let (_, refresh_token) = session(&stack, &address, PASSWORD).await;
    assert_eq!(forgot(&stack, &address).await.0, 202);
    let token = nth_email(&address, 2).await.token().unwrap();
    for table in ["password_reset_tokens", "refresh_tokens"] {
        sqlx::query(&format!(
            "UPDATE {table} SET expires_at = now() - interval '1 second'"
        ))
        .execute(&stack.db)
        .await
        .unwrap();
    }
    assert_eq!(
        reset(&stack, &token, NEW_PASSWORD, NEW_PASSWORD).await.0,
        400
    );
    assert_eq!(refresh(&stack, &refresh_token).await.0, 401);
    assert_eq!(
        login(&stack, &address, PASSWORD).await.0,
        200,
        "the password is unchanged"
    );
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_refresh_token_ends_its_session() {
    let stack = Stack::start().await;
    let (patient_id, address) = patient(&stack).await;
    let (first_access, first_refresh) = session(&stack, &address, PASSWORD).await;
    let (other_access, _) = session(&stack, &address, PASSWORD).await;

    let (status, body) = refresh(&stack, &first_refresh).await;
    assert_eq!(status, 200, "{body}");
    let next_access = body["data"]["access_token"].as_str().unwrap().to_owned();
    let next_refresh = body["data"]["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(next_refresh, first_refresh);
    assert_eq!(body["data"]["patient_id"], json!(patient_id));
    assert_eq!(
        profile(&stack, &patient_id, Some(&next_access)).await.0,
        200
    );

    // Two exchanges of one token at once: one wins, the other is reuse.
    let (_, racing) = session(&stack, &address, PASSWORD).await;
    let (first, second) = tokio::join!(refresh(&stack, &racing), refresh(&stack, &racing));
    let mut statuses = [first.0.as_u16(), second.0.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401]);
    let winner = if first.0 == 200 { first.1 } else { second.1 };
    let winner_refresh = winner["data"]["refresh_token"].as_str().unwrap();
    assert_eq!(
        refresh(&stack, winner_refresh).await.0,
        401,
        "the session ended"
    );

    // The rotated token again: someone else holds it. The session ends.
    assert_eq!(refresh(&stack, &first_refresh).await.0, 401);
    for access in [&first_access, &next_access] {
        assert_eq!(profile(&stack, &patient_id, Some(access)).await.0, 401);
    }
    assert_eq!(refresh(&stack, &next_refresh).await.0, 401);
    // Another session of the patient goes on.
    assert_eq!(
        profile(&stack, &patient_id, Some(&other_access)).await.0,
        200
    );

    for (body, status) in [
        (json!({"refresh_token": "unknown"}), 401),
        (json!({"refresh_token": ""}), 422),
        (json!({}), 422),
    ] {
        assert_eq!(
            post(&stack, "/api/v1/patient/token/refresh", body.clone())
                .await
                .0,
            status,
            "{body}"
        );
    }
    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT outcome FROM audit_log WHERE action = 'token_refresh' AND patient_id = $1::uuid ORDER BY id",
    )
    .bind(&patient_id)
    .fetch_all(&stack.db)
    .await
    .unwrap();
    assert_eq!(
        audited,
        [
            "success",
            "success",
            "reuse_detected",
            "invalid_token",
            "reuse_detected",
            "invalid_token",
        ]
    );
}

#[tokio::test]
async fn logout_ends_the_session_at_once() {
    let stack = Stack::start().await;
    let (patient_id, address) = patient(&stack).await;
    let (access, refresh_token) = session(&stack, &address, PASSWORD).await;
    let (other_access, _) = session(&stack, &address, PASSWORD).await;

    let (status, body) = authed(&stack, "/api/v1/patient/logout", &access, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(profile(&stack, &patient_id, Some(&access)).await.0, 401);
    assert_eq!(refresh(&stack, &refresh_token).await.0, 401);
    assert_eq!(
        authed(&stack, "/api/v1/patient/logout", &access, json!({}))
            .await
            .0,
        401
    );
    assert_eq!(
        profile(&stack, &patient_id, Some(&other_access)).await.0,
        200
    );
}

#[tokio::test]
async fn change_password_keeps_this_session_and_ends_the_others() {
    let stack = Stack::start().await;
    let (patient_id, address) = patient(&stack).await;
    let (access, refresh_token) = session(&stack, &address, PASSWORD).await;
    let (other_access, other_refresh) = session(&stack, &address, PASSWORD).await;
    let change = |current: &str, new: &str, confirm: &str| json!({"current_password": current, "new_password": new, "confirm_password": confirm});
    let path = "/api/v1/patient/change-password";

    let (status, body) = authed(
        &stack,
        path,
        &access,
        change("WrongPassword1!", NEW_PASSWORD, NEW_PASSWORD),
    )
    .await;
    assert_eq!(
        (status.as_u16(), body["message"].as_str()),
        (401, Some("Current password is incorrect"))
    );
    let (status, body) = authed(
        &stack,
        path,
        &access,
        change(PASSWORD, "alllowercase1!", "alllowercase1!"),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["errors"],
        json!({"new_password": ["Password must contain an uppercase letter"]})
    );
    let (status, body) = authed(
        &stack,
        path,
        "not.a.token",
        change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD),
    )
    .await;
    assert_eq!(status, 401, "{body}");

    let (status, body) = authed(
        &stack,
        path,
        &access,
        change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let new_access = body["data"]["access_token"].as_str().unwrap().to_owned();

    // This session goes on with the new access token and its refresh token;
    // its earlier access token, and the other session, end at once.
    assert_eq!(profile(&stack, &patient_id, Some(&new_access)).await.0, 200);
    assert_eq!(profile(&stack, &patient_id, Some(&access)).await.0, 401);
    assert_eq!(
        profile(&stack, &patient_id, Some(&other_access)).await.0,
        401
    );
    assert_eq!(refresh(&stack, &other_refresh).await.0, 401);
    assert_eq!(refresh(&stack, &refresh_token).await.0, 200);

    assert_eq!(login(&stack, &address, PASSWORD).await.0, 401);
    session(&stack, &address, NEW_PASSWORD).await;
    let notice = nth_email(&address, 2).await;
    assert_eq!(notice.subject, "Your password was changed");
}

#[tokio::test]
async fn wrong_current_passwords_count_towards_the_lockout() {
    let stack = Stack::start().await;
    let (_, address) = patient(&stack).await;
    let (access, _) = session(&stack, &address, PASSWORD).await;
    let change = json!({"current_password": "WrongPassword1!", "new_password": NEW_PASSWORD,
                        "confirm_password": NEW_PASSWORD});
    for _ in 0..5 {
        let (status, body) = authed(
            &stack,
            "/api/v1/patient/change-password",
            &access,
            change.clone(),
        )
        .await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, body) = authed(&stack, "/api/v1/patient/change-password", &access, change).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        login(&stack, &address, PASSWORD).await.0,
        429,
        "the login lockout is the same"
    );
}

#[tokio::test]
async fn reset_and_change_password_are_throttled_per_address_before_hashing() {
    let stack = Stack::start_with(StackOptions {
        env: vec![("LOGIN_RATE_LIMIT_PER_CLIENT", "3".into())],
    })
    .await;
    let (_, address) = patient(&stack).await;
    let (access, _) = session(&stack, &address, PASSWORD).await;
    assert_eq!(
        reset(&stack, "made-up", NEW_PASSWORD, NEW_PASSWORD).await.0,
        400
    );
    let change = json!({"current_password": "WrongPassword1!", "new_password": NEW_PASSWORD,
                        "confirm_password": NEW_PASSWORD});
    assert_eq!(
        authed(
            &stack,
            "/api/v1/patient/change-password",
            &access,
            change.clone()
        )
        .await
        .0,
        401
    );
    // The login, the reset and the change share the address's budget.
    let (status, body) = reset(&stack, "made-up", NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, 429, "{body}");
    let (status, body) = authed(&stack, "/api/v1/patient/change-password", &access, change).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        body["message"],
        "Too many password attempts from this address. Please try again later."
    );
}

#[tokio::test]
async fn no_token_password_or_link_of_the_journey_reaches_a_log_at_trace() {
    let stack = Stack::start_with(StackOptions {
        env: vec![("RUST_LOG", "trace".into())],
    })
    .await;
    let (patient_id, address) = patient(&stack).await;
    let mut secrets = vec![
        PASSWORD.to_owned(),
        NEW_PASSWORD.to_owned(),
        OTHER_PASSWORD.to_owned(),
    ];
    secrets.push(nth_email(&address, 1).await.token().unwrap());

    assert_eq!(forgot(&stack, &address).await.0, 202);
    let email = nth_email(&address, 2).await;
    let token = email.token().unwrap();
    secrets.push(email.link("/reset-password").unwrap());
    assert_eq!(
        reset(&stack, &token, NEW_PASSWORD, NEW_PASSWORD).await.0,
        200
    );
    secrets.push(token);

    let (access, refresh_token) = session(&stack, &address, NEW_PASSWORD).await;
    let (status, body) = refresh(&stack, &refresh_token).await;
    assert_eq!(status, 200);
    let next_refresh = body["data"]["refresh_token"].as_str().unwrap().to_owned();
    let next_access = body["data"]["access_token"].as_str().unwrap().to_owned();
    let (status, body) = authed(
        &stack,
        "/api/v1/patient/change-password",
        &next_access,
        json!({"current_password": NEW_PASSWORD, "new_password": OTHER_PASSWORD,
               "confirm_password": OTHER_PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let last_access = body["data"]["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        profile(&stack, &patient_id, Some(&last_access)).await.0,
        200
    );
    assert_eq!(
        authed(&stack, "/api/v1/patient/logout", &last_access, json!({}))
            .await
            .0,
        200
    );
    nth_email(&address, 4).await;
    secrets.extend([
        access,
        refresh_token,
        next_refresh,
        next_access,
        last_access,
    ]);

    let logs = stack.all_logs();
    assert!(
        logs.lines().count() > 100,
        "trace logging produced too little"
    );
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a log line holds a secret: {secret}"
        );
    }
}
