//! Who hears of what: a partner's subscribed endpoints, signed, without
//! PHI; nobody for a patient who registered on their own.

use chrono::Utc;
use e2e::{receiver::Receiver, unique_example, Stack};
use serde_json::json;
use uuid::Uuid;

use super::{
    delivery, endpoint, outcomes_handled, partner_key, register_as, verifier::verifies, SOON,
};

#[tokio::test]
async fn a_partner_hears_of_its_registrations_signed_scoped_and_without_phi() {
    let stack = Stack::start().await;
    let (everything, rejections) = (Receiver::start().await, Receiver::start().await);
    let key = partner_key(&stack, "Acme Health").await;
    let all_types = [
        "registration.completed",
        "registration.rejected",
        "registration.failed",
        "patient.email_verified",
    ];
    let (all_id, secret) = endpoint(&stack, &key, &everything.url(), &all_types).await;
    let (rejections_id, _) =
        endpoint(&stack, &key, &rejections.url(), &["registration.rejected"]).await;

    let anonymous = stack.register_accepted(&unique_example()).await;
    assert_eq!(stack.settled(&anonymous).await["status"], "completed");
    let body = unique_example();
    let completed = register_as(&stack, &key, &body).await;

    // The completed registration's webhook, signed with the endpoint's secret.
    let request = everything.wait_for(1, SOON).await.remove(0);
    let delivery_id = delivery(&stack, &completed, all_id).await;
    assert_eq!(
        request.header("webhook-id"),
        format!("msg_{}", delivery_id.simple())
    );
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(
        request.header("user-agent"),
        "patient-registration-webhooks/1"
    );
    let payload = request.json();
    assert_eq!(payload["type"], "registration.completed");
    assert_eq!(payload["data"]["request_id"], completed.as_str());
    assert_eq!(payload["data"]["status"], "completed");
    assert!(payload["data"]["patient_id"].is_string(), "{payload}");
    let now = Utc::now().timestamp();
    assert!(verifies(&secret, &request, &request.body, now));
    let tampered = String::from_utf8(request.body.clone()).unwrap().replacen(
        "\"completed\"",
        "\"rejected\"",
        1,
    );
    assert_ne!(tampered.as_bytes(), request.body);
    assert!(!verifies(&secret, &request, tampered.as_bytes(), now));
    assert!(!verifies(
        &secret,
        &request,
        &request.body,
        now + 5 * 60 + 1
    ));
    assert!(!verifies(
        &secret.replace("whsec_", "whsec_A"),
        &request,
        &request.body,
        now
    ));

    // The patient verifies their email: the partner hears of it too.
    let patient_id = payload["data"]["patient_id"].clone();
    let email = e2e::accounts::nth_email(body["email"].as_str().unwrap(), 1).await;
    let token = json!({"token": email.token().unwrap()});
    let (code, _) = e2e::accounts::post(&stack, "/api/v1/patient/verify-email", token).await;
    assert_eq!(code, 200);
    let verified = everything.wait_for(2, SOON).await.remove(1).json();
    assert_eq!(verified["type"], "patient.email_verified");
    assert_eq!(verified["data"]["status"], "email_verified");
    assert_eq!(verified["data"]["patient_id"], patient_id);

    // The same email again: rejected, to both endpoints, with the field
    // errors and nothing of the patient.
    let mut twin = unique_example();
    twin["email"] = body["email"].clone();
    let rejected = register_as(&stack, &key, &twin).await;
    let to_all = everything.wait_for(3, SOON).await.remove(2);
    let to_rejections = rejections.wait_for(1, SOON).await;
    assert_eq!(
        to_rejections.len(),
        1,
        "only the rejection is subscribed to"
    );
    for request in [&to_all, &to_rejections[0]] {
        let payload = request.json();
        assert_eq!(payload["type"], "registration.rejected");
        assert_eq!(payload["data"]["request_id"], rejected.as_str());
        assert_eq!(
            payload["data"]["errors"],
            json!({"email": ["Email is already registered"]})
        );
        let text = String::from_utf8_lossy(&request.body).to_lowercase();
        for field in ["email", "phone_number", "first_name", "last_name"] {
            let value = twin[field].as_str().unwrap().to_lowercase();
            assert!(!text.contains(&value), "{field} in {text}");
        }
    }
    delivery(&stack, &rejected, rejections_id).await;

    // Four outcomes handled; the anonymous one made no delivery.
    outcomes_handled(&stack, 4).await;
    let anonymous_deliveries: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE event_id = $1")
            .bind(anonymous.parse::<Uuid>().unwrap())
            .fetch_one(&stack.db)
            .await
            .unwrap();
    assert_eq!(anonymous_deliveries, 0);
    assert_eq!(everything.received().len(), 3);
    assert_eq!(rejections.received().len(), 1);
}
