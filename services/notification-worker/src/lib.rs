//! notification-worker: consumes `patient.created` (and resend requests),
//! issues a verification token (stored hashed), emails the link over SMTP,
//! records the delivery, and only then acks. The work of one event is
//! [`handler::Notifier`]; the rest is [`shared::worker`].

pub mod config;
mod handler;
mod mailer;
mod store;

use anyhow::Context;
use shared::{shutdown::Shutdown, worker};

use crate::{config::NotifierConfig, handler::Notifier, mailer::Mailer};

pub async fn run(config: NotifierConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    let NotifierConfig {
        common,
        smtp,
        public_base_url,
        token_ttl,
        consumer,
    } = config;
    worker::run(common, consumer, shutdown, |opened| {
        Ok(Notifier {
            db: opened.db,
            mailer: Mailer::new(&smtp).context("configuring SMTP")?,
            public_base_url,
            token_ttl,
            shutdown: opened.shutdown,
            holder: uuid::Uuid::new_v4(),
        })
    })
    .await
}
