//! Person names (first name, last name).

use serde::{Deserialize, Serialize};

use super::text::name_rules;

/// Minimum name length in Unicode characters, after trimming.
pub const NAME_MIN_CHARS: usize = 2;
/// Maximum name length in Unicode characters, after trimming.
pub const NAME_MAX_CHARS: usize = 50;

/// A trimmed name of 2 to 50 Unicode characters: letters of any script,
/// combining marks, spaces, apostrophes, hyphens and periods, never a
/// control or format character (see `text`). Lengths count `char`s so "Zoë"
/// and "李明" are measured as a person reads them.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PersonName(String);

impl PersonName {
    /// Validates `raw`, reporting messages prefixed with `label`
    /// (e.g. "First name"). Returns every failing rule.
    pub fn parse(raw: &str, label: &str) -> Result<Self, Vec<String>> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(vec![format!("{label} is required")]);
        }
        let mut messages = Vec::new();
        let len = value.chars().count();
        if !(NAME_MIN_CHARS..=NAME_MAX_CHARS).contains(&len) {
            messages.push(format!(
                "{label} must be between {NAME_MIN_CHARS} and {NAME_MAX_CHARS} characters"
            ));
        }
        messages.extend(name_rules(value, label));
        if messages.is_empty() {
            Ok(Self(value.to_owned()))
        } else {
            Err(messages)
        }
    }

    /// The trimmed name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// Names are PHI: keep them out of logs even when a struct is `{:?}`-printed.
impl std::fmt::Debug for PersonName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersonName(***)")
    }
}

impl TryFrom<String> for PersonName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value, "Name").map_err(|m| m.join("; "))
    }
}

impl From<PersonName> for String {
    fn from(value: PersonName) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn table() {
        let ok = |s: &str| PersonName::parse(s, "First name").map(|n| n.as_str().to_owned());
        let len_msg = "First name must be between 2 and 50 characters".to_string();
        let ctl_msg = "First name must not contain control or format characters".to_string();
        let chars_msg =
            "First name may contain only letters, spaces, apostrophes, hyphens and periods"
                .to_string();
        let cases: Vec<(String, Result<String, Vec<String>>)> = vec![
            ("Jane".into(), Ok("Jane".into())),
            ("  Jane  ".into(), Ok("Jane".into())),
            ("Zoë".into(), Ok("Zoë".into())),
            ("李明".into(), Ok("李明".into())),
            ("Jo".into(), Ok("Jo".into())),
            ("Zoe\u{308}".into(), Ok("Zoe\u{308}".into())),
            ("O'Brien-Smith".into(), Ok("O'Brien-Smith".into())),
            ("O\u{2019}Brien".into(), Ok("O\u{2019}Brien".into())),
            ("Jr.".into(), Ok("Jr.".into())),
            ("José María".into(), Ok("José María".into())),
            ("Nguyễn".into(), Ok("Nguyễn".into())),
            (
                "Nguye\u{302}\u{303}n".into(),
                Ok("Nguye\u{302}\u{303}n".into()),
            ),
            ("Jane2".into(), Err(vec![chars_msg.clone()])),
            ("jane@example.com".into(), Err(vec![chars_msg.clone()])),
            ("<b>Jane</b>".into(), Err(vec![chars_msg.clone()])),
            ("Jane 😀".into(), Err(vec![chars_msg.clone()])),
            ("😀".into(), Err(vec![len_msg.clone(), chars_msg.clone()])),
            ("Ja\u{202e}ne".into(), Err(vec![ctl_msg.clone()])),
            ("Ja\u{200b}ne".into(), Err(vec![ctl_msg.clone()])),
            ("Ja\u{200d}ne".into(), Err(vec![ctl_msg.clone()])),
            ("\u{feff}Jane".into(), Err(vec![ctl_msg.clone()])),
            ("Ja\u{ad}ne".into(), Err(vec![ctl_msg.clone()])),
            ("J2\u{200b}".into(), Err(vec![ctl_msg.clone(), chars_msg])),
            ("J".into(), Err(vec![len_msg.clone()])),
            ("李".into(), Err(vec![len_msg.clone()])),
            (" J ".into(), Err(vec![len_msg.clone()])),
            ("a".repeat(50), Ok("a".repeat(50))),
            ("é".repeat(50), Ok("é".repeat(50))),
            ("a".repeat(51), Err(vec![len_msg.clone()])),
            ("李".repeat(51), Err(vec![len_msg.clone()])),
            ("".into(), Err(vec!["First name is required".into()])),
            ("   ".into(), Err(vec!["First name is required".into()])),
            ("Ja\u{0}ne".into(), Err(vec![ctl_msg.clone()])),
            ("Ja\nne".into(), Err(vec![ctl_msg.clone()])),
            ("J\u{7}".into(), Err(vec![ctl_msg.clone()])),
            ("\u{1b}".into(), Err(vec![len_msg.clone(), ctl_msg.clone()])),
            (format!("{}\t", "a".repeat(51)), Err(vec![len_msg.clone()])),
            (
                format!("{}\tb", "a".repeat(50)),
                Err(vec![len_msg, ctl_msg]),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(ok(&input), expected, "input {input:?}");
        }
    }

    #[test]
    fn debug_is_redacted_and_serde_round_trips() {
        let name = PersonName::parse("Jane", "First name").unwrap();
        assert_eq!(format!("{name:?}"), "PersonName(***)");
        let json = serde_json::to_string(&name).unwrap();
        assert_eq!(json, "\"Jane\"");
        assert_eq!(serde_json::from_str::<PersonName>(&json).unwrap(), name);
        assert!(serde_json::from_str::<PersonName>("\"J\"").is_err());
    }
}
