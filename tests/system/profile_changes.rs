//! A patient changes their own profile: `PATCH /api/v1/patient/profile/{id}`
//! with a JSON merge patch, `ETag` and `If-Match`, against the real stack.

#![allow(clippy::unwrap_used)]

use e2e::{
    accounts::{login, nth_email, profile, registered, PASSWORD},
    unique_example, Stack,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A PATCH of `patient_id`'s profile: status, `ETag`, body.
async fn patch(
    stack: &Stack,
    patient_id: &str,
    token: &str,
    if_match: Option<&str>,
    body: &Value,
) -> (StatusCode, Option<String>, Value) {
    let mut request = stack
        .http
        .patch(format!(
            "{}/api/v1/patient/profile/{patient_id}",
            stack.base_url
        ))
        .bearer_auth(token)
        .header("content-type", "application/merge-patch+json")
        .body(body.to_string());
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    let response = request.send().await.unwrap();
    let etag = response
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        response.status(),
        etag,
        response.json().await.unwrap_or(Value::Null),
    )
}

/// The profile's `ETag` as GET answers it.
async fn etag_of(stack: &Stack, patient_id: &str, token: &str) -> String {
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
    response.headers()["etag"].to_str().unwrap().to_owned()
}

/// A registered patient and an access token.
async fn patient(stack: &Stack) -> (String, String, Value) {
    let mut body = unique_example();
    body["medical_history"] = json!(["Asthma"]);
    let (patient_id, _) = registered(stack, &body).await;
    let (code, json) = login(stack, body["email"].as_str().unwrap(), PASSWORD).await;
    assert_eq!(code, 200, "{json}");
    let token = json["data"]["access_token"].as_str().unwrap().to_owned();
    (patient_id, token, body)
}

#[tokio::test]
async fn a_merge_patch_changes_every_kind_of_field_and_keeps_phi_sealed() {
    let stack = Stack::start().await;
    let (id, token, body) = patient(&stack).await;
    let before = etag_of(&stack, &id, &token).await;

    let (code, etag, json) = patch(
        &stack,
        &id,
        &token,
        Some(&before),
        &json!({
            "first_name": "Janet", "date_of_birth": "1985-01-02", "gender": "other",
            "address": {"city": "Cambridge", "zip": "02139"},
            "emergency_contact": null,
            "medical_history": ["Asthma", "Hay fever"],
            "insurance_info": {"provider": "Aetna", "policy_number": "AE998877"}
        }),
    )
    .await;
    assert_eq!(code, 200, "{json}");
    assert_eq!(json["success"], true);
    assert_eq!(json["message"], "Profile updated");
    let data = &json["data"];
    assert_eq!(data["first_name"], "Janet");
    assert_eq!(data["last_name"], body["last_name"]);
    assert_eq!(data["date_of_birth"], "1985-01-02");
    assert_eq!(data["gender"], "other");
    assert_eq!(data["address"]["city"], "Cambridge");
    assert_eq!(data["address"]["zip"], "02139");
    assert_eq!(data["address"]["street"], body["address"]["street"]);
    assert_eq!(data["emergency_contact"], Value::Null);
    assert_eq!(data["medical_history"], json!(["Asthma", "Hay fever"]));
    assert_eq!(
        data["insurance_info"],
        json!({"provider": "Aetna", "policy_number": "AE998877"})
    );
    assert_eq!(data["email"], body["email"]);
    let etag = etag.unwrap();
    assert_ne!(etag, before, "a change makes a new version");
    assert_eq!(etag_of(&stack, &id, &token).await, etag);
    let (_, read) = profile(&stack, &id, Some(&token)).await;
    assert_eq!(read["data"], *data, "GET shows what PATCH answered");

    // Sealed at rest: neither the new history nor the policy number is in
    // the row as text.
    let raw: String = sqlx::query_scalar(
        "SELECT concat_ws(' ', medical_history::text, insurance_info::text, emergency_contact::text) \
         FROM patients WHERE id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&stack.db)
    .await
    .unwrap();
    assert!(!raw.contains("Hay fever") && !raw.contains("AE998877"));
    // The audit row names the fields, never their values.
    let (fields, outcome): (Vec<String>, String) = sqlx::query_as(
        "SELECT fields, outcome FROM audit_log \
         WHERE action = 'profile_update' AND patient_id = $1::uuid AND fields IS NOT NULL",
    )
    .bind(&id)
    .fetch_one(&stack.db)
    .await
    .unwrap();
    assert_eq!(outcome, "success");
    assert_eq!(
        fields,
        [
            "first_name",
            "date_of_birth",
            "gender",
            "address",
            "emergency_contact",
            "medical_history",
            "insurance_info"
        ]
    );

    // The patient is told, with the fields' names and none of their values.
    let notice = nth_email(body["email"].as_str().unwrap(), 2).await;
    assert_eq!(notice.subject, "Your profile was changed");
    assert!(
        notice.text.contains(
            "first name, date of birth, gender, address, emergency contact, medical history, insurance info"
        ),
        "{}",
        notice.text
    );
    // (It greets the patient by their name, as every notice does.)
    for value in [
        "Cambridge",
        "02139",
        "AE998877",
        "Aetna",
        "Hay fever",
        "1985",
    ] {
        assert!(
            !notice.text.contains(value) && !notice.html.contains(value),
            "a changed value in the notice"
        );
    }

    // The old tag is stale now: 412, nothing written.
    let (code, _, json) = patch(
        &stack,
        &id,
        &token,
        Some(&before),
        &json!({"last_name": "X"}),
    )
    .await;
    assert_eq!(code, 412, "{json}");
    assert_eq!(json["success"], false);
    assert_eq!(json["errors"], json!({}));
    assert_eq!(
        profile(&stack, &id, Some(&token)).await.1["data"]["last_name"],
        body["last_name"]
    );
    // Without If-Match it applies.
    let (code, _, json) = patch(&stack, &id, &token, None, &json!({"last_name": "Jones"})).await;
    assert_eq!(code, 200, "{json}");
    assert_eq!(json["data"]["last_name"], "Jones");
}

#[tokio::test]
async fn every_error_at_once_with_the_registrations_messages() {
    let stack = Stack::start().await;
    let (id, token, _) = patient(&stack).await;
    let (code, _, json) = patch(
        &stack,
        &id,
        &token,
        None,
        &json!({"email": "new@example.com", "password": "Whatever123!", "email_verified": true,
                "ssn": "123-45-6789", "first_name": "", "gender": "robot",
                "address": {"zip": "ABCDE"}, "phone_number": null}),
    )
    .await;
    assert_eq!(code, 422, "{json}");
    assert_eq!(json["success"], false);
    assert_eq!(json["message"], "Validation failed");
    let errors = json["errors"].as_object().unwrap();
    let fields: Vec<&str> = errors.keys().map(String::as_str).collect();
    assert_eq!(
        fields,
        [
            "address.zip",
            "email",
            "email_verified",
            "first_name",
            "gender",
            "password",
            "phone_number",
            "ssn"
        ]
    );
    assert_eq!(
        errors["email"],
        json!(["This field cannot be changed here"])
    );
    assert_eq!(errors["ssn"], json!(["Unknown field"]));
    assert_eq!(errors["first_name"], json!(["First name is required"]));
    assert_eq!(errors["phone_number"], json!(["Phone number is required"]));

    // Not JSON at all, and not an object.
    let response = stack
        .http
        .patch(format!("{}/api/v1/patient/profile/{id}", stack.base_url))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("first_name=X")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let (code, _, json) = patch(&stack, &id, &token, None, &json!(["first_name"])).await;
    assert_eq!(code, 422, "{json}");
    assert_eq!(
        json["errors"]["body"],
        json!(["Request body must be a JSON object"])
    );
}

#[tokio::test]
async fn another_patients_token_or_none_changes_nothing() {
    let stack = Stack::start().await;
    let (id, token, body) = patient(&stack).await;
    let (other_id, other_token, _) = patient(&stack).await;
    let (code, _, json) = patch(
        &stack,
        &id,
        &other_token,
        None,
        &json!({"first_name": "Eve"}),
    )
    .await;
    assert_eq!(code, 403, "{json}");
    let response = stack
        .http
        .patch(format!("{}/api/v1/patient/profile/{id}", stack.base_url))
        .header("content-type", "application/json")
        .body(r#"{"first_name": "Eve"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        profile(&stack, &id, Some(&token)).await.1["data"]["first_name"],
        body["first_name"]
    );
    assert_ne!(id, other_id);
}

#[tokio::test]
async fn a_new_phone_number_must_be_free_and_resets_its_verification() {
    let stack = Stack::start().await;
    let (a, token_a, _) = patient(&stack).await;
    let (b, token_b, body_b) = patient(&stack).await;
    sqlx::query("UPDATE patients SET phone_verified = true WHERE id = $1::uuid")
        .bind(&a)
        .execute(&stack.db)
        .await
        .unwrap();

    // B's number is taken.
    let (code, _, json) = patch(
        &stack,
        &a,
        &token_a,
        None,
        &json!({"phone_number": body_b["phone_number"]}),
    )
    .await;
    assert_eq!(code, 422, "{json}");
    assert_eq!(
        json["errors"],
        json!({"phone_number": ["Phone number is already registered"]})
    );

    // A free number: taken, and no longer verified.
    let fresh = format!("+1555{:07}", rand_digits());
    let (code, _, json) = patch(
        &stack,
        &a,
        &token_a,
        None,
        &json!({ "phone_number": fresh }),
    )
    .await;
    assert_eq!(code, 200, "{json}");
    assert_eq!(json["data"]["phone_number"], fresh.as_str());
    assert_eq!(
        json["data"]["phone_verified"], false,
        "a new number is unverified"
    );

    // Two patients race for one free number: exactly one gets it.
    let free = format!("+1556{:07}", rand_digits());
    let body = json!({ "phone_number": free });
    let (ra, rb) = tokio::join!(
        patch(&stack, &a, &token_a, None, &body),
        patch(&stack, &b, &token_b, None, &body)
    );
    let mut codes = [ra.0.as_u16(), rb.0.as_u16()];
    codes.sort_unstable();
    assert_eq!(codes, [200, 422], "{} / {}", ra.2, rb.2);
    let loser = if ra.0 == 422 { &ra.2 } else { &rb.2 };
    assert_eq!(
        loser["errors"],
        json!({"phone_number": ["Phone number is already registered"]})
    );
    let owners: i64 = sqlx::query_scalar("SELECT count(*) FROM patients WHERE phone_number = $1")
        .bind(&free)
        .fetch_one(&stack.db)
        .await
        .unwrap();
    assert_eq!(owners, 1);
}

/// Seven digits that differ between runs (phone numbers are unique).
fn rand_digits() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32 % 10_000_000
}
