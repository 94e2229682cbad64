//! Email addresses.

use serde::{Deserialize, Serialize};
use validator::ValidateEmail;

/// Longest address accepted, in characters (the SMTP path limit, RFC 5321).
pub const EMAIL_MAX_CHARS: usize = 254;

const INVALID: &str = "Email is not a valid email address";

/// A syntactically valid address, trimmed and lowercased so uniqueness
/// checks treat `Jane@Example.com` and `jane@example.com` as the same person.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Validates `raw`, returning every failing rule.
    pub fn parse(raw: &str) -> Result<Self, Vec<String>> {
        let value = raw.trim().to_lowercase();
        if value.is_empty() {
            return Err(vec!["Email is required".to_owned()]);
        }
        let mut messages = Vec::new();
        if !is_valid_format(&value) {
            messages.push(INVALID.to_owned());
        }
        if value.chars().count() > EMAIL_MAX_CHARS {
            messages.push(format!(
                "Email must be at most {EMAIL_MAX_CHARS} characters"
            ));
        }
        if messages.is_empty() {
            Ok(Self(value))
        } else {
            Err(messages)
        }
    }

    /// The normalised (trimmed, lowercased) address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// HTML5 address syntax via `validator`, plus a dot in the domain: a bare
/// host such as `user@localhost` is legal but never a patient's mailbox, and
/// accepting it would only produce undeliverable confirmation emails.
fn is_valid_format(value: &str) -> bool {
    if !value.validate_email() {
        return false;
    }
    match value.rsplit_once('@') {
        Some((_, domain)) => {
            domain.starts_with('[')
                || (domain.contains('.') && !domain.ends_with('.') && !domain.starts_with('.'))
        }
        None => false,
    }
}

// Addresses are PHI: keep them out of logs.
impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Email(***)")
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).map_err(|m| m.join("; "))
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A syntactically valid address of exactly `len` characters (254 or
    /// 255): 64-char local part, labels within the 63-char label limit.
    fn address_of_len(len: usize) -> String {
        let first_label = "b".repeat(len - 194);
        let address = format!(
            "{}@{first_label}.{}.{}.com",
            "a".repeat(64),
            "c".repeat(60),
            "d".repeat(63)
        );
        assert_eq!(address.chars().count(), len);
        address
    }

    #[test]
    fn table() {
        let too_long = "Email must be at most 254 characters".to_string();
        let cases: Vec<(String, Result<&str, Vec<String>>)> = vec![
            ("jane.smith@email.com".into(), Ok("jane.smith@email.com")),
            ("  Jane.Smith@Email.COM ".into(), Ok("jane.smith@email.com")),
            ("a+tag@sub.example.org".into(), Ok("a+tag@sub.example.org")),
            ("".into(), Err(vec!["Email is required".into()])),
            ("  ".into(), Err(vec!["Email is required".into()])),
            ("plainaddress".into(), Err(vec![INVALID.into()])),
            ("@example.com".into(), Err(vec![INVALID.into()])),
            ("jane@".into(), Err(vec![INVALID.into()])),
            ("jane@localhost".into(), Err(vec![INVALID.into()])),
            ("jane@example.".into(), Err(vec![INVALID.into()])),
            ("jane smith@example.com".into(), Err(vec![INVALID.into()])),
            ("jane@@example.com".into(), Err(vec![INVALID.into()])),
            ("jane@exa mple.com".into(), Err(vec![INVALID.into()])),
        ];
        for (input, expected) in cases {
            let got = Email::parse(&input).map(|e| e.as_str().to_owned());
            assert_eq!(got, expected.map(str::to_owned), "input {input:?}");
        }

        let at_limit = address_of_len(254);
        assert_eq!(Email::parse(&at_limit).unwrap().as_str(), at_limit);
        let over = address_of_len(255);
        assert_eq!(Email::parse(&over).unwrap_err(), vec![too_long.clone()]);
        // Both rules fail at once when the address is also malformed.
        let both = format!("{} {}", "x".repeat(250), "@a.com");
        assert_eq!(
            Email::parse(&both).unwrap_err(),
            vec![INVALID.into(), too_long]
        );
    }

    #[test]
    fn debug_is_redacted() {
        let email = Email::parse("jane@example.com").unwrap();
        assert_eq!(format!("{email:?}"), "Email(***)");
        assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
    }
}
