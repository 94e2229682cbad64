//! registration-worker: consumes `registration.requests`, validates each
//! request fully (uniqueness included), hashes the password with bcrypt,
//! stores the patient and publishes `patient.created`, acking last. The
//! work of one message is [`handler::Registrar`]; the rest is
//! [`shared::worker`].

pub mod config;
mod handler;
mod store;

use shared::{password::PasswordHasher, shutdown::Shutdown, worker};

use crate::{config::WorkerConfig, handler::Registrar};

pub async fn run(config: WorkerConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    tracing::info!(
        bcrypt_cost = config.bcrypt_cost,
        "registration-worker starting"
    );
    let hasher = PasswordHasher::new(config.bcrypt_cost);
    worker::run(config.common, config.consumer, shutdown, |opened| {
        Ok(Registrar {
            db: opened.db,
            broker: opened.broker,
            keyring: opened.keyring,
            hasher,
        })
    })
    .await
}
