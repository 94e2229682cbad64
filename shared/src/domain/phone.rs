//! Phone numbers in E.164 form.

use serde::{Deserialize, Serialize};

/// Fewest digits accepted (after the optional `+`).
pub const PHONE_MIN_DIGITS: usize = 8;
/// Most digits accepted: the E.164 maximum.
pub const PHONE_MAX_DIGITS: usize = 15;

/// A phone number normalised to E.164 with a leading `+`, e.g. `+1234567890`.
/// Normalising means `1234567890` and `+1 (234) 567-890` collide in the
/// uniqueness check as they should.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Validates `raw` with messages labelled "Phone number".
    pub fn parse(raw: &str) -> Result<Self, Vec<String>> {
        Self::parse_labeled(raw, "Phone number")
    }

    /// Validates `raw` with messages prefixed by `label`, so the emergency
    /// contact's phone gets "Emergency contact phone ..." messages.
    pub fn parse_labeled(raw: &str, label: &str) -> Result<Self, Vec<String>> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(vec![format!("{label} is required")]);
        }
        normalise(trimmed).map(Self).ok_or_else(|| {
            vec![format!(
                "{label} must be in international format, e.g. +1234567890"
            )]
        })
    }

    /// The E.164 form, always starting with `+`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Strips the visual separators people type (spaces, dots, dashes,
/// brackets), then requires an optional `+` and 8-15 digits, the first not 0
/// (E.164 country codes never start with 0; a leading 0 is a national trunk
/// prefix, meaning the country code is missing).
fn normalise(raw: &str) -> Option<String> {
    let compact: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
        .collect();
    let digits = compact.strip_prefix('+').unwrap_or(&compact);
    let valid = (PHONE_MIN_DIGITS..=PHONE_MAX_DIGITS).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    valid.then(|| format!("+{digits}"))
}

// Phone numbers are PHI: keep them out of logs.
impl std::fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PhoneNumber(***)")
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).map_err(|m| m.join("; "))
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn table() {
        let bad = || {
            Err(vec![
                "Phone number must be in international format, e.g. +1234567890".to_string(),
            ])
        };
        let cases: Vec<(&str, Result<&str, Vec<String>>)> = vec![
            ("+1234567890", Ok("+1234567890")),
            ("1234567890", Ok("+1234567890")),
            (" +1 (234) 567-890 ", Ok("+1234567890")),
            ("+44.20.7946.0958", Ok("+442079460958")),
            ("+12345678", Ok("+12345678")),              // 8 digits
            ("+1234567", bad()),                         // 7 digits
            ("123456789012345", Ok("+123456789012345")), // 15 digits
            ("+1234567890123456", bad()),                // 16 digits
            ("+0234567890", bad()),                      // leading 0
            ("0234567890", bad()),
            ("++1234567890", bad()),
            ("+12345abc890", bad()),
            ("+1234567890+", bad()),
            ("+１２３４５６７８９０", bad()), // full-width digits
            ("1234_567890", bad()),
            ("", Err(vec!["Phone number is required".into()])),
            ("  ", Err(vec!["Phone number is required".into()])),
            ("- ()", bad()),
        ];
        for (input, expected) in cases {
            let got = PhoneNumber::parse(input).map(|p| p.as_str().to_owned());
            assert_eq!(got, expected.map(str::to_owned), "input {input:?}");
        }
    }

    #[test]
    fn labeled_messages_and_redaction() {
        assert_eq!(
            PhoneNumber::parse_labeled("12", "Emergency contact phone").unwrap_err(),
            vec!["Emergency contact phone must be in international format, e.g. +1234567890"]
        );
        let phone = PhoneNumber::parse("+1234567890").unwrap();
        assert_eq!(format!("{phone:?}"), "PhoneNumber(***)");
        assert_eq!(serde_json::to_string(&phone).unwrap(), "\"+1234567890\"");
    }
}
