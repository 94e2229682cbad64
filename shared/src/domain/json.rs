//! Helpers for reading fields out of a raw JSON object.
//!
//! Registration works on `serde_json::Value` rather than a derived struct so
//! that a wrong JSON type or an unknown key becomes a per-field message
//! alongside every other failure, instead of aborting deserialisation at the
//! first problem.

use serde_json::{Map, Value};

use super::text::{name_rules, text_rules, TextRules};
use crate::validation::FieldErrors;

/// JSON object as produced by `serde_json`.
pub(crate) type Object = Map<String, Value>;

/// Message recorded against keys the schema does not know.
pub const UNKNOWN_FIELD: &str = "Unknown field";

/// Joins a parent path and a key: `("address", "zip")` -> `address.zip`.
pub(crate) fn path(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Flags every key of `obj` that is not in `known`; rejecting them stops
/// clients from silently sending data (e.g. an SSN) that would be dropped.
pub(crate) fn reject_unknown(obj: &Object, known: &[&str], prefix: &str, errors: &mut FieldErrors) {
    for key in obj.keys() {
        if !known.contains(&key.as_str()) {
            errors.add(path(prefix, key), UNKNOWN_FIELD);
        }
    }
}

/// Shape of an optional field: absent and `null` are treated the same.
pub(crate) enum Slot<'a> {
    Absent,
    Present(&'a Value),
}

/// Looks up `key`, folding `null` into [`Slot::Absent`].
pub(crate) fn slot<'a>(obj: &'a Object, key: &str) -> Slot<'a> {
    match obj.get(key) {
        None | Some(Value::Null) => Slot::Absent,
        Some(value) => Slot::Present(value),
    }
}

/// Reads an optional string. `Ok(None)` for absent/null, `Err(())` when the
/// value has another JSON type (the caller words the message).
pub(crate) fn opt_str<'a>(obj: &'a Object, key: &str) -> Result<Option<&'a str>, ()> {
    match slot(obj, key) {
        Slot::Absent => Ok(None),
        Slot::Present(Value::String(s)) => Ok(Some(s)),
        Slot::Present(_) => Err(()),
    }
}

/// Reads a required string without trimming it (passwords keep their
/// whitespace). Records "is required" / "must be a string" on failure.
/// "Required" still means non-empty after trimming.
pub(crate) fn required_raw<'a>(
    obj: &'a Object,
    key: &str,
    field: &str,
    label: &str,
    errors: &mut FieldErrors,
) -> Option<&'a str> {
    match opt_str(obj, key) {
        Ok(Some(s)) if !s.trim().is_empty() => Some(s),
        Ok(_) => {
            errors.add(field, format!("{label} is required"));
            None
        }
        Err(()) => {
            errors.add(field, format!("{label} must be a string"));
            None
        }
    }
}

/// Like [`required_raw`] but returns the trimmed value, since every stored
/// string other than the password is trimmed.
pub(crate) fn required_str<'a>(
    obj: &'a Object,
    key: &str,
    field: &str,
    label: &str,
    errors: &mut FieldErrors,
) -> Option<&'a str> {
    required_raw(obj, key, field, label, errors).map(str::trim)
}

/// A required free-text field capped at `max` Unicode characters, with no
/// control or format characters.
pub(crate) fn bounded_text(
    obj: &Object,
    key: &str,
    prefix: &str,
    label: &str,
    max: usize,
    errors: &mut FieldErrors,
) -> Option<String> {
    bounded(obj, key, prefix, label, max, text_rules, errors)
}

/// A required name capped at `max` Unicode characters: letters, combining
/// marks, spaces, apostrophes, hyphens and periods.
pub(crate) fn bounded_name(
    obj: &Object,
    key: &str,
    prefix: &str,
    label: &str,
    max: usize,
    errors: &mut FieldErrors,
) -> Option<String> {
    bounded(obj, key, prefix, label, max, name_rules, errors)
}

/// The trimmed value of `key` when it passes the length cap and `rules`;
/// otherwise every failed rule is recorded under `prefix.key`.
fn bounded(
    obj: &Object,
    key: &str,
    prefix: &str,
    label: &str,
    max: usize,
    rules: TextRules,
    errors: &mut FieldErrors,
) -> Option<String> {
    let field = path(prefix, key);
    let value = required_str(obj, key, &field, label, errors)?;
    let mut messages: Vec<String> = check_max_chars(value, label, max)
        .err()
        .into_iter()
        .collect();
    messages.extend(rules(value, label));
    if messages.is_empty() {
        Some(value.to_owned())
    } else {
        errors.add_all(&field, messages);
        None
    }
}

/// Length rule shared by every capped text field; counts `char`s, not bytes,
/// so non-Latin scripts get the same allowance.
pub(crate) fn check_max_chars(value: &str, label: &str, max: usize) -> Result<(), String> {
    if value.chars().count() > max {
        Err(format!("{label} must be at most {max} characters"))
    } else {
        Ok(())
    }
}

/// Reads an optional nested object. `Some(None)` when absent/null,
/// `Some(Some(obj))` when present, `None` (after recording
/// "{label} must be an object") for any other JSON type.
pub(crate) fn opt_object<'a>(
    obj: &'a Object,
    key: &str,
    label: &str,
    errors: &mut FieldErrors,
) -> Option<Option<&'a Object>> {
    match slot(obj, key) {
        Slot::Absent => Some(None),
        Slot::Present(Value::Object(inner)) => Some(Some(inner)),
        Slot::Present(_) => {
            errors.add(key, format!("{label} must be an object"));
            None
        }
    }
}
