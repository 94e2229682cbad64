//! The Standard Webhooks verification, written from the specification's
//! text: what a partner's receiver does with each request.

use base64::{engine::general_purpose::STANDARD, Engine as _};
use e2e::receiver::Received;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The Standard Webhooks verification, from the specification: the signed
/// content is `{webhook-id}.{webhook-timestamp}.{body}`; the key is the
/// base64 after the secret's `whsec_` prefix; each space-separated
/// `v1,<base64 HMAC-SHA256>` in `webhook-signature` is a candidate, compared
/// in constant time; a timestamp more than five minutes from `now` is
/// refused (replays).
fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> bool {
    let Ok(timestamp) = timestamp.parse::<i64>() else {
        return false;
    };
    if (now - timestamp).abs() > 5 * 60 {
        return false;
    }
    let Some(key) = secret
        .strip_prefix("whsec_")
        .and_then(|k| STANDARD.decode(k).ok())
    else {
        return false;
    };
    signatures.split(' ').any(|candidate| {
        let Some(signature) = candidate
            .strip_prefix("v1,")
            .and_then(|s| STANDARD.decode(s).ok())
        else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        mac.verify_slice(&signature).is_ok()
    })
}

pub(super) fn verifies(secret: &str, request: &Received, body: &[u8], now: i64) -> bool {
    verify(
        secret,
        request.header("webhook-id"),
        request.header("webhook-timestamp"),
        request.header("webhook-signature"),
        body,
        now,
    )
}
