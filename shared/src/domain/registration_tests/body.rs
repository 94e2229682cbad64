//! Whole-body outcomes: the reference example, normalisation, redaction,
//! non-object bodies and every error collected in one pass.

#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn reference_example_parses() {
    let p = parse_registration(&reference(), today()).unwrap();
    assert_eq!(p.first_name.as_str(), "Jane");
    assert_eq!(p.last_name.as_str(), "Smith");
    assert_eq!(p.email.as_str(), "jane.smith@email.com");
    assert_eq!(p.phone_number.as_str(), "+1234567890");
    assert_eq!(p.password.expose(), "SecurePassword123!");
    assert_eq!(
        p.date_of_birth,
        NaiveDate::from_ymd_opt(1990, 5, 15).unwrap()
    );
    assert_eq!(p.gender.as_str(), "female");
    assert_eq!(p.address.street, "456 Main Street");
    assert_eq!(
        (p.address.zip.as_str(), p.address.country.as_str()),
        ("02101", "US")
    );
    let contact = p.emergency_contact.as_ref().unwrap();
    assert_eq!(contact.phone.as_str(), "+1234567891");
    assert_eq!(
        (contact.name.as_str(), contact.relationship.as_str()),
        ("John Smith", "spouse")
    );
    assert!(p.medical_history.is_empty());
    assert_eq!(
        p.insurance_info.as_ref().unwrap().policy_number,
        "BC123456789"
    );
}

#[test]
fn values_are_normalised_and_optionals_may_be_null() {
    let mut body = reference();
    body["first_name"] = json!("  Zoë ");
    body["email"] = json!(" Jane.Smith@Email.COM ");
    body["phone_number"] = json!("1 (234) 567-890");
    body["address"]["country"] = json!("ca");
    body["address"]["zip"] = json!("k1a 0b1");
    body["emergency_contact"] = Value::Null;
    body["insurance_info"] = Value::Null;
    body["medical_history"] = json!([" Asthma ", "李明's allergy"]);
    let p = parse_registration(&body, today()).unwrap();
    assert_eq!(p.first_name.as_str(), "Zoë");
    assert_eq!(p.email.as_str(), "jane.smith@email.com");
    assert_eq!(p.phone_number.as_str(), "+1234567890");
    assert_eq!(
        (p.address.country.as_str(), p.address.zip.as_str()),
        ("CA", "K1A 0B1")
    );
    assert!(p.emergency_contact.is_none() && p.insurance_info.is_none());
    assert_eq!(p.medical_history, vec!["Asthma", "李明's allergy"]);
    assert!(parse_registration(&with("/medical_history", Value::Null), today()).is_ok());
}

#[test]
fn debug_redacts_everything() {
    let p = parse_registration(&reference(), today()).unwrap();
    let printed = format!("{p:?} {:?} {:?}", p.address, p.emergency_contact);
    for secret in [
        "SecurePassword",
        "Jane",
        "jane",
        "1234567890",
        "Main",
        "02101",
        "John",
    ] {
        assert!(!printed.contains(secret), "{secret} leaked in {printed}");
    }
    assert!(printed.starts_with("NewPatient { .. }"));
}

#[test]
fn non_object_bodies() {
    for body in [json!([]), json!("x"), Value::Null, json!(1), json!(true)] {
        assert_errors(&body, &[("body", &[BODY_NOT_OBJECT])]);
    }
}

#[test]
fn empty_object_reports_every_required_field() {
    assert_errors(
        &json!({}),
        &[
            ("first_name", &["First name is required"]),
            ("last_name", &["Last name is required"]),
            ("email", &["Email is required"]),
            ("phone_number", &["Phone number is required"]),
            ("password", &["Password is required"]),
            ("confirm_password", &["Confirm password is required"]),
            ("date_of_birth", &["Date of birth is required"]),
            ("gender", &["Gender is required"]),
            ("address", &["Address is required"]),
        ],
    );
}

#[test]
fn every_error_is_collected_in_one_pass() {
    let body = json!({
        "first_name": "J", "last_name": "Sm\u{7}ith", "email": "not-an-email",
        "phone_number": "0123", "password": "abc", "confirm_password": "abd",
        "date_of_birth": "2020-02-30", "gender": "yes",
        "address": {"street": " ", "city": "x".repeat(101), "state": "MA", "zip": "ABC",
            "country": "US", "apt": "4"},
        "emergency_contact": {"name": "", "phone": "12", "relationship": "r".repeat(51)},
        "medical_history": ["ok", 5, "", "m".repeat(501)],
        "insurance_info": {"provider": "p".repeat(101)},
        "ssn": "123-45-6789"
    });
    let fmt = "must be in international format, e.g. +1234567890";
    assert_errors(
        &body,
        &[
            (
                "first_name",
                &["First name must be between 2 and 50 characters"],
            ),
            (
                "last_name",
                &["Last name must not contain control or format characters"],
            ),
            ("email", &["Email is not a valid email address"]),
            ("phone_number", &[&format!("Phone number {fmt}")]),
            (
                "password",
                &[
                    PASSWORD_TOO_SHORT,
                    PASSWORD_NO_UPPERCASE,
                    PASSWORD_NO_NUMBER,
                    PASSWORD_NO_SPECIAL,
                ],
            ),
            ("confirm_password", &[PASSWORDS_DO_NOT_MATCH]),
            ("date_of_birth", &[DOB_INVALID]),
            ("gender", &[GENDER_INVALID]),
            ("address.street", &["Street is required"]),
            ("address.city", &["City must be at most 100 characters"]),
            ("address.zip", &["ZIP code is not valid for US"]),
            ("address.apt", &[UNKNOWN_FIELD]),
            (
                "emergency_contact.name",
                &["Emergency contact name is required"],
            ),
            (
                "emergency_contact.phone",
                &[&format!("Emergency contact phone {fmt}")],
            ),
            (
                "emergency_contact.relationship",
                &["Emergency contact relationship must be at most 50 characters"],
            ),
            ("medical_history[1]", &[ENTRY_NOT_STRING]),
            ("medical_history[2]", &[ENTRY_EMPTY]),
            (
                "medical_history[3]",
                &["Medical history entry must be at most 500 characters"],
            ),
            (
                "insurance_info.provider",
                &["Insurance provider must be at most 100 characters"],
            ),
            (
                "insurance_info.policy_number",
                &["Policy number is required"],
            ),
            ("ssn", &[UNKNOWN_FIELD]),
        ],
    );
}
