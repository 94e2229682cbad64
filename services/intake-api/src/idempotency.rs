//! `Idempotency-Key` on register (IETF httpapi draft, as Stripe does it):
//! the first request with a key claims it; a retry with the same payload
//! gets the same request back; a different payload is refused (422); a
//! retry while the first is still being accepted gets 409.

use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::Sha256;
use sqlx::PgPool;
use uuid::Uuid;

/// What a key says about a request that carries it.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// First use: go on, then [`accepted`] or [`release`].
    New,
    /// Seen before with this payload: answer with this request.
    Replay(Uuid),
    /// Seen before with another payload.
    Mismatch,
    /// The first request with this key is still being accepted.
    InProgress,
}

/// How long a claim may stay `accepting` before a retry may take it over
/// (its holder died between the row and the confirm).
const ABANDONED_AFTER: &str = "30 seconds";

/// The key from the header: 1 to 255 printable ASCII characters, quotes of
/// the draft's structured-field form removed.
pub fn parse_key(raw: &str) -> Option<&str> {
    let key = raw.trim();
    let key = key
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .unwrap_or(key);
    let ok = (1..=255).contains(&key.len()) && key.bytes().all(|b| (0x20..0x7f).contains(&b));
    ok.then_some(key)
}

/// The fingerprint key derived from `JWT_SECRET` when `IDEMPOTENCY_SECRET`
/// is unset: an HMAC of a label of its own, so neither key reveals the other.
pub fn derive_secret(jwt_secret: &str) -> String {
    let mut mac =
        HmacSha256::new_from_slice(jwt_secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(b"patient-registration/idempotency-fingerprint/v1");
    hex(&mac.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 under the server's `key` of the body with object keys
/// sorted: the same payload fingerprints the same whatever order its fields
/// came in, and a stored fingerprint (it covers the password) is no use for
/// testing guesses without the key.
pub fn fingerprint(key: &SecretString, body: &Value) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key.expose_secret().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(&canonical(body));
    mac.finalize().into_bytes().into()
}

/// The unkeyed SHA-256 fingerprint that keys stored before 2026-11-30 carry.
/// It is only compared, never stored: a retry of such a key within its TTL
/// still replays. Remove once `IDEMPOTENCY_KEY_TTL` has passed since then.
pub fn legacy_fingerprint(body: &Value) -> [u8; 32] {
    use sha2::Digest;
    Sha256::digest(canonical(body)).into()
}

/// The body with object keys sorted, as bytes.
fn canonical(body: &Value) -> Vec<u8> {
    fn write(value: &Value, out: &mut Vec<u8>) {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                out.push(b'{');
                for (k, v) in entries {
                    out.extend(serde_json::to_vec(k).unwrap_or_default());
                    out.push(b':');
                    write(v, out);
                    out.push(b',');
                }
                out.push(b'}');
            }
            Value::Array(items) => {
                out.push(b'[');
                for item in items {
                    write(item, out);
                    out.push(b',');
                }
                out.push(b']');
            }
            scalar => out.extend(serde_json::to_vec(scalar).unwrap_or_default()),
        }
    }
    let mut canonical = Vec::new();
    write(body, &mut canonical);
    canonical
}

pub async fn claim(
    db: &PgPool,
    scope: &str,
    key: &str,
    print: &[u8; 32],
    legacy: &[u8; 32],
    ttl: Duration,
) -> sqlx::Result<Claim> {
    let claimed: Option<bool> = sqlx::query_scalar(&format!(
        "INSERT INTO idempotency_keys (scope, key, fingerprint, status) VALUES ($1, $2, $3, 'accepting') \
         ON CONFLICT (scope, key) DO UPDATE \
            SET fingerprint = EXCLUDED.fingerprint, status = 'accepting', request_id = NULL, created_at = now() \
          WHERE idempotency_keys.created_at < now() - $4::interval \
             OR (idempotency_keys.status = 'accepting' \
                 AND idempotency_keys.created_at < now() - interval '{ABANDONED_AFTER}' \
                 AND idempotency_keys.fingerprint = EXCLUDED.fingerprint) \
         RETURNING true"
    ))
    .bind(scope)
    .bind(key)
    .bind(print.as_slice())
    .bind(format!("{} seconds", ttl.as_secs()))
    .fetch_optional(db)
    .await?;
    if claimed.is_some() {
        return Ok(Claim::New);
    }
    let (stored, status, request_id): (Vec<u8>, String, Option<Uuid>) = sqlx::query_as(
        "SELECT fingerprint, status, request_id FROM idempotency_keys WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_one(db)
    .await?;
    let same = stored == print || stored == legacy;
    Ok(match (same, status.as_str(), request_id) {
        (false, _, _) => Claim::Mismatch,
        (true, "accepted", Some(id)) => Claim::Replay(id),
        _ => Claim::InProgress,
    })
}

pub async fn accepted(db: &PgPool, scope: &str, key: &str, request_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE idempotency_keys SET status = 'accepted', request_id = $3 WHERE scope = $1 AND key = $2")
        .bind(scope)
        .bind(key)
        .bind(request_id)
        .execute(db)
        .await
        .map(drop)
}

/// Frees a key whose request was not accepted, so a retry can use it.
pub async fn release(db: &PgPool, scope: &str, key: &str) -> sqlx::Result<()> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status = 'accepting'",
    )
    .bind(scope)
    .bind(key)
    .execute(db)
    .await
    .map(drop)
}

/// Deletes keys older than the TTL; run now and then.
pub async fn sweep(db: &PgPool, ttl: Duration) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < now() - $1::interval")
        .bind(format!("{} seconds", ttl.as_secs()))
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use sha2::Digest;

    use super::*;

    #[test]
    fn keys_are_printable_ascii_up_to_255() {
        let long = "k".repeat(256);
        let cases = [
            ("abc-123", Some("abc-123")),
            ("\"quoted\"", Some("quoted")),
            ("", None),
            ("é", None),
            (long.as_str(), None),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_key(raw), want, "{raw}");
        }
    }

    #[test]
    fn fingerprints_ignore_field_order_but_not_values() {
        let key = SecretString::from("a-fingerprint-key-of-at-least-32-bytes");
        let fingerprint = |body: &Value| fingerprint(&key, body);
        let a = json!({"a": 1, "b": {"c": [1, 2], "d": "x"}});
        let b = json!({"b": {"d": "x", "c": [1, 2]}, "a": 1});
        let c = json!({"b": {"d": "y", "c": [1, 2]}, "a": 1});
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
        assert_ne!(
            fingerprint(&json!({"a": [1, 2]})),
            fingerprint(&json!({"a": [2, 1]}))
        );
    }

    /// A dump of the table is no password oracle: without the key, the
    /// fingerprint of a guessed body is not the stored one.
    #[test]
    fn fingerprints_need_the_key() {
        let body = json!({"email": "a@b.example", "password": "Guess123!"});
        let ours = SecretString::from("a-fingerprint-key-of-at-least-32-bytes");
        let theirs = SecretString::from("another-key-an-attacker-might-try!!!!");
        assert_ne!(fingerprint(&ours, &body), fingerprint(&theirs, &body));
        let unkeyed: [u8; 32] =
            Sha256::digest(br#"{"email":"a@b.example","password":"Guess123!",}"#).into();
        assert_ne!(fingerprint(&ours, &body), unkeyed);
        assert_ne!(
            derive_secret("jwt-secret-one-of-32-bytes-or-more!!"),
            derive_secret("jwt-secret-two-of-32-bytes-or-more!!")
        );
        assert_eq!(derive_secret("x").len(), 64);
    }
}
