//! Phone verification end to end: a code by SMS through the `email`
//! transport (MailDev) and through the `twilio` transport (a local HTTP
//! server that checks the request as Twilio's Messages API takes it), its
//! checks, limits and expiry.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use e2e::{
    accounts::{login, nth_email, post, profile, registered, PASSWORD},
    receiver::Receiver,
    unique_example, Stack, StackOptions,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A registered patient whose email is verified: id, access token,
/// registration body.
async fn patient(stack: &Stack) -> (String, String, Value) {
    let body = unique_example();
    let (id, email) = registered(stack, &body).await;
    let (code, json) = login(stack, body["email"].as_str().unwrap(), PASSWORD).await;
    assert_eq!(code, 200, "{json}");
    let token = json["data"]["access_token"].as_str().unwrap().to_owned();
    // No text before the email is verified.
    let (code, _, json) = ask(stack, &token).await;
    assert_eq!(code, 403, "{json}");
    let (code, json) = post(
        stack,
        "/api/v1/patient/verify-email",
        json!({"token": email.token().unwrap()}),
    )
    .await;
    assert_eq!(code, 200, "{json}");
    (id, token, body)
}

async fn call(
    stack: &Stack,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Option<String>, Value) {
    let mut request = stack.http.post(format!("{}{path}", stack.base_url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        response.status(),
        retry_after,
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn ask(stack: &Stack, token: &str) -> (StatusCode, Option<String>, Value) {
    call(
        stack,
        "/api/v1/patient/phone/verification",
        Some(token),
        None,
    )
    .await
}

async fn confirm(stack: &Stack, token: &str, code: &str) -> (StatusCode, Option<String>, Value) {
    call(
        stack,
        "/api/v1/patient/phone/verification/confirm",
        Some(token),
        Some(json!({ "code": code })),
    )
    .await
}

/// The six digits in a text message.
fn code_in(text: &str) -> String {
    let start = text.find("code is ").unwrap() + "code is ".len();
    let code = &text[start..start + 6];
    assert!(code.bytes().all(|b| b.is_ascii_digit()));
    code.to_owned()
}

/// The `n`th text to `number`, through the `email` transport.
async fn nth_text(number: &str, n: usize) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let email = nth_email(&format!("{digits}@sms.invalid"), n).await;
    assert_eq!(email.subject, "Text message");
    code_in(&email.text)
}

/// Another code than `code`.
fn wrong(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

#[tokio::test]
async fn a_code_by_text_verifies_the_phone_number() {
    let stack = Stack::start().await;
    let (id, token, body) = patient(&stack).await;
    let number = body["phone_number"].as_str().unwrap();

    let (code, _, json) = ask(&stack, &token).await;
    assert_eq!(code, 202, "{json}");
    assert_eq!(json["success"], true);
    let sent = nth_text(number, 1).await;

    // Only a keyed hash is stored, bound to its row.
    let (hash, checks): (Vec<u8>, i32) = sqlx::query_as(
        "SELECT code_hash, checks FROM phone_verification_codes WHERE patient_id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&stack.db)
    .await
    .unwrap();
    assert_eq!((hash.len(), checks), (32, 0));
    assert!(!String::from_utf8_lossy(&hash).contains(&sent));

    let (code, _, json) = confirm(&stack, &token, &wrong(&sent)).await;
    assert_eq!(code, 400, "{json}");
    assert_eq!(json["message"], "Invalid or expired verification code");
    assert_eq!(json["errors"], json!({}));

    let (code, _, json) = confirm(&stack, &token, &format!(" {sent} ")).await;
    assert_eq!(code, 200, "{json}");
    assert_eq!(
        json["data"],
        json!({"patient_id": id, "phone_verified": true})
    );
    let (_, read) = profile(&stack, &id, Some(&token)).await;
    assert_eq!(read["data"]["phone_verified"], true);

    // Used: it works once. Verified: no more codes.
    let (code, _, _) = confirm(&stack, &token, &sent).await;
    assert_eq!(code, 400);
    let (code, _, json) = ask(&stack, &token).await;
    assert_eq!(code, 409, "{json}");

    // The audit names what happened, never the code.
    let outcomes: Vec<String> = sqlx::query_scalar(
        "SELECT action || ':' || outcome FROM audit_log \
         WHERE patient_id = $1::uuid AND action LIKE 'phone_verification%' ORDER BY id",
    )
    .bind(&id)
    .fetch_all(&stack.db)
    .await
    .unwrap();
    assert_eq!(
        outcomes,
        [
            "phone_verification_request:email_unverified",
            "phone_verification_request:sent",
            "phone_verification_confirm:invalid_code",
            "phone_verification_confirm:success",
            "phone_verification_confirm:invalid_code",
            "phone_verification_request:already_verified",
        ]
    );
}

#[tokio::test]
async fn five_checks_per_code_three_codes_an_hour_and_expiry() {
    let stack = Stack::start().await;
    let (id, token, body) = patient(&stack).await;
    let number = body["phone_number"].as_str().unwrap();

    assert_eq!(ask(&stack, &token).await.0, 202);
    let first = nth_text(number, 1).await;
    for _ in 0..5 {
        assert_eq!(confirm(&stack, &token, &wrong(&first)).await.0, 400);
    }
    // The checks are spent: even the right code is refused now.
    let (code, retry_after, json) = confirm(&stack, &token, &first).await;
    assert_eq!(code, 429, "{json}");
    assert!(retry_after.is_some());

    // A new code replaces it; the old one no longer works.
    assert_eq!(ask(&stack, &token).await.0, 202);
    let second = nth_text(number, 2).await;
    if second != first {
        assert_eq!(confirm(&stack, &token, &first).await.0, 400);
    }
    // Expired: refused with the same answer.
    sqlx::query(
        "UPDATE phone_verification_codes SET expires_at = now() - interval '1 second' \
         WHERE patient_id = $1::uuid AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(&id)
    .execute(&stack.db)
    .await
    .unwrap();
    let (code, _, json) = confirm(&stack, &token, &second).await;
    assert_eq!(code, 400, "{json}");

    // The third code of the hour is sent; a fourth is refused until the
    // first leaves the window.
    assert_eq!(ask(&stack, &token).await.0, 202);
    let third = nth_text(number, 3).await;
    let (code, retry_after, json) = ask(&stack, &token).await;
    assert_eq!(code, 429, "{json}");
    let wait: u64 = retry_after.unwrap().parse().unwrap();
    assert!((3000..=3600).contains(&wait), "{wait}");
    // The third still works.
    assert_eq!(confirm(&stack, &token, &third).await.0, 200);

    // Bad input and no token.
    let (code, _, json) = confirm(&stack, &token, "12ab56").await;
    assert_eq!(code, 422, "{json}");
    assert_eq!(
        json["errors"],
        json!({"code": ["Code must be the 6 digits from the text message"]})
    );
    let (code, _, _) = call(&stack, "/api/v1/patient/phone/verification", None, None).await;
    assert_eq!(code, 401);
}

#[tokio::test]
async fn the_twilio_transport_sends_what_twilio_takes_and_retries() {
    let twilio = Receiver::start().await;
    twilio.answer(201);
    twilio.fail_next(2, 503);
    let base = twilio.url().trim_end_matches("/webhooks").to_owned();
    let stack = Stack::start_with(StackOptions {
        env: vec![
            ("SMS_TRANSPORT", "twilio".into()),
            ("TWILIO_API_BASE_URL", base),
            ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef".into()),
            ("TWILIO_AUTH_TOKEN", "test-auth-token".into()),
            ("SMS_FROM", "+15005550006".into()),
        ],
    })
    .await;
    let (_, token, body) = patient(&stack).await;
    assert_eq!(ask(&stack, &token).await.0, 202);

    // Two 503s, then the 201: retried, not dropped.
    let received = twilio.wait_for(3, Duration::from_secs(30)).await;
    assert_eq!(
        received.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [503, 503, 201]
    );
    let sent = &received[2];
    assert_eq!(sent.method, "POST");
    assert_eq!(
        sent.path,
        "/2010-04-01/Accounts/AC0123456789abcdef/Messages.json"
    );
    assert_eq!(
        sent.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        sent.header("authorization"),
        format!("Basic {}", B64.encode("AC0123456789abcdef:test-auth-token"))
    );
    let form: std::collections::HashMap<String, String> = url::form_urlencoded::parse(&sent.body)
        .into_owned()
        .collect();
    assert_eq!(form["To"], body["phone_number"].as_str().unwrap());
    assert_eq!(form["From"], "+15005550006");
    let code = code_in(&form["Body"]);
    // Each retry carries the same text.
    assert_eq!(received[0].body, sent.body);

    let (status, _, json) = confirm(&stack, &token, &code).await;
    assert_eq!(status, 200, "{json}");
}
