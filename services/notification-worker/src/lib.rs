//! notification-worker: consumes `patient.created`, issues a verification
//! token (stored hashed), emails the link over SMTP, records the delivery,
//! and only then acks.

pub mod config;
mod handler;
mod mailer;
mod store;

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use shared::{
    broker::{consume, topology::NOTIFICATION_QUEUE, Broker},
    db, health,
    shutdown::Shutdown,
};

use crate::{config::NotifierConfig, handler::Notifier, mailer::Mailer};

pub async fn run(config: NotifierConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    let db = db::pool(
        &config.common.database_url,
        config.common.db_max_connections,
    )?;
    db::migrate(&db, Duration::from_secs(60))
        .await
        .context("applying migrations")?;
    let broker = Broker::new(&config.common.amqp_url, config.common.topology.clone(), 2)?;
    let mailer = Mailer::new(&config.smtp).context("configuring SMTP")?;
    let probes = health::Probes {
        db: db.clone(),
        broker: broker.clone(),
    };
    let health_server = tokio::spawn(health::serve(
        config.health_addr,
        health::router(probes),
        shutdown.clone(),
    ));
    let notifier = Arc::new(Notifier {
        db,
        mailer,
        public_base_url: config.public_base_url,
        token_ttl: config.token_ttl,
        max_deliveries: config.max_deliveries,
        shutdown: shutdown.clone(),
        holder: uuid::Uuid::new_v4(),
        in_process: handler::InProcess::default(),
    });
    tracing::info!(prefetch = config.prefetch, "notification-worker starting");
    consume(
        broker,
        NOTIFICATION_QUEUE,
        config.prefetch,
        shutdown,
        move |incoming| {
            let notifier = Arc::clone(&notifier);
            async move { notifier.handle(incoming).await }
        },
    )
    .await;
    health_server
        .await
        .context("health server")?
        .context("health server")?;
    tracing::info!("notification-worker stopped");
    Ok(())
}
