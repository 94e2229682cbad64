//! Retries: held by RabbitMQ for the scheduled delays, one `webhook-id`
//! throughout; a delivery that never succeeds fails after its last
//! attempt; an endpoint failing too long is disabled.

use chrono::{DateTime, Utc};
use e2e::{eventually, receiver::Receiver, unique_example, Stack, StackOptions};

use super::{
    assert_spaced, attempts, delivery, endpoint, metrics_text, outcomes_handled, partner_key,
    register_as, seconds_between, settled_delivery, verifier::verifies, webhook_metric, SOON,
};

#[tokio::test]
async fn retries_follow_the_schedule_with_one_webhook_id_until_the_endpoint_answers() {
    let stack = Stack::start_with(StackOptions {
        env: vec![("WEBHOOK_RETRY_SCHEDULE", "2s,1s,3s".into())],
    })
    .await;
    let receiver = Receiver::start_down();
    let key = partner_key(&stack, "Acme Health").await;
    let (endpoint_id, secret) =
        endpoint(&stack, &key, &receiver.url(), &["registration.completed"]).await;
    let request_id = register_as(&stack, &key, &unique_example()).await;
    let delivery_id = delivery(&stack, &request_id, endpoint_id).await;

    // The first attempt meets a refused connection; then the receiver is
    // up, but answers the second with a 503.
    eventually("the first attempt", SOON, || async {
        (!attempts(&stack, delivery_id).await.is_empty()).then_some(())
    })
    .await;
    receiver.fail_next(1, 503);
    receiver.up().await;
    assert_eq!(settled_delivery(&stack, delivery_id).await, "delivered");

    let made = attempts(&stack, delivery_id).await;
    let summary: Vec<_> = made
        .iter()
        .map(|a| (a.attempt, a.status_code, a.error.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            (1, None, Some("connect")),
            (2, Some(503), Some("status")),
            (3, Some(200), None)
        ]
    );
    let gap = |i: usize| seconds_between(made[i - 1].attempted_at, made[i].attempted_at);
    assert_spaced(gap(1), 2.0, "attempts 1 and 2");
    assert_spaced(gap(2), 1.0, "attempts 2 and 3");

    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!((received[0].answered, received[1].answered), (503, 200));
    let id = format!("msg_{}", delivery_id.simple());
    assert!(received.iter().all(|r| r.header("webhook-id") == id));
    assert_eq!(received[0].body, received[1].body);
    assert_spaced(
        (received[1].at - received[0].at).as_secs_f64(),
        1.0,
        "arrivals",
    );
    let now = Utc::now().timestamp();
    assert!(received.iter().all(|r| verifies(&secret, r, &r.body, now)));
    let delivered: (i32, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT attempts, delivered_at FROM webhook_deliveries WHERE id = $1")
            .bind(delivery_id)
            .fetch_one(&stack.db)
            .await
            .unwrap();
    assert_eq!(delivered.0, 3);
    assert!(delivered.1.is_some());
}

#[tokio::test]
async fn a_delivery_never_answered_with_2xx_fails_after_its_last_attempt_every_attempt_recorded() {
    let stack = Stack::start().await;
    let receiver = Receiver::start().await;
    receiver.answer(500);
    let key = partner_key(&stack, "Acme Health").await;
    let (endpoint_id, _) =
        endpoint(&stack, &key, &receiver.url(), &["registration.completed"]).await;
    let request_id = register_as(&stack, &key, &unique_example()).await;
    let delivery_id = delivery(&stack, &request_id, endpoint_id).await;
    assert_eq!(settled_delivery(&stack, delivery_id).await, "failed");

    // 1 attempt and the 3 retries of `1s,1s,1s`, each with its answer's
    // status and how long it took; nothing of the answer's body.
    let made = attempts(&stack, delivery_id).await;
    assert_eq!(
        made.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    for attempt in &made {
        assert_eq!(attempt.status_code, Some(500), "{attempt:?}");
        assert_eq!(attempt.error.as_deref(), Some("status"), "{attempt:?}");
        assert!((0..10_000).contains(&attempt.latency_ms), "{attempt:?}");
    }
    for i in 1..made.len() {
        let gap = seconds_between(made[i - 1].attempted_at, made[i].attempted_at);
        assert_spaced(gap, 1.0, "attempts");
    }
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns
         WHERE table_name = 'webhook_attempts' ORDER BY ordinal_position",
    )
    .fetch_all(&stack.db)
    .await
    .unwrap();
    assert_eq!(
        columns,
        [
            "id",
            "delivery_id",
            "attempt",
            "attempted_at",
            "status_code",
            "latency_ms",
            "error"
        ]
    );
    let (attempts_count, failed_at): (i32, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT attempts, failed_at FROM webhook_deliveries WHERE id = $1")
            .bind(delivery_id)
            .fetch_one(&stack.db)
            .await
            .unwrap();
    assert_eq!(attempts_count, 4);
    assert!(failed_at.is_some());
    let streak: (Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT failing_since, disabled_at FROM webhook_endpoints WHERE id = $1")
            .bind(endpoint_id)
            .fetch_one(&stack.db)
            .await
            .unwrap();
    assert!(streak.0.is_some() && streak.1.is_none(), "{streak:?}");

    let received = receiver.received();
    assert_eq!(received.len(), 4);
    let id = format!("msg_{}", delivery_id.simple());
    assert!(received.iter().all(|r| r.header("webhook-id") == id));
    let outcome = |o: &str| format!(r#"webhook_deliveries_total{{outcome="{o}"}}"#);
    assert_eq!(webhook_metric(&stack, &outcome("retried")).await, 3.0);
    assert_eq!(webhook_metric(&stack, &outcome("failed")).await, 1.0);
    assert_eq!(
        webhook_metric(&stack, "webhook_attempt_duration_seconds_count").await,
        4.0
    );
    let depth = r#"webhook_retry_queue_depth{queue="webhook.retry.1s"} 0"#;
    assert!(metrics_text(&stack).await.contains(depth));
}

#[tokio::test]
async fn an_endpoint_failing_for_longer_than_the_disable_period_is_disabled() {
    let stack = Stack::start_with(StackOptions {
        env: vec![
            ("WEBHOOK_RETRY_SCHEDULE", "2s,2s".into()),
            ("WEBHOOK_DISABLE_AFTER", "1s".into()),
        ],
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.answer(502);
    let key = partner_key(&stack, "Acme Health").await;
    let (endpoint_id, _) =
        endpoint(&stack, &key, &receiver.url(), &["registration.completed"]).await;
    let first = register_as(&stack, &key, &unique_example()).await;
    let delivery_id = delivery(&stack, &first, endpoint_id).await;
    assert_eq!(settled_delivery(&stack, delivery_id).await, "failed");

    // The second failure came 2 s after the first: past the 1 s allowed, so
    // the endpoint was disabled, and the last attempt was never made.
    let errors: Vec<Option<String>> = attempts(&stack, delivery_id)
        .await
        .into_iter()
        .map(|a| a.error)
        .collect();
    assert_eq!(
        errors,
        [
            Some("status".to_owned()),
            Some("status".to_owned()),
            Some("endpoint_disabled".to_owned())
        ]
    );
    let disabled: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT disabled_at FROM webhook_endpoints WHERE id = $1")
            .bind(endpoint_id)
            .fetch_one(&stack.db)
            .await
            .unwrap();
    assert!(disabled.is_some());
    assert_eq!(receiver.received().len(), 2);

    // A disabled endpoint gets no new deliveries.
    register_as(&stack, &key, &unique_example()).await;
    outcomes_handled(&stack, 2).await;
    let deliveries: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries")
        .fetch_one(&stack.db)
        .await
        .unwrap();
    assert_eq!(deliveries, 1);
}
