//! The consume loop under every worker (see [`crate::worker`]): manual
//! acks, a small prefetch, one task per delivery, reconnect with backoff,
//! and a drain on shutdown. The handler decides an [`Outcome`]; only this
//! loop acks or rejects, and only after the handler has finished (its
//! effects are durable by then).

use std::{future::Future, sync::Arc, time::Duration};

use futures_util::StreamExt;
use lapin::{
    options::{
        BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions,
        BasicRejectOptions,
    },
    types::FieldTable,
    BasicProperties,
};
use tokio::task::JoinSet;

use super::{properties::delivery_count, Broker};
use crate::{
    metrics::{metrics, Metrics},
    retry::Backoff,
    shutdown::Shutdown,
};

/// How often a consumer checks that its connection is still alive.
const LIVENESS_CHECK: Duration = Duration::from_secs(1);

/// One delivery as the handler sees it.
pub struct Incoming {
    pub body: Vec<u8>,
    pub properties: BasicProperties,
    /// Deliveries before this one (0 the first time).
    pub delivery_count: u64,
}

/// What to do with a delivery once the handler is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done (or already done before): remove it.
    Ack,
    /// Could not be done now: put it back after a backoff.
    Retry,
    /// Can never be done: reject it into the dead-letter queue.
    DeadLetter,
}

/// Consumes `queue` until shutdown, running `handler` on each delivery.
pub async fn consume<H, Fut>(
    broker: Broker,
    queue: &'static str,
    prefetch: u16,
    shutdown: Shutdown,
    handler: H,
) where
    H: Fn(Incoming) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let mut backoff = Backoff::default();
    while !shutdown.is_triggered() {
        match consume_once(&broker, queue, prefetch, shutdown.clone(), handler.clone()).await {
            Ok(()) => backoff = Backoff::default(),
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(queue, error = %e, retry_in_ms = delay.as_millis() as u64, "consumer lost its broker; reconnecting");
                shutdown.sleep(delay).await;
            }
        }
    }
    tracing::info!(queue, "consumer stopped");
}

async fn consume_once<H, Fut>(
    broker: &Broker,
    queue: &'static str,
    prefetch: u16,
    shutdown: Shutdown,
    handler: H,
) -> Result<(), super::BrokerError>
where
    H: Fn(Incoming) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let conn = broker.connection().await?;
    broker.topology().declare(&conn).await?;
    let channel = conn.create_channel().await?;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    let tag = format!("{queue}-{}", uuid::Uuid::new_v4());
    let mut deliveries = channel
        .basic_consume(
            queue.into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(queue, prefetch, "consuming");
    // The metric labels are made once, not per delivery.
    let labels = Arc::new(Metrics::queue(queue));
    let mut in_flight = JoinSet::new();
    let stop = shutdown.clone().wait();
    tokio::pin!(stop);
    // A connection that died abruptly (its node killed) does not always end
    // the delivery stream: lapin marks it failed, so it is looked at too.
    let mut liveness = tokio::time::interval(LIVENESS_CHECK);
    let result = loop {
        tokio::select! {
            _ = &mut stop => {
                let _ = channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default()).await;
                break Ok(());
            }
            _ = liveness.tick() => {
                if !conn.status().connected() || !channel.status().connected() {
                    break Err(super::BrokerError::Pool("the connection to the broker was lost".into()));
                }
            }
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            next = deliveries.next() => match next {
                Some(Ok(delivery)) => {
                    let handler = handler.clone();
                    let shutdown = shutdown.clone();
                    let labels = Arc::clone(&labels);
                    in_flight.spawn(async move {
                        let incoming = Incoming {
                            delivery_count: delivery_count(&delivery.properties),
                            body: delivery.data,
                            properties: delivery.properties,
                        };
                        let count = incoming.delivery_count;
                        let m = metrics();
                        m.consumed.get_or_create(&labels).inc();
                        let outcome = handler(incoming).await;
                        let counter = match outcome {
                            Outcome::Ack => &m.acked,
                            Outcome::DeadLetter => &m.dead_lettered,
                            Outcome::Retry => &m.retried,
                        };
                        counter.get_or_create(&labels).inc();
                        let settled = match outcome {
                            Outcome::Ack => delivery.acker.ack(BasicAckOptions::default()).await,
                            Outcome::DeadLetter => delivery.acker.reject(BasicRejectOptions { requeue: false }).await,
                            Outcome::Retry => {
                                // Back off before requeueing, unless we are stopping.
                                shutdown.sleep(Backoff::default().delay(count)).await;
                                delivery.acker.reject(BasicRejectOptions { requeue: true }).await
                            }
                        };
                        if let Err(e) = settled {
                            // The channel is gone; the broker redelivers and the handler is idempotent.
                            tracing::warn!(error = %e, "could not settle a delivery");
                        }
                    });
                }
                Some(Err(e)) => break Err(e.into()),
                None => break Err(super::BrokerError::Pool("the consumer was cancelled by the broker".into())),
            }
        }
    };
    match result {
        // Finish and settle whatever is in hand before letting the channel go.
        Ok(()) => while in_flight.join_next().await.is_some() {},
        // The channel is gone: what is in hand can no longer be settled on
        // it (the broker delivers it again, and handlers are idempotent).
        // It finishes on its own while the consumer comes back at once: a
        // handler retrying in place must not hold the queue up.
        Err(_) => in_flight.detach_all(),
    }
    result
}
