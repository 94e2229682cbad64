//! A patient's own changes to their profile: a JSON merge patch (RFC 7396)
//! over the editable fields, applied to the stored profile and validated as
//! a whole with the registration's rules and messages.

use chrono::NaiveDate;
use serde_json::{json, Map, Value};

use super::address::{parse_address, Address};
use super::date_of_birth::parse_date_of_birth;
use super::emergency_contact::{parse_emergency_contact, EmergencyContact};
use super::gender::Gender;
use super::insurance::{parse_insurance, InsuranceInfo};
use super::json::{reject_unknown, Object};
use super::medical_history::parse_medical_history;
use super::name::PersonName;
use super::phone::PhoneNumber;
use super::registration::{field, BODY_NOT_OBJECT};
use crate::validation::FieldErrors;

/// The fields a patient may change here, in the profile's order.
pub const EDITABLE_FIELDS: [&str; 9] = [
    "first_name",
    "last_name",
    "phone_number",
    "date_of_birth",
    "gender",
    "address",
    "emergency_contact",
    "medical_history",
    "insurance_info",
];

/// Fields the profile shows (or registration takes) that this endpoint
/// does not change: each is answered 422 with [`READ_ONLY`].
pub const READ_ONLY_FIELDS: [&str; 11] = [
    "id",
    "patient_id",
    "email",
    "email_verified",
    "phone_verified",
    "is_active",
    "created_at",
    "updated_at",
    "password",
    "confirm_password",
    "new_password",
];

pub const READ_ONLY: &str = "This field cannot be changed here";

/// The profile after a valid patch: every editable field, checked.
#[derive(Clone)]
pub struct ProfileFields {
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub phone_number: PhoneNumber,
    pub date_of_birth: NaiveDate,
    pub gender: Gender,
    pub address: Address,
    pub emergency_contact: Option<EmergencyContact>,
    pub medical_history: Vec<String>,
    pub insurance_info: Option<InsuranceInfo>,
}

// PHI throughout: never printed.
impl std::fmt::Debug for ProfileFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileFields").finish_non_exhaustive()
    }
}

impl ProfileFields {
    /// The editable fields as the profile shows them (and as a patch
    /// addresses them): optional blocks the patient did not give are `null`.
    pub fn to_document(&self) -> Value {
        json!({
            "first_name": self.first_name.as_str(),
            "last_name": self.last_name.as_str(),
            "phone_number": self.phone_number.as_str(),
            "date_of_birth": self.date_of_birth.format("%Y-%m-%d").to_string(),
            "gender": self.gender.as_str(),
            "address": {
                "street": self.address.street,
                "city": self.address.city,
                "state": self.address.state,
                "zip": self.address.zip,
                "country": self.address.country,
            },
            "emergency_contact": self.emergency_contact.as_ref().map(|c| json!({
                "name": c.name, "phone": c.phone.as_str(), "relationship": c.relationship,
            })),
            "medical_history": (!self.medical_history.is_empty()).then_some(&self.medical_history),
            "insurance_info": self.insurance_info.as_ref().map(|i| json!({
                "provider": i.provider, "policy_number": i.policy_number,
            })),
        })
    }
}

/// A valid patch's result: the new fields, and the names of the fields it
/// changed (in [`EDITABLE_FIELDS`] order; empty when it changed nothing).
#[derive(Debug)]
pub struct Patched {
    pub fields: ProfileFields,
    pub changed: Vec<&'static str>,
}

/// Applies `patch` to `current` (the editable fields as
/// [`ProfileFields::to_document`] gives them) and validates the result.
/// Every problem is reported at once: fields the patch may not touch, and
/// every rule the merged profile breaks, under the registration's messages.
pub fn apply_profile_patch(
    current: &Value,
    patch: &Value,
    today: NaiveDate,
) -> Result<Patched, FieldErrors> {
    let Value::Object(changes) = patch else {
        return Err(FieldErrors::single("body", BODY_NOT_OBJECT));
    };
    let mut errors = FieldErrors::new();
    let known: Vec<&str> = EDITABLE_FIELDS
        .iter()
        .chain(READ_ONLY_FIELDS.iter())
        .copied()
        .collect();
    reject_unknown(changes, &known, "", &mut errors);
    for key in changes.keys() {
        if READ_ONLY_FIELDS.contains(&key.as_str()) {
            errors.add(key.as_str(), READ_ONLY);
        }
    }
    let mut merged = current.clone();
    let editable: Map<String, Value> = changes
        .iter()
        .filter(|(key, _)| EDITABLE_FIELDS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    merge_patch(&mut merged, &Value::Object(editable));
    let Value::Object(merged) = merged else {
        errors.add("body", BODY_NOT_OBJECT);
        return Err(errors);
    };
    let fields = parse_profile(&merged, today, &mut errors);
    match fields {
        Some(fields) if errors.is_empty() => {
            let after = fields.to_document();
            let changed = EDITABLE_FIELDS
                .into_iter()
                .filter(|key| after.get(key) != current.get(key))
                .collect();
            Ok(Patched { fields, changed })
        }
        _ => {
            if errors.is_empty() {
                errors.add("body", "Request could not be validated");
            }
            Err(errors)
        }
    }
}

/// Every editable field of a whole profile, by the registration's rules.
fn parse_profile(obj: &Object, today: NaiveDate, e: &mut FieldErrors) -> Option<ProfileFields> {
    let first_name = field(obj, "first_name", "First name", e, |s| {
        PersonName::parse(s, "First name")
    });
    let last_name = field(obj, "last_name", "Last name", e, |s| {
        PersonName::parse(s, "Last name")
    });
    let phone_number = field(obj, "phone_number", "Phone number", e, PhoneNumber::parse);
    let date_of_birth = field(obj, "date_of_birth", "Date of birth", e, |s| {
        parse_date_of_birth(s, today)
    });
    let gender = field(obj, "gender", "Gender", e, Gender::parse);
    let address = parse_address(obj, e);
    let emergency_contact = parse_emergency_contact(obj, e);
    let medical_history = parse_medical_history(obj, e);
    let insurance_info = parse_insurance(obj, e);
    Some(ProfileFields {
        first_name: first_name?,
        last_name: last_name?,
        phone_number: phone_number?,
        date_of_birth: date_of_birth?,
        gender: gender?,
        address: address?,
        emergency_contact: emergency_contact?,
        medical_history: medical_history?,
        insurance_info: insurance_info?,
    })
}

/// RFC 7396 JSON Merge Patch: an object patch merges key by key (`null`
/// removes the key); anything else replaces the target.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(changes) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(doc) = target {
        for (key, value) in changes {
            if value.is_null() {
                doc.remove(key);
            } else {
                merge_patch(doc.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 30).unwrap_or_default()
    }

    fn current() -> Value {
        json!({
            "first_name": "Jane", "last_name": "Smith", "phone_number": "+1234567890",
            "date_of_birth": "1990-05-15", "gender": "female",
            "address": {"street": "456 Main Street", "city": "Boston", "state": "MA",
                        "zip": "02101", "country": "US"},
            "emergency_contact": {"name": "John Smith", "phone": "+1234567891",
                                  "relationship": "spouse"},
            "medical_history": ["Asthma"],
            "insurance_info": {"provider": "Blue Cross", "policy_number": "BC123456789"}
        })
    }

    #[test]
    fn merge_patch_follows_rfc_7396_appendix_a() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (mut target, patch, want) in cases {
            let before = target.clone();
            merge_patch(&mut target, &patch);
            assert_eq!(target, want, "{before} + {patch}");
        }
    }

    #[test]
    fn a_valid_patch_names_only_what_it_changed() {
        let cases: [(Value, &[&str]); 7] = [
            (json!({}), &[]),
            (json!({"first_name": "Jane"}), &[]),
            (json!({"first_name": "  Janet "}), &["first_name"]),
            (json!({"address": {"city": "Cambridge"}}), &["address"]),
            (json!({"emergency_contact": null}), &["emergency_contact"]),
            (
                json!({"medical_history": null, "insurance_info": null}),
                &["medical_history", "insurance_info"],
            ),
            (
                json!({"phone_number": "+1 234 567 8999", "gender": "other"}),
                &["phone_number", "gender"],
            ),
        ];
        for (patch, want) in cases {
            let patched = apply_profile_patch(&current(), &patch, today());
            let changed = patched.map(|p| p.changed).map_err(|e| e.to_string());
            assert_eq!(changed, Ok(want.to_vec()), "{patch}");
        }
    }

    #[test]
    fn the_result_is_what_the_profile_then_shows() {
        let patch = json!({"address": {"city": "Cambridge"}, "emergency_contact": null});
        let patched = apply_profile_patch(&current(), &patch, today()).map(|p| p.fields);
        let Ok(fields) = patched else {
            panic!("the patch should apply");
        };
        let doc = fields.to_document();
        assert_eq!(doc["address"]["city"], "Cambridge");
        assert_eq!(doc["address"]["street"], "456 Main Street");
        assert_eq!(doc["emergency_contact"], Value::Null);
        assert_eq!(doc["medical_history"], json!(["Asthma"]));
        // The current profile reads back as itself.
        let unchanged =
            apply_profile_patch(&current(), &json!({}), today()).map(|p| p.fields.to_document());
        assert_eq!(unchanged.ok(), Some(current()));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let patch = json!({
            "email": "new@example.com", "password": "x", "id": "y", "ssn": "123",
            "first_name": "", "date_of_birth": "2999-01-01", "gender": "robot",
            "address": {"zip": "ABC"}, "medical_history": "none", "phone_number": null,
        });
        let errors = apply_profile_patch(&current(), &patch, today())
            .err()
            .map(FieldErrors::into_inner)
            .unwrap_or_default();
        let fields: Vec<&str> = errors.keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            [
                "address.zip",
                "date_of_birth",
                "email",
                "first_name",
                "gender",
                "id",
                "medical_history",
                "password",
                "phone_number",
                "ssn"
            ]
        );
        assert_eq!(errors["email"], [READ_ONLY]);
        assert_eq!(errors["ssn"], [super::super::UNKNOWN_FIELD]);
        assert_eq!(errors["first_name"], ["First name is required"]);
        assert_eq!(errors["phone_number"], ["Phone number is required"]);
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        for patch in [json!([]), json!("x"), json!(1), json!(null)] {
            let errors = apply_profile_patch(&current(), &patch, today()).err();
            assert_eq!(
                errors.map(FieldErrors::into_inner),
                Some(FieldErrors::single("body", BODY_NOT_OBJECT).into_inner()),
                "{patch}"
            );
        }
    }
}
