//! Webhooks as the Standard Webhooks specification has them: the event
//! types a partner may subscribe to, endpoint secrets (`whsec_<base64>`,
//! sealed at rest), and the signature of a delivery
//! (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`).

use base64::{engine::general_purpose::STANDARD, Engine as _};
use hmac::{Hmac, Mac};
use rand::{rngs::OsRng, RngCore};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::Sha256;
use uuid::Uuid;

use crate::crypto::{CryptoError, Keyring, Sealed};

/// Every event type an endpoint may subscribe to.
pub const EVENT_TYPES: [&str; 5] = [
    "registration.completed",
    "registration.rejected",
    "registration.failed",
    "patient.email_verified",
    "batch.completed",
];

/// The prefix of a secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// An endpoint's signing secret: `whsec_` and 32 random bytes in base64.
/// Its `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(SecretString);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

fn context(endpoint_id: Uuid) -> Vec<u8> {
    format!("webhook-secret:{endpoint_id}").into_bytes()
}

impl Secret {
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        Self(SecretString::from(format!(
            "{SECRET_PREFIX}{}",
            STANDARD.encode(key)
        )))
    }

    /// The value shown to the partner, once.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Sealed for the endpoint's row: bound to its id.
    pub fn seal(&self, keyring: &Keyring, endpoint_id: Uuid) -> Sealed {
        keyring.seal(self.expose().as_bytes(), &context(endpoint_id))
    }

    pub fn open(
        keyring: &Keyring,
        sealed: &Sealed,
        endpoint_id: Uuid,
    ) -> Result<Self, CryptoError> {
        let bytes = keyring.open(sealed, &context(endpoint_id))?;
        let text = String::from_utf8(bytes).map_err(|_| CryptoError::Malformed)?;
        let secret = Self(SecretString::from(text));
        // Fails closed: a secret that is not `whsec_` and base64 of at
        // least 24 bytes never signs (it would sign with an empty key).
        if secret.key().len() < 24 || !secret.expose().starts_with(SECRET_PREFIX) {
            return Err(CryptoError::Malformed);
        }
        Ok(secret)
    }

    /// The HMAC key: the base64 after the prefix, decoded.
    fn key(&self) -> Vec<u8> {
        let encoded = self
            .expose()
            .strip_prefix(SECRET_PREFIX)
            .unwrap_or(self.expose());
        STANDARD.decode(encoded).unwrap_or_default()
    }

    /// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key()).expect("HMAC accepts keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one signature per secret in use (two
/// during a rotation's grace period), space-separated.
pub fn signature_header(secrets: &[Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|secret| secret.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `webhook-id` of a delivery: stable across its retries.
pub fn message_id(delivery_id: Uuid) -> String {
    format!("msg_{}", delivery_id.simple())
}

/// A delivery's body: `{"type", "timestamp", "data"}`; ids, status and
/// field errors, no other PHI.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Payload {
    #[serde(rename = "type")]
    pub kind: String,
    pub timestamp: chrono::DateTime<chrono::Utc>,
    pub data: PayloadData,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct PayloadData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<Uuid>,
    /// `completed`, `rejected`, `failed`, `email_verified`, or a batch's
    /// `completed`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<crate::validation::FieldErrors>,
    /// The batch a registration came in (its own outcomes and
    /// `batch.completed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<Uuid>,
    /// `batch.completed`: how its items ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<BatchCounts>,
}

/// How the items of a settled batch ended: `total` items, of which
/// `invalid` were answered inline and the rest settled as counted.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct BatchCounts {
    pub total: u32,
    pub completed: u32,
    pub rejected: u32,
    pub failed: u32,
    pub invalid: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_signs_as_the_specification_s_example() {
        // The Standard Webhooks specification's example secret and message.
        let secret = Secret(SecretString::from(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
        ));
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_prefixed_random_and_seal_to_their_endpoint() {
        let a = Secret::generate();
        let b = Secret::generate();
        assert!(a.expose().starts_with(SECRET_PREFIX));
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.key().len(), 32);
        assert_eq!(format!("{a:?}"), "Secret(***)");
        let vars: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
        let keyring = Keyring::from_vars(&crate::config::Vars(&vars), crate::config::AppEnv::Test)
            .expect("the development keyring");
        let id = Uuid::new_v4();
        let sealed = a.seal(&keyring, id);
        assert_eq!(
            Secret::open(&keyring, &sealed, id).expect("opens").expose(),
            a.expose()
        );
        assert!(Secret::open(&keyring, &sealed, Uuid::new_v4()).is_err());
    }
}
