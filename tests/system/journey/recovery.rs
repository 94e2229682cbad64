//! A forgotten password: the same answer for everyone, the reset link
//! once, its notice through the outbox, and the throttles before hashing.

use std::time::Duration;

use e2e::{
    accounts::{login, nth_email, post, profile, PASSWORD},
    Inbox, Stack, StackOptions,
};
use reqwest::StatusCode;
use serde_json::json;

use super::{authed, forgot, patient, refresh, reset, session, NEW_PASSWORD, OTHER_PASSWORD};

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
        "the link starts {:?}",
        link.split("token=").next()
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
