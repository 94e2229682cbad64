//! Passwords: strength rules and the confirmation check.

use secrecy::{ExposeSecret, SecretString};

/// Minimum length in Unicode characters.
pub const PASSWORD_MIN_CHARS: usize = 8;
/// bcrypt silently ignores input beyond 72 bytes; rejecting longer passwords
/// (rather than truncating) means what the patient typed is what is checked.
pub const PASSWORD_MAX_BYTES: usize = 72;

pub const PASSWORD_REQUIRED: &str = "Password is required";
pub const PASSWORD_TOO_SHORT: &str = "Password must contain at least 8 characters";
pub const PASSWORD_NO_UPPERCASE: &str = "Password must contain an uppercase letter";
pub const PASSWORD_NO_LOWERCASE: &str = "Password must contain a lowercase letter";
pub const PASSWORD_NO_NUMBER: &str = "Password must contain a number";
pub const PASSWORD_NO_SPECIAL: &str = "Password must contain a special character";
pub const PASSWORD_TOO_LONG: &str = "Password must be at most 72 bytes";
pub const PASSWORDS_DO_NOT_MATCH: &str = "Passwords do not match";

/// A password that met every strength rule. Held in a `SecretString` so it
/// is zeroised on drop; never trimmed, since whitespace is part of it.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// Checks every rule and returns one message per unmet rule.
    pub fn parse(raw: &str) -> Result<Self, Vec<String>> {
        // "Required" means non-empty after trimming, even though the stored
        // value itself is not trimmed.
        if raw.trim().is_empty() {
            return Err(vec![PASSWORD_REQUIRED.to_owned()]);
        }
        let rules: [(bool, &str); 6] = [
            (
                raw.chars().count() >= PASSWORD_MIN_CHARS,
                PASSWORD_TOO_SHORT,
            ),
            (raw.chars().any(char::is_uppercase), PASSWORD_NO_UPPERCASE),
            (raw.chars().any(char::is_lowercase), PASSWORD_NO_LOWERCASE),
            (raw.chars().any(char::is_numeric), PASSWORD_NO_NUMBER),
            (raw.chars().any(is_special), PASSWORD_NO_SPECIAL),
            (raw.len() <= PASSWORD_MAX_BYTES, PASSWORD_TOO_LONG),
        ];
        let messages: Vec<String> = rules
            .iter()
            .filter(|(ok, _)| !ok)
            .map(|(_, message)| (*message).to_owned())
            .collect();
        if messages.is_empty() {
            Ok(Self(SecretString::from(raw.to_owned())))
        } else {
            Err(messages)
        }
    }

    /// The plain-text password, for hashing only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// Anything printable that is not a letter or digit: punctuation, symbols,
/// and space (many password managers generate spaces).
fn is_special(c: char) -> bool {
    !c.is_alphanumeric() && !c.is_control() && (c == ' ' || !c.is_whitespace())
}

/// The confirmation must match the password byte for byte (no trimming).
pub fn check_confirmation(password: &str, confirm: &str) -> Result<(), String> {
    if password == confirm {
        Ok(())
    } else {
        Err(PASSWORDS_DO_NOT_MATCH.to_owned())
    }
}

// Never print the secret, not even its length.
impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn check(raw: &str) -> Result<(), Vec<String>> {
        Password::parse(raw).map(|p| assert_eq!(p.expose(), raw))
    }

    fn errs(messages: &[&str]) -> Result<(), Vec<String>> {
        Err(messages.iter().map(|m| (*m).to_owned()).collect())
    }

    #[test]
    fn table() {
        let cases: Vec<(String, Result<(), Vec<String>>)> = vec![
            ("SecurePassword123!".into(), Ok(())),
            ("Aa1!aaaa".into(), Ok(())),
            (" Aa1!aaa ".into(), Ok(())), // untrimmed, spaces count
            ("Aa1 aaaa".into(), Ok(())),  // space is a special character
            ("Ää1!ßßßß".into(), Ok(())),
            ("Aa1!aaa".into(), errs(&[PASSWORD_TOO_SHORT])),
            ("aa1!aaaa".into(), errs(&[PASSWORD_NO_UPPERCASE])),
            ("AA1!AAAA".into(), errs(&[PASSWORD_NO_LOWERCASE])),
            ("Aa!!aaaa".into(), errs(&[PASSWORD_NO_NUMBER])),
            ("Aa1aaaaa".into(), errs(&[PASSWORD_NO_SPECIAL])),
            ("".into(), errs(&[PASSWORD_REQUIRED])),
            ("        ".into(), errs(&[PASSWORD_REQUIRED])),
            (
                "a".into(),
                errs(&[
                    PASSWORD_TOO_SHORT,
                    PASSWORD_NO_UPPERCASE,
                    PASSWORD_NO_NUMBER,
                    PASSWORD_NO_SPECIAL,
                ]),
            ),
            (
                "!".into(),
                errs(&[
                    PASSWORD_TOO_SHORT,
                    PASSWORD_NO_UPPERCASE,
                    PASSWORD_NO_LOWERCASE,
                    PASSWORD_NO_NUMBER,
                ]),
            ),
            // 72 bytes exactly / 73 bytes.
            (format!("Aa1!{}", "a".repeat(68)), Ok(())),
            (
                format!("Aa1!{}", "a".repeat(69)),
                errs(&[PASSWORD_TOO_LONG]),
            ),
            // Multibyte: 'é' is 2 bytes. 4 + 34*2 = 72 bytes, 38 chars.
            (format!("Aa1!{}", "é".repeat(34)), Ok(())),
            // 4 + 34*2 + 1 = 73 bytes though only 39 characters.
            (
                format!("Aa1!{}a", "é".repeat(34)),
                errs(&[PASSWORD_TOO_LONG]),
            ),
            // 3-byte chars: 4 + 23*3 = 73 bytes.
            (
                format!("Aa1!{}", "€".repeat(23)),
                errs(&[PASSWORD_TOO_LONG]),
            ),
            (
                "a".repeat(80),
                errs(&[
                    PASSWORD_NO_UPPERCASE,
                    PASSWORD_NO_NUMBER,
                    PASSWORD_NO_SPECIAL,
                    PASSWORD_TOO_LONG,
                ]),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(check(&input), expected, "input {input:?}");
        }
    }

    #[test]
    fn confirmation() {
        assert!(check_confirmation("Aa1!aaaa", "Aa1!aaaa").is_ok());
        assert_eq!(
            check_confirmation("Aa1!aaaa", "Aa1!aaaa ").unwrap_err(),
            PASSWORDS_DO_NOT_MATCH
        );
    }

    #[test]
    fn debug_never_prints_the_value() {
        let secret = "SecurePassword123!";
        let password = Password::parse(secret).unwrap();
        let printed = format!("{password:?} {:?}", password.clone());
        assert_eq!(printed, "Password(***) Password(***)");
        assert!(!printed.contains(secret));
    }
}
