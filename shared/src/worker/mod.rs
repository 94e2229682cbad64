//! The worker runtime: everything around a [`Handler`] that every worker
//! needs alike. [`run`] opens Postgres (applying migrations) and RabbitMQ,
//! serves health checks and metrics, consumes the handler's queue, and on
//! shutdown stops consuming, lets the deliveries in hand finish and be
//! settled, and returns. For each delivery it decodes the body, opens a
//! span with the request id, enforces `MAX_DELIVERIES`, waits out outages
//! in place and turns the handler's [`Failure`] into an ack, a requeue or a
//! dead letter. A worker is its handler and a short `main`; a worker with
//! more than one queue is its [`Consumer`]s under [`run_all`].

mod config;
mod delivery;
mod handler;
mod turns;

#[cfg(test)]
mod tests;

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use futures_util::future::BoxFuture;
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
    let prefetch = consumer.prefetch;
    run_all(
        common,
        consumer,
        H::PUBLISH_CHANNELS,
        shutdown,
        move |opened| Ok(vec![Consumer::new(build(opened)?, prefetch)]),
    )
    .await
}

/// One queue's consumer, for a worker that consumes several queues in one
/// process (see [`run_all`]): a handler and how many of its messages it
/// holds at once.
pub struct Consumer {
    queue: &'static str,
    prefetch: u16,
    consume: Box<dyn FnOnce(Broker, u64, Shutdown) -> BoxFuture<'static, ()> + Send>,
}

impl Consumer {
    pub fn new<H: Handler>(handler: H, prefetch: u16) -> Self {
        Self {
            queue: H::QUEUE,
            prefetch,
            consume: Box::new(move |broker, max_deliveries, shutdown| {
                let deliveries =
                    Arc::new(Deliveries::new(handler, max_deliveries, shutdown.clone()));
                Box::pin(consume(
                    broker,
                    H::QUEUE,
                    prefetch,
                    shutdown,
                    move |incoming| {
                        let deliveries = Arc::clone(&deliveries);
                        async move { deliveries.settle(incoming).await }
                    },
                ))
            }),
        }
    }
}

/// [`run`] for a worker with several consumers side by side, each with its
/// own handler and prefetch, sharing one database pool, one broker (with
/// `publish_channels` confirm channels) and one health server. Returns once
/// every consumer has stopped and settled what it held.
pub async fn run_all(
    common: CommonConfig,
    consumer: ConsumerConfig,
    publish_channels: usize,
    shutdown: Shutdown,
    build: impl FnOnce(Resources) -> anyhow::Result<Vec<Consumer>>,
) -> anyhow::Result<()> {
    let migrations = db::pool(&common.database_migration, 1);
    db::migrate(&migrations, MIGRATION_DEADLINE)
        .await
        .context("applying migrations")?;
    migrations.close().await;
    let db = db::pool(&common.database, common.db_max_connections);
    let broker = Broker::new(&common.amqp, common.topology.clone(), publish_channels)?;
    let consumers = build(Resources {
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
    let mut running = Vec::with_capacity(consumers.len());
    for (
        n,
        Consumer {
            queue,
            prefetch,
            consume,
        },
    ) in consumers.into_iter().enumerate()
    {
        tracing::info!(queue, prefetch, "worker starting");
        // A consumer holds its connection for as long as it consumes: the
        // first shares the pool that publishes and answers health checks
        // (as a worker of one queue always has), each further one gets a
        // pool of its own so that it takes no connection from them.
        let consuming = if n == 0 {
            broker.clone()
        } else {
            Broker::new(&common.amqp, common.topology.clone(), 1)?
        };
        let stopped = consume(consuming, consumer.max_deliveries, shutdown.clone());
        running.push(async move {
            stopped.await;
            tracing::info!(queue, "worker stopped");
        });
    }
    futures_util::future::join_all(running).await;
    health_server
        .await
        .context("health server")?
        .context("health server")?;
    Ok(())
}
