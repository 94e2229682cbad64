//! The patient's journey through the API after registration: a forgotten
//! password recovered by email, sessions that refresh, rotate and end, a
//! password changed. The pages the emails link to are driven in Chromium
//! in `pages`.
//!
//! - `recovery`: forgot password, the reset link, its outbox and throttles;
//! - `sessions`: refresh, reuse, logout, expiry, change password and its lockout;
//! - `deactivation`: the patient's own and the operator's, and reactivation;
//! - `email_change`: a new address, moved to once its link is confirmed;
//! - here: no secret of the whole journey in any log line.

mod deactivation;
mod email_change;
mod recovery;
mod sessions;

use std::time::{Duration, Instant};

use e2e::{
    accounts::{login, nth_email, post, profile, registered, PASSWORD},
    unique_example, Stack, StackOptions,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

pub(super) const NEW_PASSWORD: &str = "BrandNewPassword456!";
pub(super) const OTHER_PASSWORD: &str = "AnotherPassword789?";

pub(super) async fn authed(
    stack: &Stack,
    path: &str,
    token: &str,
    body: Value,
) -> (StatusCode, Value) {
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
pub(super) async fn patient(stack: &Stack) -> (String, String) {
    let body = unique_example();
    let (id, _) = registered(stack, &body).await;
    (id, body["email"].as_str().unwrap().to_owned())
}

/// Logs in: (access token, refresh token).
pub(super) async fn session(stack: &Stack, address: &str, password: &str) -> (String, String) {
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

pub(super) async fn refresh(stack: &Stack, token: &str) -> (StatusCode, Value) {
    post(
        stack,
        "/api/v1/patient/token/refresh",
        json!({"refresh_token": token}),
    )
    .await
}

pub(super) async fn forgot(stack: &Stack, address: &str) -> (StatusCode, Value, Duration) {
    let started = Instant::now();
    let (status, body) = post(
        stack,
        "/api/v1/patient/forgot-password",
        json!({"email": address}),
    )
    .await;
    (status, body, started.elapsed())
}

pub(super) async fn reset(
    stack: &Stack,
    token: &str,
    password: &str,
    confirm: &str,
) -> (StatusCode, Value) {
    post(
        stack,
        "/api/v1/patient/reset-password",
        json!({"token": token, "password": password, "confirm_password": confirm}),
    )
    .await
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
