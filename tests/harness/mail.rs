//! Reading the SMTP sink (MailDev 3's REST API: `GET /api/email`).

use std::time::Duration;

use serde::Deserialize;

use crate::servers::servers;

#[derive(Debug, Clone, Deserialize)]
pub struct Email {
    pub id: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub to: Vec<Address>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Address {
    pub address: String,
}

impl Email {
    /// The token in the verification link.
    pub fn token(&self) -> Option<String> {
        let start = self.text.find("token=")? + "token=".len();
        let token: String = self.text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        (!token.is_empty()).then_some(token)
    }
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
