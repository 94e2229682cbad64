//! Reading the SMTP sink (MailDev 3's REST API: `GET /api/email`).

use serde::Deserialize;

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
            base: std::env::var("TEST_MAILDEV_URL")
                .unwrap_or_else(|_| "http://127.0.0.1:1080".into()),
            http: reqwest::Client::new(),
        }
    }

    /// Every message the sink holds for `address` (case-insensitive).
    pub async fn to(&self, address: &str) -> Vec<Email> {
        let all: Vec<Email> = self
            .http
            .get(format!("{}/api/email", self.base))
            .send()
            .await
            .expect("the SMTP sink's API answers")
            .json()
            .await
            .expect("the SMTP sink lists messages as JSON");
        all.into_iter()
            .filter(|m| m.to.iter().any(|a| a.address.eq_ignore_ascii_case(address)))
            .collect()
    }
}
