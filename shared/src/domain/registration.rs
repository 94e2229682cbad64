//! Patient registration: turns a raw JSON body into a [`NewPatient`].

use chrono::NaiveDate;
use serde_json::Value;

use super::address::{parse_address, Address};
use super::date_of_birth::parse_date_of_birth;
use super::email::Email;
use super::emergency_contact::{parse_emergency_contact, EmergencyContact};
use super::gender::Gender;
use super::insurance::{parse_insurance, InsuranceInfo};
use super::json::{opt_str, reject_unknown, required_raw, Object};
use super::medical_history::parse_medical_history;
use super::name::PersonName;
use super::password::{check_confirmation, Password};
use super::phone::PhoneNumber;
use crate::validation::FieldErrors;

pub const BODY_NOT_OBJECT: &str = "Request body must be a JSON object";

/// Every top-level key the registration schema accepts.
pub const KNOWN_FIELDS: [&str; 12] = [
    "first_name",
    "last_name",
    "email",
    "phone_number",
    "password",
    "confirm_password",
    "date_of_birth",
    "gender",
    "address",
    "emergency_contact",
    "medical_history",
    "insurance_info",
];

/// A registration that passed every rule. `confirm_password` is not kept:
/// it only exists to be compared.
#[derive(Clone)]
pub struct NewPatient {
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub email: Email,
    pub phone_number: PhoneNumber,
    pub password: Password,
    pub date_of_birth: NaiveDate,
    pub gender: Gender,
    pub address: Address,
    pub emergency_contact: Option<EmergencyContact>,
    pub medical_history: Vec<String>,
    pub insurance_info: Option<InsuranceInfo>,
}

// Everything here is PHI or a secret, so Debug prints no field at all.
impl std::fmt::Debug for NewPatient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPatient").finish_non_exhaustive()
    }
}

/// Validates a registration body, collecting every failing rule of every
/// field. `today` is injected so age checks are deterministic.
pub fn parse_registration(body: &Value, today: NaiveDate) -> Result<NewPatient, FieldErrors> {
    let Value::Object(obj) = body else {
        return Err(FieldErrors::single("body", BODY_NOT_OBJECT));
    };
    let mut errors = FieldErrors::new();
    reject_unknown(obj, &KNOWN_FIELDS, "", &mut errors);
    let e = &mut errors;

    let first_name = field(obj, "first_name", "First name", e, |s| {
        PersonName::parse(s, "First name")
    });
    let last_name = field(obj, "last_name", "Last name", e, |s| {
        PersonName::parse(s, "Last name")
    });
    let email = field(obj, "email", "Email", e, Email::parse);
    let phone_number = field(obj, "phone_number", "Phone number", e, PhoneNumber::parse);
    let password = field(obj, "password", "Password", e, Password::parse);
    check_confirm_password(obj, e);
    let date_of_birth = field(obj, "date_of_birth", "Date of birth", e, |s| {
        parse_date_of_birth(s, today)
    });
    let gender = field(obj, "gender", "Gender", e, Gender::parse);
    let address = parse_address(obj, e);
    let emergency_contact = parse_emergency_contact(obj, e);
    let medical_history = parse_medical_history(obj, e);
    let insurance_info = parse_insurance(obj, e);

    let (
        Some(first_name),
        Some(last_name),
        Some(email),
        Some(phone_number),
        Some(password),
        Some(date_of_birth),
        Some(gender),
        Some(address),
        Some(emergency_contact),
        Some(medical_history),
        Some(insurance_info),
    ) = (
        first_name,
        last_name,
        email,
        phone_number,
        password,
        date_of_birth,
        gender,
        address,
        emergency_contact,
        medical_history,
        insurance_info,
    )
    else {
        // Every `None` above records a message; this guards against a
        // future rule forgetting to, which would otherwise yield an empty
        // error map alongside a rejection.
        if errors.is_empty() {
            errors.add("body", "Request could not be validated");
        }
        return Err(errors);
    };
    if !errors.is_empty() {
        // Unknown fields reject an otherwise valid body.
        return Err(errors);
    }
    Ok(NewPatient {
        first_name,
        last_name,
        email,
        phone_number,
        password,
        date_of_birth,
        gender,
        address,
        emergency_contact,
        medical_history,
        insurance_info,
    })
}

/// A required top-level string field, checked by `parse`. The raw
/// (untrimmed) value is passed so the password keeps its whitespace; the
/// other parsers trim for themselves. Profile changes check their fields
/// with it too.
pub(super) fn field<T>(
    obj: &Object,
    key: &str,
    label: &str,
    errors: &mut FieldErrors,
    parse: impl FnOnce(&str) -> Result<T, Vec<String>>,
) -> Option<T> {
    let raw = required_raw(obj, key, key, label, errors)?;
    parse(raw)
        .map_err(|messages| errors.add_all(key, messages))
        .ok()
}

/// `confirm_password` must be present and equal the password exactly. The
/// comparison is skipped when the password itself is missing or not a
/// string, since "do not match" would then only add noise.
fn check_confirm_password(obj: &Object, errors: &mut FieldErrors) {
    let key = "confirm_password";
    let Some(confirm) = required_raw(obj, key, key, "Confirm password", errors) else {
        return;
    };
    if let Ok(Some(password)) = opt_str(obj, "password") {
        if !password.trim().is_empty() {
            if let Err(message) = check_confirmation(password, confirm) {
                errors.add(key, message);
            }
        }
    }
}

#[cfg(test)]
mod proptests {
    //! Robustness: no input, however malformed, may panic the validator.
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::*;

    /// Keys biased towards the schema so generated objects reach the nested
    /// validators instead of only producing "Unknown field".
    fn key() -> impl Strategy<Value = String> {
        const NESTED: [&str; 8] = [
            "street", "city", "state", "zip", "country", "name", "phone", "provider",
        ];
        prop_oneof![
            prop::sample::select(&KNOWN_FIELDS[..]).prop_map(str::to_owned),
            prop::sample::select(&NESTED[..]).prop_map(str::to_owned),
            ".{0,6}",
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::from),
            "[0-9]{4}-[0-9]{2}-[0-9]{2}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 32, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(key(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn any_day() -> impl Strategy<Value = NaiveDate> {
        // Covers chrono's whole range, so anniversary arithmetic near the
        // limits is exercised too.
        let (min, max) = (NaiveDate::MIN, NaiveDate::MAX);
        let span = (max - min).num_days();
        (0..=span).prop_map(move |d| min + chrono::Duration::days(d))
    }

    fn reference() -> Value {
        json!({"first_name":"Jane","last_name":"Smith","email":"jane.smith@email.com",
            "phone_number":"+1234567890","password":"SecurePassword123!",
            "confirm_password":"SecurePassword123!","date_of_birth":"1990-05-15",
            "gender":"female","address":{"street":"456 Main Street","city":"Boston",
            "state":"MA","zip":"02101"}})
    }

    const POINTERS: [&str; 14] = [
        "/first_name",
        "/last_name",
        "/email",
        "/phone_number",
        "/password",
        "/confirm_password",
        "/date_of_birth",
        "/gender",
        "/address",
        "/address/zip",
        "/address/country",
        "/emergency_contact",
        "/medical_history",
        "/insurance_info",
    ];

    /// Rejections always say why; acceptances hold normalised values.
    fn check(body: &Value, today: NaiveDate) {
        match parse_registration(body, today) {
            Ok(p) => {
                assert_eq!(p.email.as_str(), p.email.as_str().trim().to_lowercase());
                assert!(p.phone_number.as_str().starts_with('+'));
                assert!(p.date_of_birth < today);
            }
            Err(errors) => assert!(!errors.is_empty()),
        }
    }

    proptest! {
        #[test]
        fn arbitrary_json_never_panics(body in json_value(), today in any_day()) {
            check(&body, today);
        }

        #[test]
        fn arbitrary_field_value_never_panics(
            pointer in prop::sample::select(&POINTERS[..]),
            value in json_value(),
            today in any_day(),
        ) {
            let mut body = reference();
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let target = body.pointer_mut(parent).unwrap().as_object_mut().unwrap();
            target.insert(key.to_owned(), value);
            check(&body, today);
        }

        #[test]
        fn arbitrary_strings_never_panic(
            pointer in prop::sample::select(&POINTERS[..]),
            s in any::<String>(),
            dob in "[0-9]{4}-[0-9]{2}-[0-9]{2}",
        ) {
            let mut body = reference();
            body["date_of_birth"] = json!(dob);
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let target = body.pointer_mut(parent).unwrap().as_object_mut().unwrap();
            target.insert(key.to_owned(), json!(s));
            check(&body, NaiveDate::from_ymd_opt(2026, 11, 21).unwrap());
        }
    }
}
