//! Registration bodies.

use serde_json::{json, Value};

/// The reference example, exactly.
pub fn example() -> Value {
    json!({
        "first_name": "Jane", "last_name": "Smith",
        "email": "jane.smith@email.com", "phone_number": "+1234567890",
        "password": "SecurePassword123!", "confirm_password": "SecurePassword123!",
        "date_of_birth": "1990-05-15", "gender": "female",
        "address": {"street": "456 Main Street", "city": "Boston", "state": "MA", "zip": "02101"},
        "emergency_contact": {"name": "John Smith", "phone": "+1234567891", "relationship": "spouse"},
        "insurance_info": {"provider": "Blue Cross", "policy_number": "BC123456789"}
    })
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
