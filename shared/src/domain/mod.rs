//! Validated domain types for patient registration.
//!
//! Everything here is pure (no I/O): each type has a `parse` constructor
//! that returns every failing rule, and [`parse_registration`] applies them
//! all to a raw JSON body, keyed by field path.

mod address;
mod country;
mod date_of_birth;
mod email;
mod emergency_contact;
mod gender;
mod insurance;
mod json;
mod medical_history;
mod name;
mod password;
mod phone;
mod postal_code;
mod profile_update;
mod registration;
mod registration_body;
mod text;

#[cfg(test)]
mod registration_tests;

pub use address::Address;
pub use country::{parse_country, COUNTRY_CODES, COUNTRY_INVALID, DEFAULT_COUNTRY};
pub use date_of_birth::{
    parse_date_of_birth, DOB_INVALID, DOB_NOT_PAST, DOB_TOO_OLD, DOB_TOO_YOUNG, MAX_AGE_YEARS,
    MIN_AGE_YEARS,
};
pub use email::{Email, EMAIL_MAX_CHARS};
pub use emergency_contact::EmergencyContact;
pub use gender::{Gender, GENDER_INVALID};
pub use insurance::InsuranceInfo;
pub use json::UNKNOWN_FIELD;
pub use medical_history::{
    ENTRY_EMPTY, ENTRY_NOT_STRING, HISTORY_NOT_LIST, HISTORY_TOO_MANY, MEDICAL_ENTRY_MAX_CHARS,
    MEDICAL_HISTORY_MAX_ENTRIES,
};
pub use name::{PersonName, NAME_MAX_CHARS, NAME_MIN_CHARS};
pub use password::{
    check_confirmation, Password, PASSWORDS_DO_NOT_MATCH, PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARS,
    PASSWORD_NO_LOWERCASE, PASSWORD_NO_NUMBER, PASSWORD_NO_SPECIAL, PASSWORD_NO_UPPERCASE,
    PASSWORD_REQUIRED, PASSWORD_TOO_LONG, PASSWORD_TOO_SHORT,
};
pub use phone::{PhoneNumber, PHONE_MAX_DIGITS, PHONE_MIN_DIGITS};
pub use postal_code::{parse_postal_code, zip_invalid};
pub use profile_update::{
    apply_profile_patch, merge_patch, Patched, ProfileFields, EDITABLE_FIELDS, READ_ONLY,
    READ_ONLY_FIELDS,
};
pub use registration::{parse_registration, NewPatient, BODY_NOT_OBJECT, KNOWN_FIELDS};
pub use registration_body::{
    postal_code_rules, AddressBody, EmergencyContactBody, InsuranceBody, MedicalEntry,
    RegistrationBody,
};

/// The reference registration: the documents' example, and the tests'.
pub fn registration_example() -> serde_json::Value {
    serde_json::json!({
        "first_name": "Jane", "last_name": "Smith",
        "email": "jane.smith@email.com", "phone_number": "+1234567890",
        "password": "SecurePassword123!", "confirm_password": "SecurePassword123!",
        "date_of_birth": "1990-05-15", "gender": "female",
        "address": {"street": "456 Main Street", "city": "Boston", "state": "MA", "zip": "02101"},
        "emergency_contact": {"name": "John Smith", "phone": "+1234567891", "relationship": "spouse"},
        "insurance_info": {"provider": "Blue Cross", "policy_number": "BC123456789"}
    })
}
