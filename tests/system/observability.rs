//! Backpressure, metrics and logs, end to end.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::{eventually, unique_example, Service, Stack, StackOptions};
use serde_json::Value;

async fn metrics_of(stack: &Stack, base: &str) -> String {
    let response = stack
        .http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("openmetrics-text"));
    response.text().await.unwrap()
}

#[tokio::test]
async fn every_service_exposes_prometheus_metrics() {
    let stack = Stack::start().await;
    let id = stack.register_accepted(&unique_example()).await;
    assert_eq!(stack.settled(&id).await["status"], "completed");
    let notifier = stack.health_url(Service::Notification);
    eventually(
        "the email to be counted",
        Duration::from_secs(60),
        || async {
            metrics_of(&stack, &notifier)
                .await
                .contains("emails_sent_total 1")
                .then_some(())
        },
    )
    .await;

    let intake = metrics_of(&stack, &stack.base_url).await;
    assert!(
        intake.contains(
            r#"http_requests_total{method="POST",route="/api/v1/patient/register",status="202"} 1"#
        ),
        "{intake}"
    );
    assert!(
        intake.contains("http_request_duration_seconds_bucket{"),
        "{intake}"
    );
    assert!(
        intake.contains(r#"queue_depth{queue="registration.requests"} 0"#),
        "{intake}"
    );

    let worker = metrics_of(&stack, &stack.health_url(Service::Registration)).await;
    for line in [
        r#"messages_consumed_total{queue="registration.requests"} 1"#,
        r#"messages_acked_total{queue="registration.requests"} 1"#,
        "bcrypt_hash_duration_seconds_count 1",
    ] {
        assert!(worker.contains(line), "{line} missing from {worker}");
    }
    let notifications = metrics_of(&stack, &notifier).await;
    assert!(
        notifications.contains(r#"messages_acked_total{queue="notification.patient-created"} 1"#)
    );
}

#[tokio::test]
async fn a_full_request_queue_turns_into_503_and_everything_accepted_completes() {
    let mut stack = Stack::start_with(StackOptions {
        env: vec![("REQUEST_QUEUE_MAX_LENGTH", "3".into())],
    })
    .await;
    stack.stop(Service::Registration).await;
    // Quorum queues refuse publishes once they are over the limit, so the
    // bound is reached within a message or two past it.
    let mut accepted = Vec::new();
    let refused = loop {
        let response = stack.register(&unique_example()).await;
        if response.status() != 202 {
            break response;
        }
        let json: Value = response.json().await.unwrap();
        accepted.push(json["data"]["request_id"].as_str().unwrap().to_owned());
        assert!(
            accepted.len() <= 5,
            "the queue bound of 3 was never enforced"
        );
    };
    assert!(
        accepted.len() >= 3,
        "refused before the bound: {}",
        accepted.len()
    );
    assert_eq!(refused.status(), 503);

    assert!(refused.headers().contains_key("retry-after"));
    let json: Value = refused.json().await.unwrap();
    assert_eq!(json["success"], false);
    assert_eq!(
        json["message"],
        "Too many registrations are waiting to be processed, please retry shortly"
    );
    let metrics = stack
        .http
        .get(format!("{}/metrics", stack.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("registrations_refused_queue_full_total ") && !l.ends_with(" 0")),
        "no refusal counted in /metrics"
    );
    // For a while after a refusal, registrations are refused before they
    // are recorded or published: one failed row, however many refusals.
    for _ in 0..3 {
        assert_eq!(stack.register(&unique_example()).await.status(), 503);
    }
    let failed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM registration_requests WHERE status = 'failed'")
            .fetch_one(&stack.db)
            .await
            .unwrap();
    assert_eq!(
        failed, 1,
        "refusals during the shedding window were recorded"
    );
    // The broker stays healthy: intake is still ready.
    let ready = stack
        .http
        .get(format!("{}/health/ready", stack.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    stack.spawn(Service::Registration);
    for id in &accepted {
        assert_eq!(stack.settled(id).await["status"], "completed");
    }
    // Drained, and past the shedding window: accepted again.
    eventually(
        "a registration to be accepted again",
        Duration::from_secs(10),
        || async { (stack.register(&unique_example()).await.status() == 202).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn json_logs_follow_one_registration_through_all_three_services() {
    let stack = Stack::start_with(StackOptions {
        env: vec![("LOG_FORMAT", "json".into())],
    })
    .await;
    let id = stack.register_accepted(&unique_example()).await;
    assert_eq!(stack.settled(&id).await["status"], "completed");
    eventually(
        "the notification worker to log the registration",
        Duration::from_secs(60),
        || async { stack.log(Service::Notification).contains(&id).then_some(()) },
    )
    .await;
    for service in Service::ALL {
        let log = stack.log(service);
        for line in log.lines().filter(|l| !l.trim().is_empty()) {
            serde_json::from_str::<Value>(line)
                .unwrap_or_else(|e| panic!("{service:?}: not JSON ({e}): {line}"));
        }
        assert!(
            log.lines().any(|l| l.contains(&id)),
            "{service:?} never logs request {id}"
        );
    }
}

#[tokio::test]
async fn messages_carry_the_request_id_and_a_w3c_traceparent() {
    let mut stack = Stack::start().await;
    stack.stop(Service::Registration).await;
    let id = stack.register_accepted(&unique_example()).await;
    let message = stack.take_request_message().await;
    let properties = &message.properties;
    assert_eq!(
        shared::broker::header_str(properties, "x-request-id").as_deref(),
        Some(id.as_str())
    );
    let traceparent = shared::broker::header_str(properties, "traceparent").unwrap();
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(
        (parts[0], parts[1], parts[3]),
        ("00", id.replace('-', "").as_str(), "01")
    );
    assert_eq!(parts[2].len(), 16);
    assert_eq!(properties.delivery_mode(), &Some(2));
}
