//! Whole-body tests for `parse_registration`, with shared fixtures. The
//! tests themselves live in `body` (whole-body outcomes), `fields`
//! (per-field rules, wrong types, unknown keys, nested paths) and `text`
//! (what free text and names may hold).

#![allow(clippy::unwrap_used)]

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::*;
use crate::validation::FieldErrors;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()
}

fn reference() -> Value {
    json!({"first_name":"Jane","last_name":"Smith","email":"jane.smith@email.com",
        "phone_number":"+1234567890","password":"SecurePassword123!",
        "confirm_password":"SecurePassword123!","date_of_birth":"1990-05-15","gender":"female",
        "address":{"street":"456 Main Street","city":"Boston","state":"MA","zip":"02101"},
        "emergency_contact":{"name":"John Smith","phone":"+1234567891","relationship":"spouse"},
        "insurance_info":{"provider":"Blue Cross","policy_number":"BC123456789"}})
}

/// The reference body with `pointer` (a JSON pointer) set to `value`,
/// inserting the key if the reference body lacks it.
fn with(pointer: &str, value: Value) -> Value {
    let mut body = reference();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = body.pointer_mut(parent).unwrap();
    target
        .as_object_mut()
        .unwrap()
        .insert(key.to_owned(), value);
    body
}

fn errors(body: &Value) -> FieldErrors {
    parse_registration(body, today()).unwrap_err()
}

/// Asserts the errors are exactly `expected` (field, messages).
fn assert_errors(body: &Value, expected: &[(&str, &[&str])]) {
    let mut want = FieldErrors::new();
    for (field, messages) in expected {
        for m in *messages {
            want.add(*field, *m);
        }
    }
    assert_eq!(errors(body), want, "body {body}");
}

mod body;
mod fields;
mod text;
