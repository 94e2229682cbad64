//! Reading the SMTP sink (MailDev 3's REST API: `GET /api/email`). A
//! multipart/alternative email comes back with its plain-text part in
//! `text` and its HTML part in `html`.

use std::time::Duration;

use serde::Deserialize;

use crate::servers::servers;

#[derive(Debug, Clone, Deserialize)]
pub struct Email {
    pub id: String,
    #[serde(default)]
    pub subject: String,
    /// The plain-text part.
    #[serde(default, deserialize_with = "string_or_empty")]
    pub text: String,
    /// The HTML part; empty when the email has none.
    #[serde(default, deserialize_with = "string_or_empty")]
    pub html: String,
    #[serde(default)]
    pub to: Vec<Address>,
}

/// A part MailDev may give as a string, `null` or `false`: the text or "".
fn string_or_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s,
        _ => String::new(),
    })
}

#[derive(Debug, Clone, Deserialize)]
pub struct Address {
    pub address: String,
}

impl Email {
    /// The first token in the plain-text part: the one in its link (the
    /// verification email's code, after the link, is the same token).
    pub fn token(&self) -> Option<String> {
        let start = self.text.find("token=")? + "token=".len();
        let token: String = self.text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        (!token.is_empty()).then_some(token)
    }

    /// The first full URL in the plain-text part whose path is `path`
    /// (like `"/reset-password"`), with its query, as written.
    pub fn link(&self, path: &str) -> Option<String> {
        self.text
            .match_indices("http")
            .map(|(start, _)| url_at(&self.text[start..]))
            .find(|url| reqwest::Url::parse(url).is_ok_and(|u| u.path() == path))
            .map(str::to_owned)
    }
}

/// The URL that starts `text`: up to a space or a delimiter, without the
/// punctuation of the sentence around it.
fn url_at(text: &str) -> &str {
    let end = text
        .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\''))
        .unwrap_or(text.len());
    text[..end].trim_end_matches(['.', ',', ';', ':', ')', '!', '?'])
}

pub struct Inbox {
    base: String,
    http: reqwest::Client,
}

impl Inbox {
    pub fn from_env() -> Self {
        Self {
            base: servers().maildev_url.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    /// Every message the sink holds.
    pub async fn all(&self) -> reqwest::Result<Vec<Email>> {
        self.http
            .get(format!("{}/api/email", self.base))
            .send()
            .await?
            .json()
            .await
    }

    /// Every message the sink holds for `address` (case-insensitive).
    pub async fn to(&self, address: &str) -> Vec<Email> {
        let all = self
            .all()
            .await
            .expect("the SMTP sink's API lists messages as JSON");
        all.into_iter()
            .filter(|m| m.to.iter().any(|a| a.address.eq_ignore_ascii_case(address)))
            .collect()
    }
}
