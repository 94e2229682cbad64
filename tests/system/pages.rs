//! The pages a patient opens from an email, in headless Chromium: the link
//! from the real email in MailDev, a real click, the page that comes back,
//! under the pages' own Content-Security-Policy and on a phone-sized screen.

use e2e::{
    accounts::{login, nth_email, post, profile, registered, PASSWORD},
    browser::{drive, Step},
    unique_example, Stack,
};
use serde_json::json;

const NEW_PASSWORD: &str = "PagePassword456!";

/// What every page must be: HTML, never cached, no referrer (the token is
/// in the URL), nothing loaded but its own inline stylesheet.
fn assert_hardened(page: &e2e::browser::Page) {
    assert!(
        page.header("content-type").starts_with("text/html"),
        "{page:?}"
    );
    assert_eq!(page.header("cache-control"), "no-store");
    assert_eq!(page.header("referrer-policy"), "no-referrer");
    let csp = page.header("content-security-policy");
    for directive in [
        "default-src 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp:?}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
}

/// Layout checks on a phone: no horizontal scrolling, text legible without
/// zoom, no script at all.
const PHONE_CHECKS: &str = "document.documentElement.scrollWidth <= window.innerWidth \
    && parseFloat(getComputedStyle(document.body).fontSize) >= 16 \
    && document.scripts.length === 0 \
    && document.querySelector('meta[name=viewport]') !== null";

async fn email_verified(stack: &Stack, patient_id: &str) -> bool {
    sqlx::query_scalar("SELECT email_verified FROM patients WHERE id = $1::uuid")
        .bind(patient_id)
        .fetch_one(&stack.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_verification_link_verifies_only_when_its_button_is_clicked() {
    let stack = Stack::start().await;
    let body = unique_example();
    let address = body["email"].as_str().unwrap().to_owned();
    let (patient_id, email) = registered(&stack, &body).await;
    let link = email.link("/verify-email").expect("a verification link");
    assert!(
        link.starts_with(&format!("{}/verify-email?token=", stack.base_url)),
        "the link starts {:?}",
        link.split("token=").next()
    );

    // A mail scanner opens the link: nothing is used.
    let opened = drive(&[
        Step::phone(),
        Step::open(&link),
        Step::Text,
        Step::eval(PHONE_CHECKS),
    ])
    .await;
    let page = opened.page(1);
    assert_eq!(page.status, 200);
    assert_hardened(&page);
    assert!(
        opened.text(2).contains("Confirm your email address"),
        "{}",
        opened.text(2)
    );
    assert!(
        opened.bool(3),
        "the page does not fit a phone screen legibly"
    );
    opened.assert_no_csp_violations();
    assert!(
        !email_verified(&stack, &patient_id).await,
        "a GET verified the email"
    );

    let clicked = drive(&[
        Step::phone(),
        Step::open(&link),
        Step::click("button[type=submit]"),
        Step::Text,
        Step::eval(PHONE_CHECKS),
    ])
    .await;
    let done = clicked.page(2);
    assert_eq!(done.status, 200);
    assert_hardened(&done);
    assert!(
        clicked.text(3).contains("Your email address is verified"),
        "{}",
        clicked.text(3)
    );
    assert!(clicked.bool(4));
    clicked.assert_no_csp_violations();

    let (_, json) = login(&stack, &address, PASSWORD).await;
    let access = json["data"]["access_token"].as_str().unwrap();
    let (status, json) = profile(&stack, &patient_id, Some(access)).await;
    assert_eq!(status, 200);
    assert_eq!(json["data"]["email_verified"], true, "{json}");

    // The second click: the one plain failure page.
    let again = drive(&[
        Step::open(&link),
        Step::click("button[type=submit]"),
        Step::Text,
    ])
    .await;
    assert_eq!(again.page(1).status, 400);
    assert!(
        again.text(2).contains("invalid or has expired"),
        "{}",
        again.text(2)
    );
}

#[tokio::test]
async fn the_reset_link_sets_a_new_password_through_its_form() {
    let stack = Stack::start().await;
    let body = unique_example();
    let address = body["email"].as_str().unwrap().to_owned();
    registered(&stack, &body).await;
    let (status, _) = post(
        &stack,
        "/api/v1/patient/forgot-password",
        json!({"email": address}),
    )
    .await;
    assert_eq!(status, 202);
    let link = nth_email(&address, 2)
        .await
        .link("/reset-password")
        .expect("a reset link");

    let run = drive(&[
        Step::phone(),
        Step::open(&link),
        Step::eval(PHONE_CHECKS),
        // The rules' messages next to the fields, as the API words them.
        Step::fill("input[name=password]", "short"),
        Step::fill("input[name=confirm_password]", "different"),
        Step::click("button[type=submit]"),
        Step::Text,
        Step::eval("document.querySelector('#password').value === ''"),
        // Then a good one.
        Step::fill("input[name=password]", NEW_PASSWORD),
        Step::fill("input[name=confirm_password]", NEW_PASSWORD),
        Step::click("button[type=submit]"),
        Step::Text,
    ])
    .await;
    assert_eq!(run.page(1).status, 200);
    assert_hardened(&run.page(1));
    assert!(run.bool(2), "the form does not fit a phone screen legibly");
    assert_eq!(run.page(5).status, 422);
    let refused = run.text(6);
    for message in [
        "Password must contain at least 8 characters",
        "Password must contain an uppercase letter",
        "Password must contain a number",
        "Passwords do not match",
    ] {
        assert!(
            refused.contains(message),
            "{message} missing from {refused}"
        );
    }
    assert!(
        run.bool(7),
        "a refused password is not sent back into the form"
    );
    assert_eq!(run.page(10).status, 200);
    assert!(
        run.text(11).contains("Your password has been changed"),
        "{}",
        run.text(11)
    );
    run.assert_no_csp_violations();

    assert_eq!(login(&stack, &address, PASSWORD).await.0, 401);
    assert_eq!(login(&stack, &address, NEW_PASSWORD).await.0, 200);
    let again = drive(&[
        Step::open(&link),
        Step::fill("input[name=password]", "YetAnother789!"),
        Step::fill("input[name=confirm_password]", "YetAnother789!"),
        Step::click("button[type=submit]"),
        Step::Text,
    ])
    .await;
    assert_eq!(again.page(3).status, 400);
    assert!(
        again.text(4).contains("invalid or has expired"),
        "{}",
        again.text(4)
    );
    assert_eq!(login(&stack, &address, NEW_PASSWORD).await.0, 200);
}
