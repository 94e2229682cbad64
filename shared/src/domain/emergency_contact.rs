//! Optional emergency contact.

use super::json::{
    bounded_name, bounded_text, opt_object, path, reject_unknown, required_str, Object,
};
use super::phone::PhoneNumber;
use crate::validation::FieldErrors;

pub const CONTACT_NAME_MAX_CHARS: usize = 100;
pub const RELATIONSHIP_MAX_CHARS: usize = 50;

const KNOWN: [&str; 3] = ["name", "phone", "relationship"];

/// A validated emergency contact; strings are trimmed. The name is held to
/// the rules of a patient's name but for its length (1 to 100).
#[derive(Clone, PartialEq, Eq)]
pub struct EmergencyContact {
    pub name: String,
    pub phone: PhoneNumber,
    pub relationship: String,
}

// A third party's name and number are personal data: never print them.
impl std::fmt::Debug for EmergencyContact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmergencyContact").finish_non_exhaustive()
    }
}

/// Validates `body.emergency_contact`. `Some(None)` when absent or null,
/// `None` when invalid (errors recorded under `emergency_contact.*`).
pub(crate) fn parse_emergency_contact(
    body: &Object,
    errors: &mut FieldErrors,
) -> Option<Option<EmergencyContact>> {
    let Some(obj) = opt_object(body, "emergency_contact", "Emergency contact", errors)? else {
        return Some(None);
    };
    let prefix = "emergency_contact";
    reject_unknown(obj, &KNOWN, prefix, errors);
    let name = bounded_name(
        obj,
        "name",
        prefix,
        "Emergency contact name",
        CONTACT_NAME_MAX_CHARS,
        errors,
    );
    let phone_field = path(prefix, "phone");
    let label = "Emergency contact phone";
    let phone = required_str(obj, "phone", &phone_field, label, errors).and_then(|raw| {
        PhoneNumber::parse_labeled(raw, label)
            .map_err(|messages| errors.add_all(&phone_field, messages))
            .ok()
    });
    let relationship = bounded_text(
        obj,
        "relationship",
        prefix,
        "Emergency contact relationship",
        RELATIONSHIP_MAX_CHARS,
        errors,
    );
    Some(Some(EmergencyContact {
        name: name?,
        phone: phone?,
        relationship: relationship?,
    }))
}
