//! webhook-worker: tells partners what became of the registrations they
//! submitted. Two consumers in one process:
//!
//! - the fan-out ([`fanout`]) turns each outcome on `webhook.events` into
//!   one delivery per subscribed endpoint of the submitting partner and
//!   publishes each delivery's first attempt;
//! - the attempts ([`attempts`]) on `webhook.attempts` POST a signed
//!   payload ([`sender`], only to public addresses: [`target`],
//!   [`address`]), record every attempt in batches ([`recorder`]) and
//!   schedule retries in RabbitMQ's own delay queues ([`retries`],
//!   [`schedule`]).
//!
//! The rest (health, metrics, acks, redeliveries, the drain) is
//! [`shared::worker`].

mod address;
mod attempts;
pub mod config;
mod fanout;
mod recorder;
mod retries;
pub mod schedule;
mod sender;
mod store;
mod target;

use anyhow::Context;
use shared::{
    shutdown::Shutdown,
    worker::{self, Consumer},
};

use crate::{
    attempts::Attempts, config::WebhookConfig, fanout::Fanout, recorder::Recorder,
    retries::Retries, sender::Sender, target::TargetPolicy,
};

/// Confirm channels for the first attempts and the retries in flight.
const PUBLISH_CHANNELS: usize = 4;
/// Outcomes fanned out at once: each is a few statements and publishes.
const MOST_FANOUTS: u16 = 16;

pub async fn run(config: WebhookConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    let WebhookConfig {
        common,
        consumer,
        delivery,
    } = config;
    if delivery.allow_private_targets {
        tracing::warn!(
            "WEBHOOK_ALLOW_PRIVATE_TARGETS: webhooks may go to private and loopback addresses"
        );
    }
    let prefetch = consumer.prefetch;
    worker::run_all(
        common,
        consumer,
        PUBLISH_CHANNELS,
        shutdown,
        move |opened| {
            let retries = Retries::new(opened.broker.clone(), delivery.schedule);
            tokio::spawn(retries.clone().declare_and_measure(opened.shutdown.clone()));
            let policy = TargetPolicy {
                https_only: delivery.https_only,
                allow_private: delivery.allow_private_targets,
            };
            let fanout = Fanout {
                db: opened.db.clone(),
                broker: opened.broker,
            };
            let attempts = Attempts {
                recorder: Recorder::spawn(opened.db.clone(), delivery.disable_after),
                sender: Sender::new(delivery.timeout, policy)
                    .context("building the HTTP client")?,
                db: opened.db,
                keyring: opened.keyring,
                retries,
                shutdown: opened.shutdown,
            };
            Ok(vec![
                Consumer::new(fanout, prefetch.min(MOST_FANOUTS)),
                Consumer::new(attempts, prefetch),
            ])
        },
    )
    .await
}
