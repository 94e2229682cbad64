//! notification-worker: consumes patient events (`patient.created`, resend
//! and forgot-password requests, password changes), issues the token an
//! email carries (stored hashed), emails it over SMTP as plain text and
//! HTML, records the delivery, and only then acks. The work of one event is
//! [`handler::Notifier`]; the words are [`letters`]; the rest is
//! [`shared::worker`].

pub mod config;
mod email_change;
mod handler;
mod letters;
mod mailer;
mod notice;
mod phone;
pub mod sms;
mod store;
mod wording;

use anyhow::Context;
use shared::{shutdown::Shutdown, worker};

use crate::{
    config::NotifierConfig, handler::Notifier, mailer::Mailer, phone::PhoneCodes, sms::SmsTransport,
};

pub async fn run(config: NotifierConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    let NotifierConfig {
        common,
        smtp,
        public_base_url,
        ttl,
        sms,
        phone_code_ttl,
        consumer,
    } = config;
    worker::run(common, consumer, shutdown, |opened| {
        Ok(Notifier {
            db: opened.db,
            mailer: Mailer::new(&smtp).context("configuring SMTP")?,
            public_base_url,
            ttl,
            phone: PhoneCodes {
                transport: SmsTransport::new(sms).context("configuring the SMS transport")?,
                keyring: opened.keyring,
                ttl: phone_code_ttl,
            },
            shutdown: opened.shutdown,
            holder: uuid::Uuid::new_v4(),
        })
    })
    .await
}
