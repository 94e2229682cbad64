//! RabbitMQ plumbing: a lazily connecting [`Broker`] with a pool of
//! connections (to one node or a cluster's, [`connect`]) and a pool of
//! confirm-mode channels on top,
//! the durable topology, each message [`Contract`]'s place in it, confirmed
//! publishing (typed with [`Broker::publish_message`], raw bytes with
//! [`Broker::publish`]) and the consume loop.

mod connect;
mod consumer;
mod contract;
mod properties;
mod publisher;
pub mod topology;

use std::time::Duration;

use connect::NodeManager;
use deadpool::managed::{Object, Pool, Timeouts};
use publisher::ChannelManager;

use crate::transport::AmqpTarget;

pub use consumer::{consume, Incoming, Outcome};
pub use contract::Contract;
pub use properties::{header_str, persistent_json};
pub use topology::Topology;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("rabbitmq: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("no broker connection: {0}")]
    Pool(String),
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("the message could not be routed to any queue")]
    Unroutable,
    #[error("the broker did not confirm in time")]
    Timeout,
    #[error("the message could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

/// A pool (of connections or channels) could not hand one out.
fn pool_error(e: impl std::fmt::Display) -> BrokerError {
    BrokerError::Pool(e.to_string())
}

/// A handle to RabbitMQ, cheap to clone. It connects on first use and
/// replaces dead connections and channels by itself.
#[derive(Clone)]
pub struct Broker {
    connections: Pool<NodeManager>,
    channels: Pool<ChannelManager>,
    topology: Topology,
}

const POOL_TIMEOUT: Duration = Duration::from_secs(5);

impl Broker {
    /// `channels` bounds how many publishes wait for their confirm at once.
    /// `target` holds one node or a cluster's nodes (see [`connect`]).
    pub fn new(
        target: &AmqpTarget,
        topology: Topology,
        channels: usize,
    ) -> Result<Self, BrokerError> {
        // Long enough to try every node of a cluster in turn, with a margin.
        let connect_all = connect::CONNECT_TIMEOUT * target.nodes.len() as u32 + POOL_TIMEOUT;
        let connection_timeouts = Timeouts {
            wait: Some(POOL_TIMEOUT),
            create: Some(connect_all),
            recycle: Some(POOL_TIMEOUT),
        };
        // A channel waits for a connection (which may be made anew), then
        // declares the topology and opens.
        let timeouts = Timeouts {
            create: Some(POOL_TIMEOUT + connect_all + publisher::OPEN_TIMEOUT),
            ..connection_timeouts
        };
        let connections = Pool::builder(NodeManager::new(target.clone()))
            .max_size(2)
            .timeouts(connection_timeouts)
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(pool_error)?;
        let manager = ChannelManager::new(connections.clone(), topology.clone());
        let channels = Pool::builder(manager)
            .max_size(channels)
            .timeouts(timeouts)
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(pool_error)?;
        Ok(Self {
            connections,
            channels,
            topology,
        })
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// A live connection, for consumers that need their own channel.
    pub async fn connection(&self) -> Result<Object<NodeManager>, BrokerError> {
        self.connections.get().await.map_err(pool_error)
    }

    /// How many messages wait in `queue` (a passive declare: it creates nothing).
    pub async fn queue_depth(&self, queue: &str) -> Result<u32, BrokerError> {
        let conn = self.connection().await?;
        let channel = conn.create_channel().await?;
        let options = lapin::options::QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let declared = channel
            .queue_declare(queue.into(), options, lapin::types::FieldTable::default())
            .await?;
        let _ = channel.close(200, "ok".into()).await;
        Ok(declared.message_count())
    }

    /// Whether a connection to the broker can be had right now.
    pub async fn is_reachable(&self) -> bool {
        let probe = tokio::time::timeout(Duration::from_secs(2), self.connection());
        matches!(probe.await, Ok(Ok(conn)) if conn.status().connected())
    }
}
