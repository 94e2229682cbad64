//! Email verification tokens: 256 bits from the OS CSPRNG, URL-safe base64
//! for the link; only their SHA-256 is ever stored.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use rand::{rngs::OsRng, RngCore};
use sha2::{Digest, Sha256};

/// A freshly issued token. Its `Debug` never shows the value.
pub struct VerificationToken(String);

impl VerificationToken {
    pub fn generate() -> Self {
        Self(random_256_bits())
    }

    /// The value that goes into the email, and nowhere else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> [u8; 32] {
        hash_token(&self.0)
    }
}

impl std::fmt::Debug for VerificationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerificationToken(***)")
    }
}

/// 256 bits from the OS CSPRNG as unpadded URL-safe base64 (43 characters):
/// the body of verification tokens and partner API keys alike.
pub(crate) fn random_256_bits() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database stores and looks tokens up by.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_unique_and_url_safe() {
        let a = VerificationToken::generate();
        let b = VerificationToken::generate();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 43); // 256 bits in unpadded base64
        assert!(a
            .expose()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(format!("{a:?}"), "VerificationToken(***)");
    }

    #[test]
    fn the_hash_is_sha256_of_the_text() {
        let want = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        let got: String = hash_token("hello")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, want);
    }
}
