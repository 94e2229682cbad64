//! The SMTP side: a pooled lettre transport that sends a [`Letter`] as
//! multipart/alternative (plain text and HTML).

use std::time::Duration;

use lettre::{
    message::{Mailbox, MultiPart},
    transport::smtp::{
        authentication::Credentials,
        client::{Certificate, Tls, TlsParameters},
        PoolConfig,
    },
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use secrecy::ExposeSecret;

use crate::{
    config::{SmtpConfig, SmtpTls},
    letters::Letter,
};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("smtp: {}", smtp_summary(.0))]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("message: {0}")]
    Message(#[from] lettre::error::Error),
    #[error("address: {0}")]
    Address(#[from] lettre::address::AddressError),
}

/// An SMTP error as it may be logged: a server's reply keeps only its class
/// and code, because its text often echoes the recipient's address.
fn smtp_summary(e: &lettre::transport::smtp::Error) -> String {
    match e.status() {
        Some(code) if e.is_permanent() => format!("permanent error ({code})"),
        Some(code) => format!("transient error ({code})"),
        None if e.is_response() => "response error".to_owned(),
        None => e.to_string(),
    }
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(config: &SmtpConfig) -> Result<Self, MailError> {
        let builder = match config.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
            SmtpTls::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)?
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)?,
        };
        let mut builder = match (&config.ca, config.tls) {
            // `SMTP_CA_CERT`: the relay's certificate is verified against
            // this CA as well as the public roots.
            (Some(ca), SmtpTls::StartTls | SmtpTls::Tls) => {
                let parameters = TlsParameters::builder(config.host.clone())
                    .add_root_certificate(Certificate::from_pem(ca.pem.as_bytes())?)
                    .build()?;
                builder.tls(match config.tls {
                    SmtpTls::Tls => Tls::Wrapper(parameters),
                    _ => Tls::Required(parameters),
                })
            }
            _ => builder,
        };
        builder = builder
            .port(config.port)
            .timeout(Some(Duration::from_secs(15)))
            .pool_config(PoolConfig::new().max_size(8));
        if let Some((user, password)) = &config.credentials {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from: config.from.parse()?,
        })
    }

    /// Sends `letter` to the address `to`. Neither the bodies (they hold
    /// tokens) nor the address is ever logged.
    pub async fn send(&self, to: &str, letter: &Letter) -> Result<(), MailError> {
        self.transport.send(self.message(to, letter)?).await?;
        Ok(())
    }

    fn message(&self, to: &str, letter: &Letter) -> Result<Message, MailError> {
        Ok(Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to.parse()?))
            .subject(letter.subject)
            .multipart(MultiPart::alternative_plain_html(
                letter.text.clone(),
                letter.html.clone(),
            ))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pooled transport needs a runtime, even though these tests
    /// never connect.
    fn mailer() -> Mailer {
        Mailer::new(&SmtpConfig {
            host: "127.0.0.1".into(),
            port: 1025,
            tls: SmtpTls::None,
            credentials: None,
            from: "Patient Registration <no-reply@clinic.example>".into(),
            ca: None,
        })
        .expect("a mailer")
    }

    #[tokio::test]
    async fn a_letter_goes_out_as_plain_text_and_html_alternatives() {
        let letter = Letter {
            subject: "Reset your password",
            text: "Hello Jane,\n\nplain words\n".into(),
            html: "<!DOCTYPE html><p>Hello Jane,</p>".into(),
        };
        let message = mailer()
            .message("jane@example.com", &letter)
            .expect("a message");
        let raw = String::from_utf8(message.formatted()).expect("ASCII");
        assert!(raw.contains("Subject: Reset your password\r\n"), "{raw}");
        assert!(raw.contains("To: jane@example.com\r\n"), "{raw}");
        assert!(
            raw.contains("Content-Type: multipart/alternative;"),
            "{raw}"
        );
        let plain = raw.find("Content-Type: text/plain; charset=utf-8");
        let html = raw.find("Content-Type: text/html; charset=utf-8");
        assert!(plain.is_some() && html.is_some(), "{raw}");
        // The last alternative is the preferred one: HTML, plain text before it.
        assert!(plain < html, "{raw}");
        assert!(raw.contains("plain words") && raw.contains("<p>Hello Jane,</p>"));
    }

    #[tokio::test]
    async fn a_malformed_address_is_refused_before_sending() {
        let letter = Letter {
            subject: "Your password was changed",
            text: String::new(),
            html: String::new(),
        };
        assert!(matches!(
            mailer().message("not an address", &letter),
            Err(MailError::Address(_))
        ));
    }
}
