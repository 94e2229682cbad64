//! Phone verification codes: six digits from the OS CSPRNG, sent by SMS,
//! kept only as a keyed hash ([`Keyring::mac`]) bound to their code's row.
//!
//! [`Keyring::mac`]: crate::crypto::Keyring::mac

use rand::{rngs::OsRng, Rng};
use uuid::Uuid;

/// Digits in a code.
pub const DIGITS: usize = 6;
/// Checks one code allows; the next answers 429.
pub const MAX_CHECKS: i32 = 5;
/// Codes a patient may be sent in [`SEND_WINDOW_SECS`].
pub const MAX_SENDS: i64 = 3;
pub const SEND_WINDOW_SECS: i64 = 3600;

/// A fresh code, uniformly from 000000 to 999999.
pub fn generate() -> String {
    format!(
        "{:0width$}",
        OsRng.gen_range(0..1_000_000u32),
        width = DIGITS
    )
}

/// What is hashed: the code bound to its row, so a hash copied to another
/// row (or patient) checks nothing.
pub fn mac_input(code_id: Uuid, code: &str) -> Vec<u8> {
    format!("phone-code:{code_id}:{code}").into_bytes()
}

/// A code as typed: exactly six ASCII digits once surrounding spaces are
/// removed; anything else is no code at all.
pub fn parse(raw: &str) -> Option<&str> {
    let code = raw.trim();
    (code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

/// The text message that carries a code.
pub fn sms_text(code: &str, ttl_minutes: u64) -> String {
    format!(
        "Your Patient Registration verification code is {code}. It expires in {ttl_minutes} \
         minutes. Never share it: we will never ask you for it."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> = (0..200).map(|_| generate()).collect();
        assert!(codes.len() > 190, "200 draws from a million repeat rarely");
        for code in &codes {
            assert_eq!(parse(code), Some(code.as_str()));
        }
    }

    #[test]
    fn only_six_digits_are_a_code() {
        let cases = [
            ("123456", Some("123456")),
            (" 012345 ", Some("012345")),
            ("12345", None),
            ("1234567", None),
            ("12345a", None),
            ("١٢٣٤٥٦", None),
            ("", None),
            ("12 456", None),
        ];
        for (raw, want) in cases {
            assert_eq!(parse(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn the_hash_input_binds_the_row() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_ne!(mac_input(a, "123456"), mac_input(b, "123456"));
        assert_ne!(mac_input(a, "123456"), mac_input(a, "123457"));
    }

    #[test]
    fn the_message_carries_the_code_and_its_lifetime() {
        let text = sms_text("042917", 10);
        assert!(
            text.contains("042917") && text.contains("10 minutes"),
            "{text}"
        );
        assert!(text.len() <= 160, "one SMS segment: {}", text.len());
    }
}
