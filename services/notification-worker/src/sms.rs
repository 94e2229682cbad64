//! Text messages, through the transport `SMS_TRANSPORT` names:
//!
//! - `twilio`: Twilio's Messages REST API (`POST
//!   {TWILIO_API_BASE_URL}/2010-04-01/Accounts/{sid}/Messages.json`, form
//!   fields `To`, `From`, `Body`, basic auth with the account SID and auth
//!   token). The base URL is configurable, so any compatible provider works.
//! - `email` (development): the text goes to the SMTP sink as an email to
//!   `<E.164 digits>@sms.invalid`, so the whole flow shows in MailDev.
//!
//! Neither the number nor the text (it holds a code) is ever logged.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use shared::{
    config::{AppEnv, ConfigError, Vars},
    transport::PlaintextPolicy,
};

use crate::{letters::Letter, mailer::Mailer};

pub const DEFAULT_TWILIO_API: &str = "https://api.twilio.com";
/// The subject of a text message delivered by email.
pub const EMAIL_SUBJECT: &str = "Text message";

/// `SMS_TRANSPORT` and what it needs.
pub enum SmsConfig {
    Twilio {
        /// `TWILIO_API_BASE_URL`, without a trailing `/`.
        base_url: String,
        /// `TWILIO_ACCOUNT_SID`.
        account_sid: String,
        /// `TWILIO_AUTH_TOKEN`.
        auth_token: SecretString,
        /// `SMS_FROM`: the sending number (E.164) or sender id.
        from: String,
    },
    Email,
}

impl SmsConfig {
    /// `email` unless `SMS_TRANSPORT` says otherwise. Production must name
    /// its transport: no deployment falls back to texts by email unawares.
    pub fn from_vars(
        vars: &Vars<'_>,
        app_env: AppEnv,
        plaintext: PlaintextPolicy,
    ) -> Result<Self, ConfigError> {
        let transport = vars.get("SMS_TRANSPORT");
        match transport.as_deref() {
            None if app_env.is_production() => Err(ConfigError::new(
                "SMS_TRANSPORT",
                "is required in production: twilio (or email, which delivers texts to the SMTP server)",
            )),
            None | Some("email") => Ok(Self::Email),
            Some("twilio") => Ok(Self::Twilio {
                base_url: twilio_base_url(vars, plaintext)?,
                account_sid: vars.required("TWILIO_ACCOUNT_SID")?,
                auth_token: SecretString::from(vars.required("TWILIO_AUTH_TOKEN")?),
                from: vars.required("SMS_FROM")?,
            }),
            Some(other) => Err(ConfigError::new(
                "SMS_TRANSPORT",
                format!("{other:?} is not one of twilio, email"),
            )),
        }
    }
}

/// `TWILIO_API_BASE_URL`: texts hold codes, so plain http only to this machine.
fn twilio_base_url(vars: &Vars<'_>, plaintext: PlaintextPolicy) -> Result<String, ConfigError> {
    const NAME: &str = "TWILIO_API_BASE_URL";
    let raw = vars.string_or(NAME, DEFAULT_TWILIO_API);
    // The URL may carry credentials: the message never quotes it.
    let url = reqwest::Url::parse(&raw)
        .map_err(|e| ConfigError::new(NAME, format!("is not a URL: {e}")))?;
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" => {}
        "http" => plaintext.check(NAME, host, false, "use https://")?,
        other => return Err(ConfigError::new(NAME, format!("{other}: is not http(s)"))),
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// Worth trying again: the provider or the network failed.
    #[error("sms: {0}")]
    Transient(String),
    /// The provider refused this message itself (a 4xx other than 408 and
    /// 429): sending it again would be refused again.
    #[error("sms refused by the provider ({0})")]
    Refused(u16),
}

pub enum SmsTransport {
    Twilio {
        client: reqwest::Client,
        url: String,
        account_sid: String,
        auth_token: SecretString,
        from: String,
    },
    Email,
}

impl SmsTransport {
    pub fn new(config: SmsConfig) -> Result<Self, reqwest::Error> {
        Ok(match config {
            SmsConfig::Twilio {
                base_url,
                account_sid,
                auth_token,
                from,
            } => Self::Twilio {
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(15))
                    .redirect(reqwest::redirect::Policy::none())
                    .build()?,
                url: format!("{base_url}/2010-04-01/Accounts/{account_sid}/Messages.json"),
                account_sid,
                auth_token,
                from,
            },
            SmsConfig::Email => Self::Email,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Twilio { .. } => "twilio",
            Self::Email => "email",
        }
    }

    /// Sends `text` to the E.164 number `to`.
    pub async fn send(&self, mailer: &Mailer, to: &str, text: &str) -> Result<(), SmsError> {
        match self {
            Self::Twilio {
                client,
                url,
                account_sid,
                auth_token,
                from,
            } => {
                let response = client
                    .post(url)
                    .basic_auth(account_sid, Some(auth_token.expose_secret()))
                    .form(&[("To", to), ("From", from.as_str()), ("Body", text)])
                    .send()
                    .await
                    // The error's text may carry the URL, never the number or the body.
                    .map_err(|e| SmsError::Transient(e.without_url().to_string()))?;
                classify(response.status().as_u16())
            }
            Self::Email => mailer
                .send(&email_address(to), &letter(to, text))
                .await
                .map_err(|e| SmsError::Transient(e.to_string())),
        }
    }
}

/// A provider's answer: 2xx sent; 408, 429 and 5xx worth retrying; any
/// other status a refusal of this message.
fn classify(status: u16) -> Result<(), SmsError> {
    match status {
        200..=299 => Ok(()),
        408 | 429 | 500..=599 => Err(SmsError::Transient(format!("status {status}"))),
        _ => Err(SmsError::Refused(status)),
    }
}

/// Where the `email` transport delivers a text for `number`.
pub fn email_address(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    format!("{digits}@sms.invalid")
}

fn letter(to: &str, text: &str) -> Letter {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    Letter {
        subject: EMAIL_SUBJECT,
        text: format!("To: {to}\n\n{text}\n"),
        html: format!(
            "<!DOCTYPE html><p>To: {}</p><pre>{}</pre>",
            escape(to),
            escape(text)
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&'static str, &'static str)], env: AppEnv) -> Result<SmsConfig, String> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        let vars = Vars(&map);
        let plaintext = PlaintextPolicy::from_vars(&vars, env).map_err(|e| e.name.to_owned())?;
        SmsConfig::from_vars(&vars, env, plaintext).map_err(|e| e.name.to_owned())
    }

    #[test]
    fn the_transport_is_chosen_and_checked_at_start() {
        assert!(matches!(
            config(&[], AppEnv::Development),
            Ok(SmsConfig::Email)
        ));
        assert_eq!(
            config(&[], AppEnv::Production).err().as_deref(),
            Some("SMS_TRANSPORT")
        );
        assert!(matches!(
            config(&[("SMS_TRANSPORT", "email")], AppEnv::Production),
            Ok(SmsConfig::Email)
        ));
        assert_eq!(
            config(&[("SMS_TRANSPORT", "carrier-pigeon")], AppEnv::Development)
                .err()
                .as_deref(),
            Some("SMS_TRANSPORT")
        );
        let twilio = [
            ("SMS_TRANSPORT", "twilio"),
            ("TWILIO_ACCOUNT_SID", "AC123"),
            ("TWILIO_AUTH_TOKEN", "secret"),
            ("SMS_FROM", "+15550001111"),
        ];
        for missing in ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "SMS_FROM"] {
            let partial: Vec<_> = twilio
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            assert_eq!(
                config(&partial, AppEnv::Production).err().as_deref(),
                Some(missing)
            );
        }
        let mut with_base = twilio.to_vec();
        with_base.push(("TWILIO_API_BASE_URL", "http://127.0.0.1:9/"));
        match config(&with_base, AppEnv::Production) {
            Ok(SmsConfig::Twilio { base_url, .. }) => assert_eq!(base_url, "http://127.0.0.1:9"),
            _ => panic!("a twilio transport"),
        }
        let mut plain_remote = twilio.to_vec();
        plain_remote.push(("TWILIO_API_BASE_URL", "http://sms.example.com"));
        assert_eq!(
            config(&plain_remote, AppEnv::Production).err().as_deref(),
            Some("TWILIO_API_BASE_URL")
        );
        assert!(config(&plain_remote, AppEnv::Development).is_ok());
    }

    #[test]
    fn provider_answers_are_classified() {
        let cases = [
            (200, "ok"),
            (201, "ok"),
            (400, "refused"),
            (401, "refused"),
            (404, "refused"),
            (408, "transient"),
            (429, "transient"),
            (500, "transient"),
            (503, "transient"),
        ];
        for (status, want) in cases {
            let got = match classify(status) {
                Ok(()) => "ok",
                Err(SmsError::Refused(_)) => "refused",
                Err(SmsError::Transient(_)) => "transient",
            };
            assert_eq!(got, want, "{status}");
        }
    }

    #[test]
    fn the_email_transport_writes_to_the_numbers_digits() {
        assert_eq!(
            email_address("+1 (234) 567-8901"),
            "12345678901@sms.invalid"
        );
        let letter = letter("+12345678901", "code <123456> & more");
        assert!(letter.text.contains("code <123456> & more"));
        assert!(letter.html.contains("code &lt;123456&gt; &amp; more"));
    }
}
