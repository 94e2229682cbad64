//! Gender, as a closed set of values.

use serde::{Deserialize, Serialize};

pub const GENDER_INVALID: &str = "Gender must be one of: male, female, other, prefer_not_to_say";

/// The accepted gender values; serialised in `snake_case` like the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Male,
    Female,
    Other,
    PreferNotToSay,
}

impl Gender {
    /// Every variant, in API order.
    pub const ALL: [Gender; 4] = [
        Gender::Male,
        Gender::Female,
        Gender::Other,
        Gender::PreferNotToSay,
    ];

    /// Accepts exactly the API spellings (after trimming); matching is
    /// case-sensitive because the contract lists lowercase values only.
    pub fn parse(raw: &str) -> Result<Self, Vec<String>> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(vec!["Gender is required".to_owned()]);
        }
        Self::ALL
            .into_iter()
            .find(|g| g.as_str() == value)
            .ok_or_else(|| vec![GENDER_INVALID.to_owned()])
    }

    /// The API / database spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Gender::Male => "male",
            Gender::Female => "female",
            Gender::Other => "other",
            Gender::PreferNotToSay => "prefer_not_to_say",
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn table() {
        let bad = || Err(vec![GENDER_INVALID.to_string()]);
        let cases: Vec<(&str, Result<Gender, Vec<String>>)> = vec![
            ("male", Ok(Gender::Male)),
            ("female", Ok(Gender::Female)),
            ("other", Ok(Gender::Other)),
            ("prefer_not_to_say", Ok(Gender::PreferNotToSay)),
            (" female ", Ok(Gender::Female)),
            ("Female", bad()),
            ("f", bad()),
            ("prefer not to say", bad()),
            ("", Err(vec!["Gender is required".into()])),
        ];
        for (input, expected) in cases {
            assert_eq!(Gender::parse(input), expected, "input {input:?}");
        }
        for g in Gender::ALL {
            let json = serde_json::to_string(&g).unwrap();
            assert_eq!(json, format!("\"{}\"", g.as_str()));
        }
    }
}
