//! Per-field rules through the whole body: wrong JSON types, unknown keys
//! at every level, nested paths and length limits.

#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn wrong_json_types() {
    let cases: &[(&str, Value, &str, &str)] = &[
        (
            "/first_name",
            json!(5),
            "first_name",
            "First name must be a string",
        ),
        (
            "/email",
            json!(["a@b.com"]),
            "email",
            "Email must be a string",
        ),
        (
            "/phone_number",
            json!(1234567890),
            "phone_number",
            "Phone number must be a string",
        ),
        (
            "/password",
            json!({}),
            "password",
            "Password must be a string",
        ),
        (
            "/date_of_birth",
            json!(19900515),
            "date_of_birth",
            "Date of birth must be a string",
        ),
        ("/gender", json!(5), "gender", "Gender must be a string"),
        (
            "/address",
            json!("x"),
            "address",
            "Address must be an object",
        ),
        (
            "/address/zip",
            json!(2101),
            "address.zip",
            "ZIP code must be a string",
        ),
        (
            "/address/country",
            json!(1),
            "address.country",
            "Country must be a string",
        ),
        (
            "/address/street",
            json!(true),
            "address.street",
            "Street must be a string",
        ),
        (
            "/emergency_contact",
            json!([]),
            "emergency_contact",
            "Emergency contact must be an object",
        ),
        (
            "/emergency_contact/phone",
            json!(1),
            "emergency_contact.phone",
            "Emergency contact phone must be a string",
        ),
        (
            "/insurance_info",
            json!("BC"),
            "insurance_info",
            "Insurance information must be an object",
        ),
        (
            "/insurance_info/provider",
            json!(1),
            "insurance_info.provider",
            "Insurance provider must be a string",
        ),
    ];
    for (pointer, value, field, message) in cases {
        assert_errors(&with(pointer, value.clone()), &[(field, &[message])]);
    }
    let mut body = reference();
    body["medical_history"] = json!("x");
    assert_errors(&body, &[("medical_history", &[HISTORY_NOT_LIST])]);
    // A non-string confirmation is reported; the match check is skipped.
    let body = with("/confirm_password", json!(1));
    assert_errors(
        &body,
        &[("confirm_password", &["Confirm password must be a string"])],
    );
}

#[test]
fn unknown_fields_at_every_level() {
    let mut body = reference();
    body["ssn"] = json!("123");
    body["address"]["foo"] = json!(1);
    body["emergency_contact"]["email"] = Value::Null;
    body["insurance_info"]["group"] = json!("g");
    assert_errors(
        &body,
        &[
            ("ssn", &[UNKNOWN_FIELD]),
            ("address.foo", &[UNKNOWN_FIELD]),
            ("emergency_contact.email", &[UNKNOWN_FIELD]),
            ("insurance_info.group", &[UNKNOWN_FIELD]),
        ],
    );
}

#[test]
fn address_rules() {
    let zip = |country: Value, zip: &str| {
        let mut body = with("/address/zip", json!(zip));
        body["address"]["country"] = country;
        parse_registration(&body, today()).map(|p| p.address)
    };
    assert_eq!(zip(json!("gb"), "SW1A 1AA").unwrap().country, "GB");
    assert_eq!(zip(json!(" "), "02101-1234").unwrap().country, "US");
    assert_eq!(zip(Value::Null, "02101").unwrap().country, "US");
    assert_eq!(zip(json!("NL"), "1234 AB").unwrap().zip, "1234 AB");
    let err = zip(json!("DE"), "1011").unwrap_err();
    assert_eq!(
        err.get("address.zip").unwrap(),
        ["ZIP code is not valid for DE"]
    );
    // An unknown country suppresses the (meaningless) ZIP check.
    let err = zip(json!("XX"), "1").unwrap_err();
    assert_eq!(err.get("address.country").unwrap(), [COUNTRY_INVALID]);
    assert_eq!(err.len(), 1);

    let limits = [
        ("street", 200, "Street"),
        ("city", 100, "City"),
        ("state", 50, "State"),
    ];
    for (key, max, label) in limits {
        let pointer = format!("/address/{key}");
        assert!(parse_registration(&with(&pointer, json!("é".repeat(max))), today()).is_ok());
        let message = format!("{label} must be at most {max} characters");
        let field = format!("address.{key}");
        assert_errors(
            &with(&pointer, json!("é".repeat(max + 1))),
            &[(&field, &[&message])],
        );
    }
}

#[test]
fn optional_section_limits() {
    let ok = |pointer: &str, v: Value| parse_registration(&with(pointer, v), today()).is_ok();
    assert!(ok("/emergency_contact/name", json!("n".repeat(100))));
    assert!(!ok("/emergency_contact/name", json!("n".repeat(101))));
    assert!(ok("/emergency_contact/relationship", json!("r".repeat(50))));
    assert!(ok("/insurance_info/policy_number", json!("9".repeat(100))));
    assert!(!ok("/insurance_info/policy_number", json!("9".repeat(101))));

    assert!(ok(
        "/emergency_contact",
        json!({"name": "A", "phone": "12345678", "relationship": "x"})
    ));
    assert!(ok(
        "/insurance_info",
        json!({"provider": "p", "policy_number": "1"})
    ));

    let entries = |n: usize| Value::Array(vec![json!("e"); n]);
    let mut body = reference();
    body["medical_history"] = entries(100);
    assert!(parse_registration(&body, today()).is_ok());
    body["medical_history"] = entries(101);
    assert_errors(&body, &[("medical_history", &[HISTORY_TOO_MANY])]);
    body["medical_history"] = json!(["m".repeat(500)]);
    assert!(parse_registration(&body, today()).is_ok());
}

#[test]
fn password_confirmation_rules() {
    // Weak password: rule messages and the mismatch are both reported.
    let mut body = with("/password", json!("weakpass1!"));
    body["confirm_password"] = json!("weakpass1!");
    assert_errors(&body, &[("password", &[PASSWORD_NO_UPPERCASE])]);
    // Confirmation is compared untrimmed.
    let body = with("/confirm_password", json!("SecurePassword123! "));
    assert_errors(&body, &[("confirm_password", &[PASSWORDS_DO_NOT_MATCH])]);
    // Missing password: no mismatch noise on the confirmation.
    let mut body = reference();
    body.as_object_mut().unwrap().remove("password");
    assert_errors(&body, &[("password", &[PASSWORD_REQUIRED])]);
    assert_errors(
        &with("/confirm_password", json!(" ")),
        &[("confirm_password", &["Confirm password is required"])],
    );
}

#[test]
fn age_is_checked_against_today() {
    let born = |dob: &str| with("/date_of_birth", json!(dob));
    assert!(parse_registration(&born("2013-11-21"), today()).is_ok());
    assert_errors(&born("2013-11-22"), &[("date_of_birth", &[DOB_TOO_YOUNG])]);
    assert_errors(&born("1876-11-20"), &[("date_of_birth", &[DOB_TOO_OLD])]);
}
