//! Field-level validation errors shared by every service.
//!
//! Validation collects every failing rule of every field in one pass, so the
//! error type is a map from a field path (`email`, `address.zip`,
//! `medical_history[2]`) to all of that field's messages. It serialises as a
//! plain JSON object so the HTTP layer can return it unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Message used when the email is already stored (checked against the DB, not here).
pub const EMAIL_TAKEN: &str = "Email is already registered";
/// Message used when the phone number is already stored (checked against the DB, not here).
pub const PHONE_TAKEN: &str = "Phone number is already registered";

/// Field path -> messages. A `BTreeMap` keeps keys sorted so responses are
/// deterministic and easy to assert on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    /// An empty set of errors.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set holding exactly one message, handy for single-rule failures
    /// such as [`EMAIL_TAKEN`].
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    /// Records `message` against `field`; a repeated identical message is
    /// kept once so merging overlapping checks does not duplicate output.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        let message = message.into();
        let messages = self.0.entry(field.into()).or_default();
        if !messages.contains(&message) {
            messages.push(message);
        }
    }

    /// Records several messages against one field.
    pub fn add_all(&mut self, field: &str, messages: impl IntoIterator<Item = String>) {
        for message in messages {
            self.add(field, message);
        }
    }

    /// True when no rule failed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of fields with at least one message.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Folds `other` into `self`, keeping the messages of both.
    pub fn merge(&mut self, other: FieldErrors) {
        for (field, messages) in other.0 {
            self.add_all(&field, messages);
        }
    }

    /// The messages recorded for `field`, if any.
    pub fn get(&self, field: &str) -> Option<&[String]> {
        self.0.get(field).map(Vec::as_slice)
    }

    /// Iterates over `(field, messages)` in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// The underlying map, for callers that need to own it.
    pub fn into_inner(self) -> BTreeMap<String, Vec<String>> {
        self.0
    }
}

impl std::fmt::Display for FieldErrors {
    // Field paths and messages never contain submitted values, so this is
    // safe to log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (field, messages) in &self.0 {
            for message in messages {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                write!(f, "{field}: {message}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for FieldErrors {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn serialises_as_sorted_object() {
        let mut errors = FieldErrors::new();
        errors.add("email", "bad");
        errors.add("address.zip", "worse");
        errors.add("email", "also bad");
        let json = serde_json::to_string(&errors).unwrap();
        assert_eq!(
            json,
            r#"{"address.zip":["worse"],"email":["bad","also bad"]}"#
        );
        let back: FieldErrors = serde_json::from_str(&json).unwrap();
        assert_eq!(back, errors);
    }

    #[test]
    fn merge_get_single_and_dedup() {
        let mut a = FieldErrors::single("email", EMAIL_TAKEN);
        assert!(!a.is_empty());
        a.merge(FieldErrors::single("email", EMAIL_TAKEN));
        a.merge(FieldErrors::single("phone_number", PHONE_TAKEN));
        assert_eq!(a.get("email").unwrap(), [EMAIL_TAKEN.to_string()]);
        assert_eq!(a.get("phone_number").unwrap(), [PHONE_TAKEN.to_string()]);
        assert_eq!(a.get("nope"), None);
        assert_eq!(a.len(), 2);
        assert!(FieldErrors::new().is_empty());
        assert_eq!(
            a.to_string(),
            format!("email: {EMAIL_TAKEN}; phone_number: {PHONE_TAKEN}")
        );
    }
}
