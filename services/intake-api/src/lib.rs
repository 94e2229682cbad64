//! intake-api: checks a registration's shape, records it, hands it to
//! RabbitMQ with a publisher confirm and answers 202 with a status URL.

pub mod config;
mod error;
mod outcomes;
mod prefer;
mod requests;
mod routes;

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use shared::{
    broker::{Broker, Topology},
    crypto::Keyring,
    db,
    shutdown::Shutdown,
};
use sqlx::PgPool;

use crate::config::IntakeConfig;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub broker: Broker,
    pub keyring: Arc<Keyring>,
    outcomes: outcomes::Outcomes,
}

/// Connects, migrates, binds and serves until `shutdown`; in-flight
/// requests finish before it returns.
pub async fn run(config: IntakeConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    let db = db::pool(
        &config.common.database_url,
        config.common.db_max_connections,
    )?;
    db::migrate(&db, Duration::from_secs(60))
        .await
        .context("applying migrations")?;
    let broker = Broker::new(
        &config.common.amqp_url,
        Topology::default(),
        config.publish_channels,
    )?;
    let outcomes = outcomes::Outcomes::default();
    outcomes
        .clone()
        .spawn_listener(db.clone(), shutdown.clone());
    let state = AppState {
        db,
        broker,
        keyring: Arc::new(config.common.keyring),
        outcomes,
    };
    let app = routes::router(state);
    let listener = tokio::net::TcpListener::bind(config.bind_addr)
        .await
        .with_context(|| format!("binding {}", config.bind_addr))?;
    tracing::info!(addr = %config.bind_addr, "intake-api listening");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.wait())
    .await?;
    tracing::info!("intake-api stopped");
    Ok(())
}
