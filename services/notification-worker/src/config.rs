//! notification-worker's configuration, parsed once at start.

use std::{net::SocketAddr, time::Duration};

use secrecy::SecretString;
use shared::{
    config::{CommonConfig, ConfigError, Source, Vars},
    transport::{read_ca_pem, CaCert, PlaintextPolicy},
    worker::ConsumerConfig,
};

/// How the SMTP connection is secured (`SMTP_TLS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    None,
    StartTls,
    Tls,
}

pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub credentials: Option<(String, SecretString)>,
    pub from: String,
    /// `SMTP_CA_CERT`: a CA the relay's certificate may chain to.
    pub ca: Option<CaCert>,
}

pub struct NotifierConfig {
    pub common: CommonConfig,
    pub smtp: SmtpConfig,
    /// `PUBLIC_BASE_URL`: every link in an email points there, and only there.
    pub public_base_url: String,
    /// How long the emailed tokens stay valid.
    pub ttl: TokenTtl,
    /// `SMS_TRANSPORT` and its settings (see [`crate::sms`]).
    pub sms: crate::sms::SmsConfig,
    /// `PHONE_CODE_TTL`, default 10 minutes: how long a texted code works.
    pub phone_code_ttl: Duration,
    /// `HEALTH_ADDR` (default `127.0.0.1:8002`), `WORKER_PREFETCH`
    /// (default 8) and `MAX_DELIVERIES`.
    pub consumer: ConsumerConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTtl {
    /// `VERIFICATION_TOKEN_TTL`, default 24 h.
    pub verification: Duration,
    /// `PASSWORD_RESET_TOKEN_TTL`, default 1 h.
    pub password_reset: Duration,
}

impl NotifierConfig {
    pub fn from_env(source: &dyn Source) -> Result<Self, ConfigError> {
        let vars = Vars(source);
        let common = CommonConfig::from_vars(&vars)?;
        Ok(Self {
            smtp: smtp(&vars, common.plaintext)?,
            public_base_url: vars
                .string_or("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
                .trim_end_matches('/')
                .to_owned(),
            ttl: TokenTtl {
                verification: vars
                    .duration_or("VERIFICATION_TOKEN_TTL", Duration::from_secs(24 * 3600))?,
                password_reset: vars
                    .duration_or("PASSWORD_RESET_TOKEN_TTL", Duration::from_secs(3600))?,
            },
            sms: crate::sms::SmsConfig::from_vars(&vars, common.app_env, common.plaintext)?,
            phone_code_ttl: vars.duration_or("PHONE_CODE_TTL", Duration::from_secs(600))?,
            consumer: ConsumerConfig::from_vars(
                &vars,
                SocketAddr::from(([127, 0, 0, 1], 8002)),
                8,
            )?,
            common,
        })
    }
}

fn smtp(vars: &Vars<'_>, plaintext: PlaintextPolicy) -> Result<SmtpConfig, ConfigError> {
    let host = vars.string_or("SMTP_HOST", "127.0.0.1");
    let tls = match vars.get("SMTP_TLS").as_deref() {
        None | Some("none") => SmtpTls::None,
        Some("starttls") => SmtpTls::StartTls,
        Some("tls") => SmtpTls::Tls,
        Some(other) => {
            return Err(ConfigError::new(
                "SMTP_TLS",
                format!("{other:?} is not one of none, starttls, tls"),
            ))
        }
    };
    // Emails carry names and one-time links.
    plaintext.check(
        "SMTP_TLS",
        &host,
        tls != SmtpTls::None,
        "set SMTP_TLS=starttls or tls",
    )?;
    let default_port = match tls {
        SmtpTls::None => 1025,
        SmtpTls::StartTls => 587,
        SmtpTls::Tls => 465,
    };
    let credentials = match (vars.get("SMTP_USERNAME"), vars.get("SMTP_PASSWORD")) {
        (Some(user), Some(password)) => Some((user, SecretString::from(password))),
        (None, None) => None,
        (Some(_), None) => {
            return Err(ConfigError::new(
                "SMTP_PASSWORD",
                "is required when SMTP_USERNAME is set",
            ))
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                "SMTP_USERNAME",
                "is required when SMTP_PASSWORD is set",
            ))
        }
    };
    let from = vars.string_or("SMTP_FROM", "Patient Registration <no-reply@localhost>");
    if from.parse::<lettre::message::Mailbox>().is_err() {
        return Err(ConfigError::new(
            "SMTP_FROM",
            format!("{from:?} is not a mailbox like Name <a@b.c>"),
        ));
    }
    Ok(SmtpConfig {
        host,
        port: vars.parse_or("SMTP_PORT", default_port)?,
        tls,
        credentials,
        from,
        ca: read_ca_pem(vars, "SMTP_CA_CERT")?,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn err_name(pairs: &[(&'static str, &'static str)]) -> Option<&'static str> {
        let mut env: HashMap<&str, &str> = pairs.iter().copied().collect();
        env.insert("APP_ENV", "test");
        NotifierConfig::from_env(&env).err().map(|e| e.name)
    }

    #[test]
    fn malformed_values_are_named() {
        assert_eq!(err_name(&[("SMTP_TLS", "ssl")]), Some("SMTP_TLS"));
        assert_eq!(err_name(&[("SMTP_PORT", "smtp")]), Some("SMTP_PORT"));
        assert_eq!(err_name(&[("SMTP_USERNAME", "u")]), Some("SMTP_PASSWORD"));
        assert_eq!(
            err_name(&[("SMTP_FROM", "not a mailbox")]),
            Some("SMTP_FROM")
        );
        assert_eq!(
            err_name(&[("VERIFICATION_TOKEN_TTL", "soon")]),
            Some("VERIFICATION_TOKEN_TTL")
        );
        assert_eq!(
            err_name(&[("PASSWORD_RESET_TOKEN_TTL", "1 hour")]),
            Some("PASSWORD_RESET_TOKEN_TTL")
        );
        assert_eq!(err_name(&[]), None);
    }

    #[test]
    fn production_refuses_plaintext_smtp_to_another_host() {
        let cases = [
            (vec![("SMTP_HOST", "mail.internal")], Some("SMTP_TLS")),
            (
                vec![("SMTP_HOST", "mail.internal"), ("SMTP_TLS", "starttls")],
                None,
            ),
            (
                vec![("SMTP_HOST", "mail.internal"), ("SMTP_TLS", "tls")],
                None,
            ),
            (vec![("SMTP_HOST", "127.0.0.1")], None),
            (
                vec![
                    ("SMTP_HOST", "mail.internal"),
                    ("ALLOW_PLAINTEXT_TRANSPORT", "true"),
                ],
                None,
            ),
        ];
        for (pairs, want) in cases {
            let env: HashMap<&str, &str> = pairs.iter().copied().collect();
            let vars = Vars(&env);
            let policy = PlaintextPolicy::from_vars(&vars, shared::config::AppEnv::Production)
                .expect("policy");
            assert_eq!(smtp(&vars, policy).err().map(|e| e.name), want, "{pairs:?}");
        }
    }

    #[test]
    fn verification_links_last_a_day_and_reset_links_an_hour_by_default() {
        let env = HashMap::from([("APP_ENV", "test")]);
        let config = NotifierConfig::from_env(&env).expect("config");
        assert_eq!(config.ttl.verification, Duration::from_secs(86_400));
        assert_eq!(config.ttl.password_reset, Duration::from_secs(3600));
        assert_eq!(config.smtp.port, 1025);
    }

    #[test]
    fn the_token_lifetimes_can_be_set() {
        let env = HashMap::from([
            ("APP_ENV", "test"),
            ("VERIFICATION_TOKEN_TTL", "2d"),
            ("PASSWORD_RESET_TOKEN_TTL", "15m"),
        ]);
        let config = NotifierConfig::from_env(&env).expect("config");
        assert_eq!(config.ttl.verification, Duration::from_secs(2 * 86_400));
        assert_eq!(config.ttl.password_reset, Duration::from_secs(15 * 60));
    }
}
