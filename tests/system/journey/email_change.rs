//! Email change: `POST /api/v1/patient/change-email` with the password, a
//! link to the new address and a notice to the old one; the address moves
//! only when the link is confirmed, and only if it is still free then.

mod refusals;

use e2e::{
    accounts::{login, nth_email, post, profile, PASSWORD},
    unique_example, Inbox, Stack,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{authed, patient, session};

const CHANGE: &str = "/api/v1/patient/change-email";
const CONFIRM: &str = "/api/v1/patient/confirm-email-change";
const LINK_SUBJECT: &str = "Confirm your new email address";
const NOTICE_SUBJECT: &str = "A change of your email address was requested";

fn fresh_address() -> String {
    format!(
        "new.{}@example.com",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    )
}

async fn change(
    stack: &Stack,
    access: &str,
    new_email: &str,
    password: &str,
) -> (StatusCode, Value) {
    authed(
        stack,
        CHANGE,
        access,
        json!({"new_email": new_email, "password": password}),
    )
    .await
}

/// The token of the `n`th email change link sent to `address`.
async fn link_token(address: &str, n: usize) -> String {
    let email = nth_email(address, n).await;
    assert_eq!(email.subject, LINK_SUBJECT);
    email.token().expect("a token in the link")
}

/// Posts the page's form, as its button does: status and page text.
async fn post_form(stack: &Stack, token: &str) -> (StatusCode, String) {
    let response = stack
        .http
        .post(format!("{}/confirm-email-change", stack.base_url))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn owners(stack: &Stack, address: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT id::text FROM patients WHERE lower(email) = lower($1)")
        .bind(address)
        .fetch_all(&stack.db)
        .await
        .unwrap()
}

async fn audited(stack: &Stack, patient_id: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT action, outcome FROM audit_log WHERE patient_id = $1::uuid \
         AND action LIKE 'email_change%' ORDER BY id",
    )
    .bind(patient_id)
    .fetch_all(&stack.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_address_changes_only_when_the_link_sent_to_it_is_confirmed() {
    let stack = Stack::start().await;
    let (patient_id, old) = patient(&stack).await;
    let old_verification = nth_email(&old, 1).await.token().unwrap();
    let (access, _) = session(&stack, &old, PASSWORD).await;
    let new = fresh_address();

    // Sent as typed: normalised as registration normalises it.
    let (status, body) = change(
        &stack,
        &access,
        &format!("  {}  ", new.to_uppercase()),
        PASSWORD,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["success"], true);

    let notice = nth_email(&old, 2).await;
    assert_eq!(notice.subject, NOTICE_SUBJECT);
    let masked = format!("n***@{}", new.split('@').nth(1).unwrap());
    for part in [&notice.text, &notice.html] {
        assert!(
            part.contains(&masked),
            "the notice names the new address masked"
        );
        assert!(
            !part.contains(&new),
            "the notice shows the whole new address"
        );
    }
    assert!(notice.token().is_none(), "a notice carries no token");
    let email = nth_email(&new, 1).await;
    assert_eq!(email.subject, LINK_SUBJECT);
    let link = email
        .link("/confirm-email-change")
        .expect("a confirmation link");
    assert!(
        link.starts_with(&format!("{}/confirm-email-change?token=", stack.base_url)),
        "the link starts {:?}",
        link.split("token=").next()
    );
    let token = email.token().unwrap();
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT token_hash FROM email_changes WHERE patient_id = $1::uuid")
            .bind(&patient_id)
            .fetch_one(&stack.db)
            .await
            .unwrap();
    assert_eq!(
        stored,
        shared::token::hash_token(&token),
        "only the hash is stored"
    );

    // Until the link is confirmed the old address is the account's.
    assert_eq!(login(&stack, &old, PASSWORD).await.0, 200);
    assert_eq!(login(&stack, &new, PASSWORD).await.0, 401);
    // Opening the link (a mail scanner does) uses nothing.
    let opened = stack.http.get(&link).send().await.unwrap();
    assert_eq!(opened.status(), 200);
    let csp = opened.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert_eq!(opened.headers()["cache-control"], "no-store");
    let page = opened.text().await.unwrap();
    assert!(page.contains("Confirm my new email address"));
    assert!(page.contains(r#"action="confirm-email-change""#));
    assert_eq!(login(&stack, &old, PASSWORD).await.0, 200);

    let (status, page) = post_form(&stack, &token).await;
    assert_eq!(status, 200);
    assert!(page.contains("Your email address has been changed"));
    // Every session ended with the change: sign in again, with the new address.
    let (status, body) = profile(&stack, &patient_id, Some(&access)).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = login(&stack, &new, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let renewed = body["data"]["access_token"].as_str().unwrap().to_owned();
    assert_eq!(login(&stack, &old, PASSWORD).await.0, 401);
    let (status, body) = profile(&stack, &patient_id, Some(&renewed)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["email"], new.as_str());
    assert_eq!(body["data"]["email_verified"], true);

    // The link works once; the verification link sent to the old address
    // no longer verifies anything.
    let (status, page) = post_form(&stack, &token).await;
    assert_eq!(status, 400);
    assert!(page.contains("invalid or has expired"));
    let (status, body) = post(&stack, CONFIRM, json!({"token": token})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body,
        json!({"success": false, "message": "Invalid or expired email change link", "errors": {}})
    );
    let (status, _) = post(
        &stack,
        "/api/v1/patient/verify-email",
        json!({"token": old_verification}),
    )
    .await;
    assert_eq!(status, 400);

    let audited = audited(&stack, &patient_id).await;
    let audited: Vec<(&str, &str)> = audited
        .iter()
        .map(|(a, o)| (a.as_str(), o.as_str()))
        .collect();
    assert_eq!(
        audited,
        [
            ("email_change_request", "sent"),
            ("email_change_confirm", "success"),
            ("email_change_confirm", "invalid_token"),
            ("email_change_confirm", "invalid_token"),
        ]
    );
    // Neither the token nor the address went through the broker or a log.
    let logs = stack.all_logs();
    assert!(
        !logs.contains(&token),
        "a log line holds the email change token"
    );
    assert!(!logs.contains(&new), "a log line holds the new address");
}

#[tokio::test]
async fn a_registration_that_takes_the_new_address_first_keeps_it() {
    let stack = Stack::start().await;
    let (patient_id, old) = patient(&stack).await;
    let (access, _) = session(&stack, &old, PASSWORD).await;
    let new = fresh_address();
    assert_eq!(change(&stack, &access, &new, PASSWORD).await.0, 202);
    let token = link_token(&new, 1).await;

    // Someone registers the address before the link is confirmed.
    let mut other = unique_example();
    other["email"] = json!(new);
    let (other_id, _) = e2e::accounts::registered(&stack, &other).await;

    let (status, body) = post(&stack, CONFIRM, json!({"token": token})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["errors"],
        json!({"new_email": ["Email is already registered"]})
    );
    let (status, page) = post_form(&stack, &token).await;
    assert_eq!(status, 400);
    assert!(page.contains("This email address is already registered"));
    assert_eq!(owners(&stack, &new).await, [other_id]);
    assert_eq!(owners(&stack, &old).await, [patient_id]);
    assert_eq!(login(&stack, &old, PASSWORD).await.0, 200);
    // Asking again for that address is refused as registration refuses it.
    let (status, body) = change(&stack, &access, &new, PASSWORD).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["errors"],
        json!({"new_email": ["Email is already registered"]})
    );
}

#[tokio::test]
async fn a_confirmation_racing_a_registration_leaves_exactly_one_owner() {
    let stack = Stack::start().await;
    let (patient_id, old) = patient(&stack).await;
    let (access, _) = session(&stack, &old, PASSWORD).await;
    let new = fresh_address();
    assert_eq!(change(&stack, &access, &new, PASSWORD).await.0, 202);
    let token = link_token(&new, 1).await;

    let mut other = unique_example();
    other["email"] = json!(new);
    let registration = async {
        let id = stack.register_accepted(&other).await;
        stack.settled(&id).await
    };
    let confirmation = post(&stack, CONFIRM, json!({"token": token}));
    let (settled, (status, body)) = tokio::join!(registration, confirmation);

    let holders = owners(&stack, &new).await;
    assert_eq!(holders.len(), 1, "{holders:?}");
    match status.as_u16() {
        200 => {
            assert_eq!(holders, [patient_id]);
            assert_eq!(settled["status"], "rejected", "{settled}");
            assert_eq!(
                settled["errors"]["email"],
                json!(["Email is already registered"])
            );
        }
        422 => {
            assert_eq!(settled["status"], "completed", "{settled}");
            assert_eq!(holders, [settled["patient_id"].as_str().unwrap()]);
            assert_eq!(owners(&stack, &old).await, [patient_id]);
        }
        other => panic!("the confirmation answered {other}: {body}"),
    }
}

#[tokio::test]
async fn the_link_changes_the_address_when_its_button_is_clicked_in_chromium() {
    use e2e::browser::{drive, Step};

    let stack = Stack::start().await;
    let (_, old) = patient(&stack).await;
    let (access, _) = session(&stack, &old, PASSWORD).await;
    let new = fresh_address();
    assert_eq!(change(&stack, &access, &new, PASSWORD).await.0, 202);
    let link = nth_email(&new, 1)
        .await
        .link("/confirm-email-change")
        .expect("a confirmation link");

    let clicked = drive(&[
        Step::phone(),
        Step::open(&link),
        Step::Text,
        Step::click("button[type=submit]"),
        Step::Text,
    ])
    .await;
    assert_eq!(clicked.page(1).status, 200);
    assert!(clicked.text(2).contains("Confirm your new email address"));
    let done = clicked.page(3);
    assert_eq!(done.status, 200);
    assert_eq!(done.header("cache-control"), "no-store");
    assert!(done
        .header("content-security-policy")
        .contains("form-action 'self'"));
    assert!(
        clicked
            .text(4)
            .contains("Your email address has been changed"),
        "{}",
        clicked.text(4)
    );
    clicked.assert_no_csp_violations();
    assert_eq!(login(&stack, &new, PASSWORD).await.0, 200);
    assert_eq!(login(&stack, &old, PASSWORD).await.0, 401);
}
