//! The registration's wire form: the body of `POST /api/v1/patient/register`
//! as the OpenAPI document describes it, and the form intake forwards
//! (sealed) to the registration worker once [`parse_registration`] has
//! accepted it: trimmed, normalised, every default filled in.
//!
//! The schema states what the parser enforces as far as JSON Schema can;
//! what it cannot (confirmation equals password, the age range, the ZIP
//! format of each country) the descriptions say, and the parser decides.
//!
//! [`parse_registration`]: super::parse_registration

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{text, Gender, NewPatient};

// Patterns: free text and names come from `text::schema` (built from the
// same tables as the rules); phones: E.164, separators allowed, 8 to 15
// digits, the first not 0; passwords: printable ASCII with an uppercase and
// a lowercase letter, a digit and a special character.

/// A registration. Unknown fields are refused (422), at every level.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(super::registration_example()))]
pub struct RegistrationBody {
    #[schema(schema_with = text::schema::first_name)]
    pub first_name: String,
    #[schema(schema_with = text::schema::last_name)]
    pub last_name: String,
    /// Compared case-insensitively; must not be registered already (a
    /// business outcome: 422 with `Prefer: wait`, else `rejected` on the
    /// status URL).
    #[schema(format = Email, min_length = 3, max_length = 254, example = "jane.smith@email.com")]
    pub email: String,
    /// E.164 (`+` and 8 to 15 digits; spaces, dots, dashes and brackets are
    /// ignored); must not be registered already (a business outcome).
    #[schema(
        max_length = 40,
        pattern = r"^[ .()\-]*\+?[ .()\-]*[1-9](?:[ .()\-]*[0-9]){7,14}[ .()\-]*$",
        example = "+1234567890"
    )]
    pub phone_number: String,
    /// 8 characters to 72 bytes, with an uppercase and a lowercase letter, a
    /// digit and a special character. The pattern describes printable ASCII;
    /// other Unicode characters are accepted too, within 72 bytes of UTF-8.
    #[schema(format = Password, min_length = 8, max_length = 72, pattern = r"^(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9])(?=.*[^A-Za-z0-9])[\x20-\x7E]{8,72}$",
        example = "SecurePassword123!")]
    pub password: String,
    /// Must equal `password`.
    #[schema(format = Password, min_length = 8, max_length = 72, pattern = r"^(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9])(?=.*[^A-Za-z0-9])[\x20-\x7E]{8,72}$",
        example = "SecurePassword123!")]
    pub confirm_password: String,
    /// `YYYY-MM-DD`, in the past; the patient is at least 13 and at most 150
    /// years old.
    #[schema(format = Date, example = "1990-05-15")]
    pub date_of_birth: String,
    pub gender: Gender,
    pub address: AddressBody,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub emergency_contact: Option<EmergencyContactBody>,
    /// At most 100 entries of 1 to 500 characters each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, max_items = 100, example = json!(["Asthma"]))]
    pub medical_history: Option<Vec<MedicalEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub insurance_info: Option<InsuranceBody>,
}

/// One entry of the medical history: 1 to 500 characters, not blank.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
pub struct MedicalEntry(pub String);

impl utoipa::PartialSchema for MedicalEntry {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        text::schema::medical_entry().into()
    }
}

impl ToSchema for MedicalEntry {}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressBody {
    #[schema(schema_with = text::schema::street)]
    pub street: String,
    #[schema(schema_with = text::schema::city)]
    pub city: String,
    #[schema(schema_with = text::schema::state)]
    pub state: String,
    /// A postal code valid for `country`: `US` `12345` or `12345-6789`;
    /// `CA` `A1A 1A1`; `GB` a UK postcode; `DE`, `FR` five digits; `IN` six
    /// digits, not starting with 0; `AU` four digits; elsewhere 3 to 10
    /// letters, digits, spaces or dashes. Case-insensitive.
    #[schema(
        min_length = 3,
        max_length = 10,
        pattern = r"^[A-Za-z0-9][A-Za-z0-9 \-]*[A-Za-z0-9]$",
        example = "02101"
    )]
    pub zip: String,
    /// An assigned ISO 3166-1 alpha-2 code (the server also takes it in
    /// lower case); `US` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        nullable = false,
        min_length = 2,
        max_length = 2,
        pattern = "^[A-Za-z]{2}$",
        default = "US",
        example = "US"
    )]
    pub country: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyContactBody {
    #[schema(schema_with = text::schema::contact_name)]
    pub name: String,
    /// E.164, like `phone_number`.
    #[schema(
        max_length = 40,
        pattern = r"^[ .()\-]*\+?[ .()\-]*[1-9](?:[ .()\-]*[0-9]){7,14}[ .()\-]*$",
        example = "+1234567891"
    )]
    pub phone: String,
    #[schema(schema_with = text::schema::relationship)]
    pub relationship: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InsuranceBody {
    #[schema(schema_with = text::schema::provider)]
    pub provider: String,
    #[schema(schema_with = text::schema::policy_number)]
    pub policy_number: String,
}

/// The ZIP rule of each country as JSON Schema (`if` the country is this,
/// `then` the ZIP matches that), for [`AddressBody`]'s `allOf`: what the
/// derive cannot say. The same rules as `parse_postal_code`, which the
/// tests below hold them to.
pub fn postal_code_rules() -> serde_json::Value {
    const US: &str = r"^[0-9]{5}(-[0-9]{4})?$";
    let letter_first = "ABCEGHJ-NPR-TVXYabceghj-npr-tvxy";
    let letter = "ABCEGHJ-NPR-TV-Zabceghj-npr-tv-z";
    let ca = format!("^[{letter_first}][0-9][{letter}] ?[0-9][{letter}][0-9]$");
    let gb = r"^([Gg][Ii][Rr] ?0[Aa][Aa]|[A-Za-z]([0-9]{1,2}|[A-Za-z][0-9]{1,2}|[0-9][A-Za-z]|[A-Za-z][0-9][A-Za-z]) ?[0-9][A-Za-z]{2})$";
    let rules = [
        ("US", US.to_owned()),
        ("CA", ca),
        ("GB", gb.to_owned()),
        ("DE", r"^[0-9]{5}$".to_owned()),
        ("FR", r"^[0-9]{5}$".to_owned()),
        ("IN", r"^[1-9][0-9]{5}$".to_owned()),
        ("AU", r"^[0-9]{4}$".to_owned()),
    ];
    let zip = |pattern: &str| serde_json::json!({"properties": {"zip": {"pattern": pattern}}});
    let mut all: Vec<serde_json::Value> = rules
        .iter()
        .map(|(country, pattern)| {
            serde_json::json!({
                "if": {"properties": {"country": {"const": country}}, "required": ["country"]},
                "then": zip(pattern),
            })
        })
        .collect();
    // No country means the United States.
    all.push(serde_json::json!({"if": {"not": {"required": ["country"]}}, "then": zip(US)}));
    all.into()
}

impl From<&NewPatient> for RegistrationBody {
    /// The accepted registration in its normal form: parsing it again
    /// gives the same patient.
    fn from(p: &NewPatient) -> Self {
        let password = p.password.expose().to_owned();
        Self {
            first_name: p.first_name.as_str().to_owned(),
            last_name: p.last_name.as_str().to_owned(),
            email: p.email.as_str().to_owned(),
            phone_number: p.phone_number.as_str().to_owned(),
            confirm_password: password.clone(),
            password,
            date_of_birth: p.date_of_birth.format("%Y-%m-%d").to_string(),
            gender: p.gender,
            address: AddressBody {
                street: p.address.street.clone(),
                city: p.address.city.clone(),
                state: p.address.state.clone(),
                zip: p.address.zip.clone(),
                country: Some(p.address.country.clone()),
            },
            emergency_contact: p.emergency_contact.as_ref().map(|c| EmergencyContactBody {
                name: c.name.clone(),
                phone: c.phone.as_str().to_owned(),
                relationship: c.relationship.clone(),
            }),
            medical_history: (!p.medical_history.is_empty()).then(|| {
                p.medical_history
                    .iter()
                    .cloned()
                    .map(MedicalEntry)
                    .collect()
            }),
            insurance_info: p.insurance_info.as_ref().map(|i| InsuranceBody {
                provider: i.provider.clone(),
                policy_number: i.policy_number.clone(),
            }),
        }
    }
}

// A password and PHI: never printed.
impl std::fmt::Debug for RegistrationBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationBody").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::{parse_registration, registration_example};

    fn today() -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 30).expect("a date")
    }

    /// What parsing the wire form again gives, as the wire form.
    fn reparsed(body: &RegistrationBody) -> serde_json::Value {
        let value = serde_json::to_value(body).expect("serialises");
        let again = parse_registration(&value, today()).expect("the normal form is valid");
        serde_json::to_value(RegistrationBody::from(&again)).expect("serialises")
    }

    #[test]
    fn the_normal_form_parses_to_the_same_patient() {
        let mut raw = registration_example();
        raw["email"] = " Jane.Smith@Email.COM ".into();
        raw["phone_number"] = "+1 (234) 567-890".into();
        raw["first_name"] = "  Jane ".into();
        raw["address"]["zip"] = "02101-1234".into();
        raw["address"]["country"] = "us".into();
        raw["medical_history"] = serde_json::json!([" Asthma "]);
        let patient = parse_registration(&raw, today()).expect("valid");
        let body = RegistrationBody::from(&patient);
        assert_eq!(body.email, "jane.smith@email.com");
        assert_eq!(body.phone_number, "+1234567890");
        assert_eq!(body.first_name, "Jane");
        assert_eq!(body.address.country.as_deref(), Some("US"));
        assert_eq!(reparsed(&body), serde_json::to_value(&body).expect("json"));
    }

    /// Each rule's pattern agrees with the parser on the parser's own cases.
    #[test]
    fn the_zip_rules_say_what_the_parser_decides() {
        let rules = postal_code_rules();
        let pattern_for = |country: &str| {
            rules
                .as_array()
                .and_then(|all| {
                    all.iter()
                        .find(|r| r["if"]["properties"]["country"]["const"] == country)
                })
                .and_then(|r| r["then"]["properties"]["zip"]["pattern"].as_str())
                .map(str::to_owned)
        };
        let cases = [
            ("US", "02101"),
            ("US", "02101-1234"),
            ("US", "2101"),
            ("US", "02101-12"),
            ("CA", "K1A 0B1"),
            ("CA", "k1a0b1"),
            ("CA", "D1A 0B1"),
            ("CA", "K1A 0B"),
            ("GB", "SW1A 1AA"),
            ("GB", "EC1A1BB"),
            ("GB", "GIR 0AA"),
            ("GB", "W1A 0AX"),
            ("GB", "SW1A 1A"),
            ("GB", "1W1A 1AA"),
            ("GB", "SW1AA 1AA"),
            ("GB", "sw1a 1aa"),
            ("DE", "10115"),
            ("DE", "1011"),
            ("IN", "110001"),
            ("IN", "010001"),
            ("AU", "2000"),
            ("AU", "20000"),
            ("FR", "7500A"),
        ];
        for (country, zip) in cases {
            let pattern = pattern_for(country).expect("a rule");
            let regex = regex::Regex::new(&pattern).expect("a valid pattern");
            let parser = super::super::parse_postal_code(zip, country).is_ok();
            assert_eq!(regex.is_match(zip), parser, "{country} {zip:?} ({pattern})");
        }
    }

    fn schema_of<T: utoipa::PartialSchema>() -> serde_json::Value {
        serde_json::to_value(T::schema()).expect("a schema")
    }

    /// The reference registration with `value` at `pointer` (a JSON pointer
    /// to a string field, or `/medical_history` for its only entry).
    fn registration_with(pointer: &str, value: &str) -> serde_json::Value {
        let mut raw = registration_example();
        let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
        let value = match key {
            "medical_history" => serde_json::json!([value]),
            _ => serde_json::json!(value),
        };
        raw.pointer_mut(parent)
            .and_then(serde_json::Value::as_object_mut)
            .expect("an object")
            .insert(key.to_owned(), value);
        raw
    }

    /// The schema never allows what the parser refuses: values drawn from
    /// each pattern, within its length bounds, parse.
    #[test]
    fn values_the_patterns_allow_are_accepted() {
        use proptest::{strategy::ValueTree, test_runner::TestRunner};
        let body = &schema_of::<RegistrationBody>()["properties"];
        let address = &schema_of::<AddressBody>()["properties"];
        let contact = &schema_of::<EmergencyContactBody>()["properties"];
        let insurance = &schema_of::<InsuranceBody>()["properties"];
        let cases = [
            ("/first_name", &body["first_name"]),
            ("/last_name", &body["last_name"]),
            ("/phone_number", &body["phone_number"]),
            ("/address/street", &address["street"]),
            ("/address/city", &address["city"]),
            ("/address/state", &address["state"]),
            ("/emergency_contact/name", &contact["name"]),
            ("/emergency_contact/relationship", &contact["relationship"]),
            ("/insurance_info/provider", &insurance["provider"]),
            ("/insurance_info/policy_number", &insurance["policy_number"]),
            ("/medical_history", &schema_of::<MedicalEntry>()),
        ];
        let mut runner = TestRunner::deterministic();
        for (pointer, schema) in cases {
            let pattern = schema["pattern"].as_str().expect("a pattern");
            let bound = |key: &str| schema[key].as_u64().and_then(|n| usize::try_from(n).ok());
            let lengths = bound("minLength").unwrap_or(0)..=bound("maxLength").expect("a cap");
            // Every pattern is anchored at both ends; generation wants no anchors.
            let unanchored = pattern.trim_start_matches('^').trim_end_matches('$');
            let strategy = proptest::string::string_regex(unanchored).expect("a usable pattern");
            for _ in 0..300 {
                let value = strategy.new_tree(&mut runner).expect("a value").current();
                if lengths.contains(&value.chars().count()) {
                    let parsed = parse_registration(&registration_with(pointer, &value), today());
                    assert!(
                        parsed.is_ok(),
                        "{pointer}: {value:?} matches the pattern but is refused: {parsed:?}"
                    );
                }
            }
        }
    }

    proptest! {
        #[test]
        fn any_accepted_name_and_history_survive_the_round_trip(
            name in "[A-Za-zé ]{2,50}",
            history in proptest::collection::vec("[a-z]{1,20}", 0..5),
        ) {
            let mut raw = registration_example();
            raw["last_name"] = name.into();
            raw["medical_history"] = serde_json::json!(history);
            if let Ok(patient) = parse_registration(&raw, today()) {
                let body = RegistrationBody::from(&patient);
                prop_assert_eq!(reparsed(&body), serde_json::to_value(&body).expect("json"));
            }
        }
    }
}
