//! Postal address.

use super::country::{parse_country, DEFAULT_COUNTRY};
use super::json::{bounded_text, opt_object, opt_str, path, reject_unknown, required_str, Object};
use super::postal_code::parse_postal_code;
use crate::validation::FieldErrors;

pub const STREET_MAX_CHARS: usize = 200;
pub const CITY_MAX_CHARS: usize = 100;
pub const STATE_MAX_CHARS: usize = 50;

const KNOWN: [&str; 5] = ["street", "city", "state", "zip", "country"];

/// A validated address. Strings are trimmed; `zip` is ASCII-uppercased and
/// `country` is an uppercase ISO 3166-1 alpha-2 code (default `US`).
#[derive(Clone, PartialEq, Eq)]
pub struct Address {
    pub street: String,
    pub city: String,
    pub state: String,
    pub zip: String,
    pub country: String,
}

// Only the country is shown: the rest locates a patient (PHI).
impl std::fmt::Debug for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Address")
            .field("country", &self.country)
            .finish_non_exhaustive()
    }
}

/// Validates `body.address`, recording errors under `address.*`.
pub(crate) fn parse_address(body: &Object, errors: &mut FieldErrors) -> Option<Address> {
    let obj = match opt_object(body, "address", "Address", errors)? {
        Some(obj) => obj,
        None => {
            errors.add("address", "Address is required");
            return None;
        }
    };
    reject_unknown(obj, &KNOWN, "address", errors);
    let street = bounded_text(obj, "street", "address", "Street", STREET_MAX_CHARS, errors);
    let city = bounded_text(obj, "city", "address", "City", CITY_MAX_CHARS, errors);
    let state = bounded_text(obj, "state", "address", "State", STATE_MAX_CHARS, errors);
    let country = parse_country_field(obj, errors);
    let zip_field = path("address", "zip");
    let zip_raw = required_str(obj, "zip", &zip_field, "ZIP code", errors);
    // The ZIP format depends on the country; with an unusable country any
    // ZIP message would be a guess, so only the country error is shown.
    let zip = match (zip_raw, country.as_deref()) {
        (Some(raw), Some(code)) => match parse_postal_code(raw, code) {
            Ok(zip) => Some(zip),
            Err(messages) => {
                errors.add_all(&zip_field, messages);
                None
            }
        },
        _ => None,
    };
    Some(Address {
        street: street?,
        city: city?,
        state: state?,
        zip: zip?,
        country: country?,
    })
}

/// Optional country: absent, null or blank means the default (`US`).
fn parse_country_field(obj: &Object, errors: &mut FieldErrors) -> Option<String> {
    let field = path("address", "country");
    match opt_str(obj, "country") {
        Ok(None) => Some(DEFAULT_COUNTRY.to_owned()),
        Ok(Some(raw)) if raw.trim().is_empty() => Some(DEFAULT_COUNTRY.to_owned()),
        Ok(Some(raw)) => parse_country(raw)
            .map_err(|messages| errors.add_all(&field, messages))
            .ok(),
        Err(()) => {
            errors.add(field, "Country must be a string");
            None
        }
    }
}
