//! The worker runtime: everything around a [`Handler`] that every worker
//! needs alike. [`run`] opens Postgres (applying migrations) and RabbitMQ,
//! serves health checks and metrics, consumes the handler's queue, and on
//! shutdown stops consuming, lets the deliveries in hand finish and be
//! settled, and returns. For each delivery it decodes the body, opens a
//! span with the request id, enforces `MAX_DELIVERIES`, waits out outages
//! in place and turns the handler's [`Failure`] into an ack, a requeue or a
//! dead letter. A worker is its handler and a short `main`.

mod config;
mod delivery;
mod handler;
mod turns;

#[cfg(test)]
mod tests;

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use sqlx::PgPool;

use self::delivery::Deliveries;
pub use self::{
    config::ConsumerConfig,
    handler::{Failure, Handler},
};
use crate::{
    broker::{consume, Broker},
    config::CommonConfig,
    crypto::Keyring,
    db, health,
    shutdown::Shutdown,
};

/// How long a starting worker waits for Postgres to apply migrations.
const MIGRATION_DEADLINE: Duration = Duration::from_secs(60);

/// What the runtime opens, for the handler to keep what it needs.
pub struct Resources {
    pub db: PgPool,
    pub broker: Broker,
    pub keyring: Keyring,
    pub shutdown: Shutdown,
}

/// Runs a worker until `shutdown` and its deliveries in hand are done:
/// `build` makes the handler from what the runtime opened. Run it under
/// [`crate::shutdown::drain_within`], which bounds the drain.
pub async fn run<H: Handler>(
    common: CommonConfig,
    consumer: ConsumerConfig,
    shutdown: Shutdown,
    build: impl FnOnce(Resources) -> anyhow::Result<H>,
) -> anyhow::Result<()> {
    let migrations = db::pool(&common.database_migration_url, 1)?;
    db::migrate(&migrations, MIGRATION_DEADLINE)
        .await
        .context("applying migrations")?;
    migrations.close().await;
    let db = db::pool(&common.database_url, common.db_max_connections)?;
    let broker = Broker::new(
        &common.amqp_url,
        common.topology.clone(),
        H::PUBLISH_CHANNELS,
    )?;
    let handler = build(Resources {
        db: db.clone(),
        broker: broker.clone(),
        keyring: common.keyring,
        shutdown: shutdown.clone(),
    })?;
    let probes = health::Probes {
        db,
        broker: broker.clone(),
    };
    let health_server = tokio::spawn(health::serve(
        consumer.health_addr,
        health::router(probes),
        shutdown.clone(),
    ));
    tracing::info!(
        queue = H::QUEUE,
        prefetch = consumer.prefetch,
        "worker starting"
    );
    let deliveries = Arc::new(Deliveries::new(
        handler,
        consumer.max_deliveries,
        shutdown.clone(),
    ));
    consume(
        broker,
        H::QUEUE,
        consumer.prefetch,
        shutdown,
        move |incoming| {
            let deliveries = Arc::clone(&deliveries);
            async move { deliveries.settle(incoming).await }
        },
    )
    .await;
    health_server
        .await
        .context("health server")?
        .context("health server")?;
    tracing::info!(queue = H::QUEUE, "worker stopped");
    Ok(())
}
