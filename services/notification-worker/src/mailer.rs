//! The SMTP side: a pooled lettre transport and the verification email.

use std::time::Duration;

use lettre::{
    message::{header::ContentType, Mailbox},
    transport::smtp::{authentication::Credentials, PoolConfig},
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use secrecy::ExposeSecret;
use shared::token::VerificationToken;

use crate::config::{SmtpConfig, SmtpTls};

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

/// Who gets the email and what it says about them.
pub struct Recipient<'a> {
    pub email: &'a str,
    pub first_name: &'a str,
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
        let mut builder = builder
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

    /// Sends the verification email with the token link. The body is never
    /// logged: it holds the token.
    pub async fn send_verification(
        &self,
        to: &Recipient<'_>,
        token: &VerificationToken,
        public_base_url: &str,
        ttl: Duration,
    ) -> Result<(), MailError> {
        let link = format!("{public_base_url}/verify-email?token={}", token.expose());
        let hours = ttl.as_secs().div_ceil(3600);
        let body = format!(
            "Hello {name},\n\n\
             Please confirm your email address by opening this link:\n\n{link}\n\n\
             Or enter this verification code: {code}\n\n\
             The link expires in {hours} hour(s). If you did not register, you can ignore this email.\n",
            name = to.first_name,
            code = token.expose(),
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to.email.parse()?))
            .subject("Verify your email address")
            .header(ContentType::TEXT_PLAIN)
            .body(body)?;
        self.transport.send(message).await?;
        Ok(())
    }
}
