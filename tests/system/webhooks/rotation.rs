//! A rotated secret, and a delivery retried by hand, against the running
//! worker.

use e2e::{receiver::Receiver, unique_example, Stack};
use serde_json::Value;

use super::{
    delivery, endpoint, partner_key, register_as, settled_delivery, verifier::verifies, SOON,
};

#[tokio::test]
async fn during_the_grace_both_secrets_sign_then_only_the_new_one() {
    let stack = Stack::start().await;
    let receiver = Receiver::start().await;
    let key = partner_key(&stack, "Acme Health").await;
    let (endpoint_id, old) =
        endpoint(&stack, &key, &receiver.url(), &["registration.completed"]).await;
    let rotated: Value = stack
        .http
        .post(format!(
            "{}/api/v1/partner/webhook-endpoints/{endpoint_id}/rotate-secret",
            stack.base_url
        ))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new = rotated["data"]["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);

    register_as(&stack, &key, &unique_example()).await;
    let request = receiver.wait_for(1, SOON).await.remove(0);
    let now = chrono::Utc::now().timestamp();
    assert_eq!(request.header("webhook-signature").split(' ').count(), 2);
    assert!(
        verifies(&old, &request, &request.body, now),
        "the previous secret"
    );
    assert!(
        verifies(&new, &request, &request.body, now),
        "the new secret"
    );

    // The grace is over: only the new secret signs.
    sqlx::query("UPDATE webhook_endpoints SET previous_secret_expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(endpoint_id)
        .execute(&stack.db)
        .await
        .unwrap();
    register_as(&stack, &key, &unique_example()).await;
    let request = receiver.wait_for(2, SOON).await.remove(1);
    let now = chrono::Utc::now().timestamp();
    assert_eq!(request.header("webhook-signature").split(' ').count(), 1);
    assert!(verifies(&new, &request, &request.body, now));
    assert!(!verifies(&old, &request, &request.body, now));
}

#[tokio::test]
async fn a_failed_delivery_retried_by_hand_arrives_with_its_webhook_id() {
    let stack = Stack::start().await;
    let receiver = Receiver::start().await;
    receiver.answer(500);
    let key = partner_key(&stack, "Acme Health").await;
    let (endpoint_id, _) =
        endpoint(&stack, &key, &receiver.url(), &["registration.completed"]).await;
    let request_id = register_as(&stack, &key, &unique_example()).await;
    let delivery_id = delivery(&stack, &request_id, endpoint_id).await;
    // The stacks' schedule is 1s,1s,1s: four attempts, then failed.
    assert_eq!(settled_delivery(&stack, delivery_id).await, "failed");
    let failed_attempts = receiver.received().len();

    receiver.answer(204);
    let response = stack
        .http
        .post(format!(
            "{}/api/v1/partner/webhook-deliveries/{delivery_id}/retry",
            stack.base_url
        ))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(settled_delivery(&stack, delivery_id).await, "delivered");
    let all = receiver.wait_for(failed_attempts + 1, SOON).await;
    let ids: std::collections::HashSet<&str> = all.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len(), 1, "one webhook-id for every attempt: {ids:?}");
    assert_eq!(
        ids.into_iter().next().unwrap(),
        format!("msg_{}", delivery_id.simple())
    );
}
