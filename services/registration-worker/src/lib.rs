//! registration-worker: consumes `registration.requests`, validates each
//! request fully (uniqueness included), hashes the password with bcrypt,
//! stores the patient and publishes `patient.created`, acking last.

pub mod config;
mod handler;
mod hashing;
mod store;

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use shared::{
    broker::{consume, topology::REGISTRATION_QUEUE, Broker},
    db, health,
    shutdown::Shutdown,
};

use crate::{config::WorkerConfig, handler::Worker};

pub async fn run(config: WorkerConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    let db = db::pool(
        &config.common.database_url,
        config.common.db_max_connections,
    )?;
    db::migrate(&db, Duration::from_secs(60))
        .await
        .context("applying migrations")?;
    let broker = Broker::new(&config.common.amqp_url, config.common.topology.clone(), 4)?;
    let probes = health::Probes {
        db: db.clone(),
        broker: broker.clone(),
    };
    let health_server = tokio::spawn(health::serve(
        config.health_addr,
        health::router(probes),
        shutdown.clone(),
    ));
    let worker = Arc::new(Worker {
        db,
        broker: broker.clone(),
        keyring: config.common.keyring,
        bcrypt_cost: config.bcrypt_cost,
        max_deliveries: config.max_deliveries,
        shutdown: shutdown.clone(),
    });
    tracing::info!(
        bcrypt_cost = config.bcrypt_cost,
        prefetch = config.prefetch,
        "registration-worker starting"
    );
    consume(
        broker,
        REGISTRATION_QUEUE,
        config.prefetch,
        shutdown,
        move |incoming| {
            let worker = Arc::clone(&worker);
            async move { worker.handle(incoming).await }
        },
    )
    .await;
    health_server
        .await
        .context("health server")?
        .context("health server")?;
    tracing::info!("registration-worker stopped");
    Ok(())
}
