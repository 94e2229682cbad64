//! Helpers for the account and PHI tests: register and wait for the
//! email, log in, read a profile.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{eventually, unique_example, Email, Inbox, Stack};

pub const PASSWORD: &str = "SecurePassword123!";

pub async fn post(stack: &Stack, path: &str, body: Value) -> (StatusCode, Value) {
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

/// Registers, waits for completion and for the verification email.
pub async fn registered(stack: &Stack, body: &Value) -> (String, Email) {
    let id = stack.register_accepted(body).await;
    let data = stack.settled(&id).await;
    assert_eq!(data["status"], "completed", "{data}");
    let email = nth_email(body["email"].as_str().unwrap(), 1).await;
    (data["patient_id"].as_str().unwrap().to_owned(), email)
}

pub async fn nth_email(address: &str, n: usize) -> Email {
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

pub async fn login(stack: &Stack, email: &str, password: &str) -> (StatusCode, Value) {
    post(
        stack,
        "/api/v1/patient/login",
        json!({"email": email, "password": password}),
    )
    .await
}

pub async fn profile(stack: &Stack, patient_id: &str, token: Option<&str>) -> (StatusCode, Value) {
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

/// A registration whose PHI values are unique, so a search can find them.
pub fn marked_example() -> (Value, Vec<String>) {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let mut body = unique_example();
    let secrets = vec![
        format!("Pw{}!x", &tag[..12]),
        format!("Condition{}", &tag[..10]),
        format!("POL{}", &tag[12..22].to_uppercase()),
        // A name: letters only (hex digits become letters g to p).
        format!(
            "Kin{}",
            tag[4..14]
                .chars()
                .map(|c| c.to_digit(10).map_or(c, |d| char::from(b'g' + d as u8)))
                .collect::<String>()
        ),
    ];
    body["password"] = json!(secrets[0]);
    body["confirm_password"] = json!(secrets[0]);
    body["medical_history"] = json!([secrets[1]]);
    body["insurance_info"]["policy_number"] = json!(secrets[2]);
    body["emergency_contact"]["name"] = json!(secrets[3]);
    (body, secrets)
}

/// An HTTP client whose connections come from `addr` (every 127.0.0.0/8
/// address is a client of its own).
pub fn client_from(addr: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(addr))
        .build()
        .unwrap()
}

/// A login through `client`: its status, `Retry-After` and round-trip time.
pub async fn login_as(
    client: &reqwest::Client,
    stack: &Stack,
    email: &str,
    password: &str,
) -> (StatusCode, Option<String>, Duration) {
    let started = std::time::Instant::now();
    let response = client
        .post(format!("{}/api/v1/patient/login", stack.base_url))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status(), retry_after, started.elapsed())
}
