//! Registration bodies.

use serde_json::{json, Value};

/// The reference example, exactly (the one the OpenAPI document
/// shows).
pub fn example() -> Value {
    shared::domain::registration_example()
}

/// The example with an email and phone number no other test uses, so that
/// tests sharing the SMTP sink never see each other's mail.
pub fn unique_example() -> Value {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let mut body = example();
    body["email"] = json!(format!("jane.{}@email.com", &tag[..16]));
    let digits: String = tag
        .bytes()
        .take(9)
        .map(|b| char::from(b'1' + b % 9))
        .collect();
    body["phone_number"] = json!(format!("+1{digits}"));
    body
}
