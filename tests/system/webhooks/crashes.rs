//! The worker killed or stopped mid-delivery: nothing lost, the same
//! `webhook-id` on a repeat.

use std::time::Duration;

use chrono::Utc;
use e2e::{receiver::Receiver, unique_example, Service, Stack, StackOptions};

use super::{
    attempts, delivery, endpoint, partner_key, register_as, settled_delivery, verifier::verifies,
    SOON,
};

#[tokio::test]
async fn a_worker_killed_mid_delivery_delivers_after_restart_with_the_same_webhook_id() {
    let mut stack = Stack::start_with(StackOptions {
        env: vec![("WEBHOOK_TIMEOUT", "60s".into())],
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.delay(Duration::from_secs(120));
    let key = partner_key(&stack, "Acme Health").await;
    let (endpoint_id, secret) =
        endpoint(&stack, &key, &receiver.url(), &["registration.completed"]).await;
    let request_id = register_as(&stack, &key, &unique_example()).await;

    // The worker is killed while the receiver holds its answer.
    receiver.wait_for(1, SOON).await;
    stack.stop(Service::Webhook).await;
    let delivery_id = delivery(&stack, &request_id, endpoint_id).await;
    assert!(attempts(&stack, delivery_id).await.is_empty());
    receiver.delay(Duration::ZERO);
    stack.spawn(Service::Webhook);
    stack.wait_ready(Service::Webhook).await;

    assert_eq!(settled_delivery(&stack, delivery_id).await, "delivered");
    let received = receiver.received();
    assert!(received.len() >= 2, "{received:?}");
    let id = format!("msg_{}", delivery_id.simple());
    let now = Utc::now().timestamp();
    for request in &received {
        assert_eq!(request.header("webhook-id"), id);
        assert_eq!(request.body, received[0].body);
        assert!(verifies(&secret, request, &request.body, now));
    }
    let made = attempts(&stack, delivery_id).await;
    assert_eq!(made.last().map(|a| a.status_code), Some(Some(200)));
}

#[tokio::test]
async fn sigterm_lets_the_attempt_in_flight_finish_and_be_recorded() {
    let mut stack = Stack::start().await;
    let receiver = Receiver::start().await;
    receiver.delay(Duration::from_secs(2));
    let key = partner_key(&stack, "Acme Health").await;
    let (endpoint_id, _) =
        endpoint(&stack, &key, &receiver.url(), &["registration.completed"]).await;
    let request_id = register_as(&stack, &key, &unique_example()).await;
    receiver.wait_for(1, SOON).await;
    let exit = stack
        .terminate(Service::Webhook, Duration::from_secs(30))
        .await;
    assert_eq!(exit.and_then(|s| s.code()), Some(0));
    let delivery_id = delivery(&stack, &request_id, endpoint_id).await;
    let made = attempts(&stack, delivery_id).await;
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(made[0].status_code, Some(200));
    assert_eq!(settled_delivery(&stack, delivery_id).await, "delivered");
    assert_eq!(receiver.received().len(), 1);
}
