//! Access tokens: HS256 JWTs signed with `JWT_SECRET`. Verification is
//! strict: exactly three parts, a header that says HS256 (so `alg: none`
//! and algorithm confusion are refused), a constant-time signature check,
//! and `exp`/`iat` in range. Each token names its session (`sid`) and the
//! session's generation (`gen`): the [`crate::extract::AuthPatient`]
//! extractor accepts it only while that session is live at that generation.

use std::time::Duration;

use axum::http::{header, HeaderMap};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine as _};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// The credential of `Authorization: Bearer <credential>` (scheme
/// case-insensitive), trimmed; an access token or a partner key.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credential.trim())
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    /// The session the token belongs to.
    pub sid: Uuid,
    /// The session's generation when the token was issued.
    pub gen: i32,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("unsupported algorithm")]
    Algorithm,
    #[error("bad signature")]
    Signature,
    #[error("expired")]
    Expired,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

pub struct Jwt {
    secret: SecretString,
    pub ttl: Duration,
}

/// Clock skew tolerated on `iat`.
const LEEWAY_SECS: i64 = 30;

impl Jwt {
    pub fn new(secret: SecretString, ttl: Duration) -> Self {
        Self { secret, ttl }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length.
        HmacSha256::new_from_slice(self.secret.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length")
    }

    pub fn issue(
        &self,
        patient_id: Uuid,
        session: crate::sessions::SessionRef,
        now: i64,
    ) -> String {
        let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = Claims {
            sub: patient_id,
            iat: now,
            exp: now + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2),
            jti: Uuid::new_v4(),
            sid: session.id,
            gen: session.generation,
        };
        let payload = B64.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let signing_input = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let signature = B64.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let (signing_input, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (header, payload) = signing_input.split_once('.').ok_or(TokenError::Malformed)?;
        if payload.contains('.') {
            return Err(TokenError::Malformed);
        }
        let header: Header = B64
            .decode(header)
            .ok()
            .and_then(|h| serde_json::from_slice(&h).ok())
            .ok_or(TokenError::Malformed)?;
        if header.alg != "HS256" {
            return Err(TokenError::Algorithm);
        }
        let signature = B64.decode(signature).map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::Signature)?;
        let claims: Claims = B64
            .decode(payload)
            .ok()
            .and_then(|p| serde_json::from_slice(&p).ok())
            .ok_or(TokenError::Malformed)?;
        if claims.exp <= now || claims.iat > now + LEEWAY_SECS {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt() -> Jwt {
        Jwt::new(
            SecretString::from("a-secret-of-at-least-thirty-two-bytes!"),
            Duration::from_secs(900),
        )
    }

    fn session() -> crate::sessions::SessionRef {
        crate::sessions::SessionRef {
            id: Uuid::from_u128(7),
            generation: 3,
        }
    }

    #[test]
    fn issued_tokens_verify_and_carry_the_claims() {
        let id = Uuid::new_v4();
        let token = jwt().issue(id, session(), 1_000);
        let claims = jwt().verify(&token, 1_001).expect("valid");
        assert_eq!((claims.sub, claims.iat, claims.exp), (id, 1_000, 1_900));
        assert_eq!((claims.sid, claims.gen), (Uuid::from_u128(7), 3));
    }

    #[test]
    fn bad_tokens_are_refused_for_the_right_reason() {
        let token = jwt().issue(Uuid::new_v4(), session(), 1_000);
        let (signing_input, _) = token.rsplit_once('.').expect("three parts");
        let (_, payload) = signing_input.split_once('.').expect("three parts");
        let none_header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let other = Jwt::new(
            SecretString::from("another-secret-of-thirty-two-bytes!!"),
            Duration::from_secs(900),
        );
        let mut tampered = token.clone();
        tampered.replace_range(signing_input.len() - 2..signing_input.len() - 1, "A");
        let cases = [
            (token.clone(), 1_900, TokenError::Expired),
            (
                format!("{none_header}.{payload}."),
                1_001,
                TokenError::Algorithm,
            ),
            (
                format!("{none_header}.{payload}"),
                1_001,
                TokenError::Malformed,
            ),
            (
                other.issue(Uuid::new_v4(), session(), 1_000),
                1_001,
                TokenError::Signature,
            ),
            (tampered, 1_001, TokenError::Signature),
            ("garbage".to_owned(), 1_001, TokenError::Malformed),
            (format!("{token}.extra"), 1_001, TokenError::Malformed),
            (
                jwt().issue(Uuid::new_v4(), session(), 5_000),
                1_001,
                TokenError::Expired,
            ),
        ];
        for (token, now, want) in cases {
            assert_eq!(jwt().verify(&token, now), Err(want.clone()), "{want:?}");
        }
    }
}
