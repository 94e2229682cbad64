//! Confirmed publishing over a pool of confirm-mode channels. A publish
//! holds a channel only while it writes the message, then awaits its own
//! confirm without it: a few channels carry many publishes in flight, and
//! the broker confirms them in batches. A [`Contract`] is published by
//! itself; raw bytes (a dead letter being replayed) with their own
//! properties.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use deadpool::managed::{self, Metrics, Object, RecycleError, RecycleResult};
use lapin::{
    options::{BasicPublishOptions, ConfirmSelectOptions},
    BasicProperties, Channel, Confirmation,
};

use super::{
    connect::NodeManager, persistent_json, pool_error, Broker, BrokerError, Contract, Topology,
};

const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);
/// How long declaring the topology and opening a channel may take.
pub(super) const OPEN_TIMEOUT: Duration = Duration::from_secs(3);

/// Makes channels in confirm mode on pooled connections, declaring the
/// topology on each so a broker that lost it (or a new one) gets it back.
pub struct ChannelManager {
    connections: managed::Pool<NodeManager>,
    topology: Topology,
}

impl ChannelManager {
    pub fn new(connections: managed::Pool<NodeManager>, topology: Topology) -> Self {
        Self {
            connections,
            topology,
        }
    }
}

/// A pooled channel, and whether it is retired: no longer handed out,
/// though publishes already on it still get their confirms.
pub struct PooledChannel {
    channel: Channel,
    retired: Arc<AtomicBool>,
}

impl managed::Manager for ChannelManager {
    type Type = PooledChannel;
    type Error = BrokerError;

    async fn create(&self) -> Result<PooledChannel, BrokerError> {
        let conn = self.connections.get().await.map_err(pool_error)?;
        // A connection whose node died a moment ago may not know it yet, and
        // lapin can leave what was asked of it unanswered (seen with kill -9
        // of a cluster node: a publish waited 24 s for its channel).
        let opening = async {
            self.topology.declare(&conn).await?;
            let channel = conn.create_channel().await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            Ok::<_, BrokerError>(channel)
        };
        let channel = tokio::time::timeout(OPEN_TIMEOUT, opening)
            .await
            .map_err(|_| BrokerError::Pool("opening a channel timed out".into()))??;
        Ok(PooledChannel {
            channel,
            retired: Arc::default(),
        })
    }

    async fn recycle(&self, pooled: &mut PooledChannel, _: &Metrics) -> RecycleResult<BrokerError> {
        if pooled.retired.load(Ordering::Relaxed) {
            Err(RecycleError::message("channel retired after a nack"))
        } else if pooled.channel.status().connected() {
            Ok(())
        } else {
            Err(RecycleError::message("channel is closed"))
        }
    }
}

impl Broker {
    /// A confirm-mode channel from the pool; it goes back when dropped.
    async fn channel(&self) -> Result<Object<ChannelManager>, BrokerError> {
        self.channels.get().await.map_err(pool_error)
    }

    /// Publishes one message as persistent JSON, to its exchange with its
    /// routing key and ids (see [`persistent_json`]), and waits for the
    /// broker's confirm, as [`Broker::publish`] does.
    pub async fn publish_message<M: Contract>(&self, message: &M) -> Result<(), BrokerError> {
        let body = serde_json::to_vec(message)?;
        let properties = persistent_json(
            message.kind(),
            message.message_id(),
            message.correlation_id(),
        );
        self.publish(M::EXCHANGE, message.routing_key(), &body, properties)
            .await
    }

    /// Publishes raw bytes with the given properties (mandatory: an
    /// unroutable message is an error) and waits for the broker's confirm
    /// that it is stored.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), BrokerError> {
        let channel = self.channel().await?;
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        // The channel goes back to the pool as soon as the message is
        // written: its confirm is awaited without it, so a few channels
        // carry many publishes in flight (the broker confirms in batches).
        let handle = Channel::clone(&channel.channel);
        let retired = Arc::clone(&channel.retired);
        let sent = in_time(handle.basic_publish(
            exchange.into(),
            routing_key.into(),
            options,
            body,
            properties,
        ))
        .await;
        drop(channel);
        let confirmed = match sent {
            Ok(confirm) => in_time(confirm).await,
            Err(e) => Err(e),
        };
        let outcome = match confirmed {
            Err(e) => Err(e),
            Ok(Confirmation::Ack(None) | Confirmation::NotRequested) => Ok(()),
            Ok(Confirmation::Ack(Some(_))) => Err(BrokerError::Unroutable),
            Ok(Confirmation::Nack(_)) => Err(BrokerError::Nacked),
        };
        match &outcome {
            // A channel that failed a publish may be half broken: close it,
            // so the pool's recycle check drops it instead of reusing it.
            Err(BrokerError::Amqp(_) | BrokerError::Timeout) => {
                let _ = handle.close(200, "publish failed".into()).await;
            }
            // A nacked channel is retired: on RabbitMQ 3.10, a channel that
            // published to a quorum queue while its leader was being
            // re-elected (a node lost) nacks every later publish, where a
            // fresh one is acked (seen with kill -9 of the leader's node).
            // A nack is also a full queue's answer (reject-publish), on a
            // channel other publishes share: it is closed only once their
            // confirms are in, so none of them fails for it.
            Err(BrokerError::Nacked) => {
                retired.store(true, Ordering::Relaxed);
                tokio::spawn(async move {
                    let _ = in_time(handle.wait_for_confirms()).await;
                    let _ = handle.close(200, "nacked".into()).await;
                });
            }
            _ => {}
        }
        outcome
    }
}

/// One step of a publish, bounded by [`CONFIRM_TIMEOUT`].
async fn in_time<T>(step: impl Future<Output = lapin::Result<T>>) -> Result<T, BrokerError> {
    match tokio::time::timeout(CONFIRM_TIMEOUT, step).await {
        Err(_) => Err(BrokerError::Timeout),
        Ok(result) => result.map_err(BrokerError::Amqp),
    }
}
