//! Retries held by RabbitMQ, never by a sleeping consumer: a failed
//! attempt's successor is published (with a confirm) to the retry queue of
//! its delay, a quorum queue with that `x-message-ttl` whose expired
//! messages dead-letter back to `webhooks`/`webhook.attempt`, i.e. to the
//! attempts queue. Dead-lettering is `at-least-once` (with
//! `x-overflow: reject-publish`, which that strategy requires): the broker
//! keeps an expired message until the attempts queue has confirmed it, on
//! RabbitMQ 3.10 and later alike. (The default `at-most-once` strategy, and
//! every classic queue, dead-letter without confirms: a message can be
//! lost on the way.)

use std::time::Duration;

use lapin::{
    options::QueueDeclareOptions,
    types::{AMQPValue, FieldTable},
};
use shared::{
    broker::{
        persistent_json,
        topology::{WEBHOOKS_EXCHANGE, WEBHOOK_ATTEMPT},
        Broker, BrokerError, Contract,
    },
    messages::WebhookAttempt,
    metrics::{metrics, Metrics},
    retry::Backoff,
    shutdown::Shutdown,
};

use crate::schedule::{RetryQueue, RetrySchedule};

/// How often the retry queues' depth gauges are refreshed.
const MEASURE_EVERY: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Retries {
    broker: Broker,
    schedule: RetrySchedule,
}

impl Retries {
    pub fn new(broker: Broker, schedule: RetrySchedule) -> Self {
        Self { broker, schedule }
    }

    /// Where attempt `failed` waits for its successor; `None` after the last.
    pub fn after(&self, failed: u32) -> Option<RetryQueue> {
        self.schedule.after(failed)
    }

    /// Declares every retry queue of the schedule; idempotent.
    pub async fn declare(&self) -> Result<(), BrokerError> {
        let conn = self.broker.connection().await?;
        let channel = conn.create_channel().await?;
        let options = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        for queue in self.schedule.queues() {
            channel
                .queue_declare(queue.name().as_str().into(), options, arguments(queue))
                .await?;
        }
        let _ = channel.close(200, "declared".into()).await;
        Ok(())
    }

    /// Publishes `next` into `queue`, where it waits out its delay; returns
    /// once the broker has confirmed it. A retry queue that went missing
    /// (a broker that lost its definitions) is declared again.
    pub async fn schedule(
        &self,
        queue: RetryQueue,
        next: &WebhookAttempt,
    ) -> Result<(), BrokerError> {
        let body = serde_json::to_vec(next)?;
        let name = queue.name();
        let publish = || {
            let properties = persistent_json(
                next.kind(),
                next.message_id(),
                Contract::correlation_id(next),
            );
            // The default exchange routes by queue name.
            self.broker.publish("", &name, &body, properties)
        };
        match publish().await {
            Err(BrokerError::Unroutable) => {
                self.declare().await?;
                publish().await
            }
            other => other,
        }
    }

    /// Declares the retry queues as soon as the broker can be reached,
    /// then keeps their depth gauges fresh, until shutdown.
    pub async fn declare_and_measure(self, shutdown: Shutdown) {
        let mut backoff = Backoff::default();
        while let Err(e) = self.declare().await {
            let delay = backoff.next_delay();
            tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "could not declare the retry queues; retrying");
            shutdown.sleep(delay).await;
            if shutdown.is_triggered() {
                return;
            }
        }
        tracing::info!(
            queues = self.schedule.queues().len(),
            "retry queues declared"
        );
        while !shutdown.is_triggered() {
            for queue in self.schedule.queues() {
                let name = queue.name();
                if let Ok(depth) = self.broker.queue_depth(&name).await {
                    metrics()
                        .webhook_retry_queue_depth
                        .get_or_create(&Metrics::queue(&name))
                        .set(i64::from(depth));
                }
            }
            shutdown.sleep(MEASURE_EVERY).await;
        }
    }
}

/// A quorum queue that holds each message for the queue's delay, then
/// dead-letters it to the attempts queue, at least once.
fn arguments(queue: RetryQueue) -> FieldTable {
    let mut args = FieldTable::default();
    let text = |s: &str| AMQPValue::LongString(s.into());
    args.insert("x-queue-type".into(), text("quorum"));
    args.insert(
        "x-message-ttl".into(),
        AMQPValue::LongLongInt(queue.ttl_ms()),
    );
    args.insert("x-dead-letter-exchange".into(), text(WEBHOOKS_EXCHANGE));
    args.insert("x-dead-letter-routing-key".into(), text(WEBHOOK_ATTEMPT));
    args.insert("x-dead-letter-strategy".into(), text("at-least-once"));
    args.insert("x-overflow".into(), text("reject-publish"));
    args
}
