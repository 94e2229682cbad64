//! Confirmed publishing over a pool of confirm-mode channels. Each publish
//! waits for its own confirm, so many concurrent requests pipeline on the
//! pool instead of serialising on one round trip.

use std::time::Duration;

use deadpool::managed::{self, Metrics, Object, RecycleError, RecycleResult};
use lapin::{
    options::{BasicPublishOptions, ConfirmSelectOptions},
    BasicProperties, Channel, Confirmation,
};

use super::{Broker, BrokerError, Topology};

const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

/// Makes channels in confirm mode on pooled connections, declaring the
/// topology on each so a broker that lost it (or a new one) gets it back.
pub struct ChannelManager {
    connections: deadpool_lapin::Pool,
    topology: Topology,
}

impl ChannelManager {
    pub fn new(connections: deadpool_lapin::Pool, topology: Topology) -> Self {
        Self {
            connections,
            topology,
        }
    }
}

impl managed::Manager for ChannelManager {
    type Type = Channel;
    type Error = BrokerError;

    async fn create(&self) -> Result<Channel, BrokerError> {
        let conn = self
            .connections
            .get()
            .await
            .map_err(|e| BrokerError::Pool(e.to_string()))?;
        let channel = conn.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        self.topology.declare(&channel).await?;
        Ok(channel)
    }

    async fn recycle(&self, channel: &mut Channel, _: &Metrics) -> RecycleResult<BrokerError> {
        if channel.status().connected() {
            Ok(())
        } else {
            Err(RecycleError::message("channel is closed"))
        }
    }
}

impl Broker {
    /// Publishes one message (mandatory: an unroutable one is an error) and
    /// waits for the broker's confirm that it is stored.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), BrokerError> {
        let channel = self
            .channels
            .get()
            .await
            .map_err(|e| BrokerError::Pool(e.to_string()))?;
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let confirmed = tokio::time::timeout(CONFIRM_TIMEOUT, async {
            channel
                .basic_publish(
                    exchange.into(),
                    routing_key.into(),
                    options,
                    body,
                    properties,
                )
                .await?
                .await
        })
        .await;
        let outcome = match confirmed {
            Err(_) => Err(BrokerError::Timeout),
            Ok(Err(e)) => Err(BrokerError::Amqp(e)),
            Ok(Ok(Confirmation::Ack(None) | Confirmation::NotRequested)) => Ok(()),
            Ok(Ok(Confirmation::Ack(Some(_)))) => Err(BrokerError::Unroutable),
            Ok(Ok(Confirmation::Nack(_))) => Err(BrokerError::Nacked),
        };
        if matches!(outcome, Err(BrokerError::Amqp(_) | BrokerError::Timeout)) {
            // A channel that failed a publish may be half broken: never reuse
            // it. A nack or a returned message leaves it sound.
            let _ = Object::take(channel);
        }
        outcome
    }
}
