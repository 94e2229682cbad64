//! Sealing PHI and secrets with XChaCha20-Poly1305, for Postgres columns and
//! broker messages alike. Every value gets its own random 192-bit nonce and
//! carries the id of the key that sealed it, so keys can be rotated: retired
//! keys still open old values while new values use the current key.

use std::collections::HashMap;

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    AeadCore, Key, XChaCha20Poly1305, XNonce,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::config::{AppEnv, ConfigError, Vars};

/// A development-only key: refused in production.
const DEVELOPMENT_KEY: [u8; 32] = *b"dev-only-phi-key-not-for-prod!!!";

/// A sealed value as stored in a JSONB column or a message body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The id of the key that sealed it.
    pub kid: String,
    /// Base64 nonce.
    pub nonce: String,
    /// Base64 ciphertext with its tag.
    pub ct: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("no key with id {0:?}")]
    UnknownKey(String),
    #[error("the sealed value is malformed")]
    Malformed,
    #[error("the sealed value failed authentication")]
    Forged,
    #[error("the opened value is not the expected JSON")]
    Json,
}

/// The current key and any retired ones that still open old values.
pub struct Keyring {
    current: String,
    keys: HashMap<String, XChaCha20Poly1305>,
    /// Per key id, a MAC key derived from it (see [`Keyring::mac`]).
    macs: HashMap<String, [u8; 32]>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

fn decode_key(name: &'static str, b64: &str) -> Result<[u8; 32], ConfigError> {
    let bytes = B64
        .decode(b64.trim())
        .map_err(|_| ConfigError::new(name, "must be base64"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| ConfigError::new(name, "must decode to exactly 32 bytes"))
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The MAC key of a PHI key: an HMAC of a label of its own, so neither key
/// reveals the other.
fn mac_key(key: &[u8; 32]) -> [u8; 32] {
    use hmac::Mac;
    let mut mac =
        <HmacSha256 as hmac::Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(b"patient-registration/keyed-hash/v1");
    mac.finalize().into_bytes().into()
}

impl Keyring {
    /// `PHI_ENCRYPTION_KEY` (32 bytes, base64; required in production),
    /// `PHI_ENCRYPTION_KEY_ID` (default `k1`) and `PHI_ENCRYPTION_RETIRED_KEYS`
    /// (`id:base64,id:base64`).
    pub fn from_vars(vars: &Vars<'_>, app_env: AppEnv) -> Result<Self, ConfigError> {
        let current = vars.string_or("PHI_ENCRYPTION_KEY_ID", "k1");
        let key = match vars.get("PHI_ENCRYPTION_KEY") {
            Some(b64) => decode_key("PHI_ENCRYPTION_KEY", &b64)?,
            None if !app_env.is_production() => DEVELOPMENT_KEY,
            None => {
                return Err(ConfigError::new(
                    "PHI_ENCRYPTION_KEY",
                    "is required in production",
                ))
            }
        };
        let mut raw = HashMap::from([(current.clone(), key)]);
        for entry in vars
            .get("PHI_ENCRYPTION_RETIRED_KEYS")
            .unwrap_or_default()
            .split(',')
        {
            if entry.trim().is_empty() {
                continue;
            }
            let (kid, b64) = entry.split_once(':').ok_or_else(|| {
                ConfigError::new(
                    "PHI_ENCRYPTION_RETIRED_KEYS",
                    "entries must look like id:base64",
                )
            })?;
            raw.insert(
                kid.trim().to_owned(),
                decode_key("PHI_ENCRYPTION_RETIRED_KEYS", b64)?,
            );
        }
        Ok(Self {
            current,
            macs: raw
                .iter()
                .map(|(kid, k)| (kid.clone(), mac_key(k)))
                .collect(),
            keys: raw
                .into_iter()
                .map(|(kid, k)| (kid, XChaCha20Poly1305::new(Key::from_slice(&k))))
                .collect(),
        })
    }

    /// A keyed hash (HMAC-SHA256 under a key derived from the current PHI
    /// key) of `data`, and the id of the key: for short secrets that must be
    /// checked but never stored (a phone code), so that a copy of the
    /// database cannot test guesses without the key.
    pub fn mac(&self, data: &[u8]) -> (String, [u8; 32]) {
        use hmac::Mac;
        let mut mac = <HmacSha256 as hmac::Mac>::new_from_slice(&self.macs[&self.current])
            .expect("HMAC accepts keys of any length");
        mac.update(data);
        (self.current.clone(), mac.finalize().into_bytes().into())
    }

    /// Whether `tag` is [`Keyring::mac`] of `data` under key `kid`, compared
    /// in constant time; `false` for a key no longer held.
    pub fn verify_mac(&self, kid: &str, data: &[u8], tag: &[u8]) -> bool {
        use hmac::Mac;
        let Some(key) = self.macs.get(kid) else {
            return false;
        };
        let mut mac = <HmacSha256 as hmac::Mac>::new_from_slice(key)
            .expect("HMAC accepts keys of any length");
        mac.update(data);
        mac.verify_slice(tag).is_ok()
    }

    /// Seals `plaintext`, binding it to `context` (for example a column name
    /// and row id) so a sealed value cannot be moved to another place.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Sealed {
        let cipher = &self.keys[&self.current];
        // A thread-local CSPRNG (seeded and reseeded from the OS): a random
        // 192-bit nonce never repeats in practice, and no system call each.
        let nonce = XChaCha20Poly1305::generate_nonce(&mut rand::thread_rng());
        let ct = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .unwrap_or_default(); // encryption of an in-memory buffer cannot fail
        Sealed {
            kid: self.current.clone(),
            nonce: B64.encode(nonce),
            ct: B64.encode(ct),
        }
    }

    pub fn open(&self, sealed: &Sealed, context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let cipher = self
            .keys
            .get(&sealed.kid)
            .ok_or_else(|| CryptoError::UnknownKey(sealed.kid.clone()))?;
        let nonce = B64
            .decode(&sealed.nonce)
            .map_err(|_| CryptoError::Malformed)?;
        if nonce.len() != 24 {
            return Err(CryptoError::Malformed);
        }
        let ct = B64.decode(&sealed.ct).map_err(|_| CryptoError::Malformed)?;
        cipher
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &ct,
                    aad: context,
                },
            )
            .map_err(|_| CryptoError::Forged)
    }

    pub fn seal_json<T: Serialize>(&self, value: &T, context: &[u8]) -> Sealed {
        self.seal(&serde_json::to_vec(value).unwrap_or_default(), context)
    }

    pub fn open_json<T: DeserializeOwned>(
        &self,
        sealed: &Sealed,
        context: &[u8],
    ) -> Result<T, CryptoError> {
        serde_json::from_slice(&self.open(sealed, context)?).map_err(|_| CryptoError::Json)
    }

    /// Whether a value was sealed with a retired key and should be re-sealed.
    pub fn is_current(&self, sealed: &Sealed) -> bool {
        sealed.kid == self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(env: &[(&'static str, &'static str)]) -> Keyring {
        let map: HashMap<&str, &str> = env.iter().copied().collect();
        Keyring::from_vars(&Vars(&map), AppEnv::Test).expect("keyring")
    }

    const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const KEY_B: &str = "HxwdHhscGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";

    #[test]
    fn sealed_values_open_only_in_their_context() {
        let k = ring(&[("PHI_ENCRYPTION_KEY", KEY_A)]);
        let sealed = k.seal(b"asthma", b"patient:1");
        assert!(!sealed.ct.contains("asthma"));
        assert_eq!(k.open(&sealed, b"patient:1").ok(), Some(b"asthma".to_vec()));
        assert_eq!(k.open(&sealed, b"patient:2"), Err(CryptoError::Forged));
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let k = ring(&[]);
        assert_ne!(k.seal(b"x", b"").nonce, k.seal(b"x", b"").nonce);
    }

    #[test]
    fn retired_keys_still_open_old_values() {
        let old = ring(&[
            ("PHI_ENCRYPTION_KEY", KEY_A),
            ("PHI_ENCRYPTION_KEY_ID", "a"),
        ]);
        let sealed = old.seal(b"secret", b"c");
        let rotated = ring(&[
            ("PHI_ENCRYPTION_KEY", KEY_B),
            ("PHI_ENCRYPTION_KEY_ID", "b"),
            (
                "PHI_ENCRYPTION_RETIRED_KEYS",
                "a:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            ),
        ]);
        assert!(!rotated.is_current(&sealed));
        assert_eq!(rotated.open(&sealed, b"c").ok(), Some(b"secret".to_vec()));
    }

    #[test]
    fn keyed_hashes_check_only_under_their_key() {
        let a = ring(&[
            ("PHI_ENCRYPTION_KEY", KEY_A),
            ("PHI_ENCRYPTION_KEY_ID", "a"),
        ]);
        let (kid, tag) = a.mac(b"code:123456");
        assert_eq!(kid, "a");
        assert_eq!(a.mac(b"code:123456").1, tag, "deterministic");
        assert!(a.verify_mac("a", b"code:123456", &tag));
        assert!(!a.verify_mac("a", b"code:123457", &tag));
        assert!(!a.verify_mac("b", b"code:123456", &tag), "unknown key id");
        assert!(!a.verify_mac("a", b"code:123456", &tag[..31]));
        // Another key gives another tag; once retired, it still checks.
        let b = ring(&[
            ("PHI_ENCRYPTION_KEY", KEY_B),
            ("PHI_ENCRYPTION_KEY_ID", "b"),
        ]);
        assert_ne!(b.mac(b"code:123456").1, tag);
        let rotated = ring(&[
            ("PHI_ENCRYPTION_KEY", KEY_B),
            ("PHI_ENCRYPTION_KEY_ID", "b"),
            (
                "PHI_ENCRYPTION_RETIRED_KEYS",
                "a:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            ),
        ]);
        assert!(rotated.verify_mac("a", b"code:123456", &tag));
        // Not the sealing key itself.
        assert_ne!(tag.to_vec(), B64.decode(KEY_A).unwrap_or_default());
    }

    #[test]
    fn production_requires_a_well_formed_key() {
        let none: HashMap<&str, &str> = HashMap::new();
        let err = Keyring::from_vars(&Vars(&none), AppEnv::Production).err();
        assert_eq!(err.map(|e| e.name), Some("PHI_ENCRYPTION_KEY"));
        let short = HashMap::from([("PHI_ENCRYPTION_KEY", "c2hvcnQ=")]);
        let err = Keyring::from_vars(&Vars(&short), AppEnv::Production).err();
        assert_eq!(
            err.map(|e| e.reason),
            Some("must decode to exactly 32 bytes".into())
        );
    }
}
