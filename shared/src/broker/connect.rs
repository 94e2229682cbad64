//! Connections to RabbitMQ: to one node, or to whichever node of a cluster
//! answers. A new connection starts at the node that last worked and moves
//! on to the next when that one refuses or does not answer in time, so a
//! dead node costs one failed attempt, not an outage. `amqps://` addresses
//! are verified against the public roots plus `AMQP_CA_CERT`.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use lapin::{tcp::OwnedTLSConfig, ConnectionProperties, DefaultConnectionBuilder};

use super::BrokerError;
use crate::transport::AmqpTarget;

/// How long one node may take to accept a connection (TCP, TLS, AMQP).
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Makes connections for the pool, trying the nodes in turn.
pub struct NodeManager {
    target: AmqpTarget,
    tls: OwnedTLSConfig,
    /// The node to try first: the last one that worked, or the one after
    /// the last one that failed.
    next: AtomicUsize,
}

impl NodeManager {
    pub fn new(target: AmqpTarget) -> Self {
        let tls = OwnedTLSConfig {
            identity: None,
            cert_chain: target.ca.as_ref().map(|ca| ca.pem.clone()),
        };
        Self {
            target,
            tls,
            next: AtomicUsize::new(0),
        }
    }

    async fn connect(&self, node: usize) -> Result<lapin::Connection, BrokerError> {
        let uri = self.target.nodes[node].clone();
        let builder = DefaultConnectionBuilder::new()?
            .with_uri(uri)
            .with_properties(ConnectionProperties::default())
            .with_tls_config(self.tls.clone());
        match tokio::time::timeout(CONNECT_TIMEOUT, builder.connect()).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(BrokerError::Pool("connecting timed out".into())),
        }
    }
}

impl managed::Manager for NodeManager {
    type Type = lapin::Connection;
    type Error = BrokerError;

    async fn create(&self) -> Result<lapin::Connection, BrokerError> {
        let count = self.target.nodes.len();
        let first = self.next.load(Ordering::Relaxed) % count;
        let mut last_error = None;
        for node in (first..first + count).map(|n| n % count) {
            // Moved on before the attempt: a caller that gives up while a
            // node does not answer (a readiness probe) leaves the next try
            // to start at the next node, not at the silent one again.
            self.next.store(node + 1, Ordering::Relaxed);
            match self.connect(node).await {
                Ok(connection) => {
                    self.next.store(node, Ordering::Relaxed);
                    if node != first {
                        tracing::info!(node = node + 1, "connected to another RabbitMQ node");
                    }
                    return Ok(connection);
                }
                Err(error) => {
                    if count > 1 {
                        tracing::warn!(node = node + 1, %error, "RabbitMQ node unreachable; trying the next");
                    }
                    last_error = Some(error);
                }
            }
        }
        Err(last_error
            .unwrap_or_else(|| BrokerError::Pool("no RabbitMQ address configured".into())))
    }

    async fn recycle(
        &self,
        conn: &mut lapin::Connection,
        _: &Metrics,
    ) -> RecycleResult<BrokerError> {
        if conn.status().connected() {
            Ok(())
        } else {
            Err(RecycleError::message("connection is closed"))
        }
    }
}
