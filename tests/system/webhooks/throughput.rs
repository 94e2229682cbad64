//! How fast one worker empties a backlog.

use std::time::Duration;

use e2e::{eventually, receiver::Receiver, Service, Stack};
use uuid::Uuid;

use super::{endpoint, partner_key, SOON};

/// A measurement, not run by default (`cargo test -p e2e --test system
/// webhooks -- --ignored`, best alone): one worker delivers a backlog of
/// 10,000 to a local receiver at 1,000 a second or more.
#[tokio::test]
#[ignore = "a throughput measurement; run it alone with --ignored"]
async fn one_worker_delivers_a_backlog_of_ten_thousand_at_a_thousand_a_second() {
    const BACKLOG: usize = 10_000;
    let mut stack = Stack::start().await;
    stack.stop(Service::Webhook).await;
    let receiver = Receiver::start().await;
    let key = partner_key(&stack, "Acme Health").await;
    let (endpoint_id, _) =
        endpoint(&stack, &key, &receiver.url(), &["registration.completed"]).await;
    // The deliveries the fan-out would have made, and their first attempts.
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (id, endpoint_id, partner_id, event_id, event_type, payload)
         SELECT gen_random_uuid(), e.id, e.partner_id, gen_random_uuid(), 'registration.completed',
                jsonb_build_object('type', 'registration.completed', 'timestamp', now(),
                    'data', jsonb_build_object('request_id', gen_random_uuid(), 'status', 'completed'))
         FROM webhook_endpoints e, generate_series(1, $2) WHERE e.id = $1 RETURNING id",
    )
    .bind(endpoint_id)
    .bind(BACKLOG as i32)
    .fetch_all(&stack.db)
    .await
    .unwrap();
    let broker = shared::broker::Broker::new(
        &shared::transport::AmqpTarget::single(&stack.amqp_url).unwrap(),
        shared::broker::Topology::default(),
        8,
    )
    .unwrap();
    for chunk in ids.chunks(500) {
        futures_util::future::try_join_all(chunk.iter().map(|&delivery_id| {
            let broker = broker.clone();
            async move {
                let first =
                    shared::messages::WebhookAttempt::V1(shared::messages::WebhookAttemptV1 {
                        delivery_id,
                        attempt: 1,
                    });
                broker.publish_message(&first).await
            }
        }))
        .await
        .unwrap();
    }

    stack.spawn(Service::Webhook);
    let received = receiver.wait_for(BACKLOG, Duration::from_secs(300)).await;
    let seconds = (received[BACKLOG - 1].at - received[0].at).as_secs_f64();
    let rate = BACKLOG as f64 / seconds;
    eprintln!("{BACKLOG} webhooks in {seconds:.2} s: {rate:.0}/s");
    eventually("every delivery recorded", SOON, || async {
        let delivered: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'",
        )
        .fetch_one(&stack.db)
        .await
        .unwrap();
        (delivered == BACKLOG as i64).then_some(())
    })
    .await;
    assert!(rate >= 1_000.0, "{rate:.0}/s");
}
