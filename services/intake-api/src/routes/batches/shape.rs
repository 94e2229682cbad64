//! A batch's structure, checked before anything else: an object with
//! `items`, 1 to [`MAX_ITEMS`] objects, each with a `client_ref` of its own.
//! Anything wrong here refuses the whole batch (422, every problem at once,
//! under `items`, `items[i]` or `items[i].client_ref`): without a sound
//! list and a reference per item, no answer could say which item it is
//! about. What is left of each item is a registration, checked later, item
//! by item, and answered inline.

use std::collections::HashMap;

use serde_json::{Map, Value};
use shared::{
    domain::{BODY_NOT_OBJECT, UNKNOWN_FIELD},
    validation::FieldErrors,
};

/// Items in one batch at most.
pub const MAX_ITEMS: usize = 500;
/// Characters of a `client_ref` at most.
pub const CLIENT_REF_MAX_CHARS: usize = 100;
/// What a `client_ref` is, for JSON Schema: printable ASCII, not all spaces.
pub const CLIENT_REF_PATTERN: &str = r"^[\x20-\x7E]*[\x21-\x7E][\x20-\x7E]*$";

pub const ITEMS_REQUIRED: &str = "Items is required";
pub const ITEMS_NOT_ARRAY: &str = "Items must be an array of registrations";
pub const ITEMS_EMPTY: &str = "Items must hold at least 1 registration";
pub const ITEMS_TOO_MANY: &str = "Items must hold at most 500 registrations";
pub const ITEM_NOT_OBJECT: &str = "Each item must be a JSON object";
pub const CLIENT_REF_REQUIRED: &str = "Client ref is required";
pub const CLIENT_REF_NOT_STRING: &str = "Client ref must be a string";
pub const CLIENT_REF_TOO_LONG: &str = "Client ref must be at most 100 characters";
pub const CLIENT_REF_NOT_ASCII: &str = "Client ref may contain only printable ASCII characters";
pub const CLIENT_REF_DUPLICATE: &str = "Client ref is already used by an earlier item";

/// One item: the partner's reference and the registration it carries
/// (the item without `client_ref`).
pub struct Item {
    pub client_ref: String,
    pub registration: Value,
}

// A registration is PHI: never shown.
impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Item")
            .field("client_ref", &self.client_ref)
            .finish_non_exhaustive()
    }
}

/// The body's items, or every structural problem.
pub fn parse_batch(body: Value) -> Result<Vec<Item>, FieldErrors> {
    let Value::Object(mut body) = body else {
        return Err(FieldErrors::single("body", BODY_NOT_OBJECT));
    };
    let mut errors = FieldErrors::new();
    for key in body.keys().filter(|k| *k != "items") {
        errors.add(key.as_str(), UNKNOWN_FIELD);
    }
    let items = match body.remove("items") {
        None | Some(Value::Null) => Err(ITEMS_REQUIRED),
        Some(Value::Array(items)) if items.is_empty() => Err(ITEMS_EMPTY),
        Some(Value::Array(items)) if items.len() > MAX_ITEMS => Err(ITEMS_TOO_MANY),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(ITEMS_NOT_ARRAY),
    };
    let items = match items {
        Ok(items) => items,
        Err(message) => {
            errors.add("items", message);
            return Err(errors);
        }
    };
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(items.len());
    let mut parsed = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(mut item) = item else {
            errors.add(format!("items[{i}]"), ITEM_NOT_OBJECT);
            continue;
        };
        match client_ref(&mut item) {
            Err(message) => errors.add(format!("items[{i}].client_ref"), message),
            Ok(reference) => {
                if seen.insert(reference.clone(), i).is_some() {
                    errors.add(format!("items[{i}].client_ref"), CLIENT_REF_DUPLICATE);
                }
                parsed.push(Item {
                    client_ref: reference,
                    registration: Value::Object(item),
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(errors)
    }
}

/// Takes the item's `client_ref` out: 1 to 100 printable ASCII characters,
/// not all spaces (kept as sent).
fn client_ref(item: &mut Map<String, Value>) -> Result<String, &'static str> {
    match item.remove("client_ref") {
        None | Some(Value::Null) => Err(CLIENT_REF_REQUIRED),
        Some(Value::String(s)) if s.trim_matches(' ').is_empty() => Err(CLIENT_REF_REQUIRED),
        Some(Value::String(s)) if !s.bytes().all(|b| (0x20..0x7f).contains(&b)) => {
            Err(CLIENT_REF_NOT_ASCII)
        }
        Some(Value::String(s)) if s.len() > CLIENT_REF_MAX_CHARS => Err(CLIENT_REF_TOO_LONG),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(CLIENT_REF_NOT_STRING),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn problems(body: Value) -> Vec<(String, Vec<String>)> {
        let errors = parse_batch(body).expect_err("refused");
        errors
            .iter()
            .map(|(field, messages)| (field.to_owned(), messages.to_vec()))
            .collect()
    }

    fn one(field: &str, message: &str) -> Vec<(String, Vec<String>)> {
        vec![(field.to_owned(), vec![message.to_owned()])]
    }

    #[test]
    fn the_list_itself_must_be_sound() {
        let many: Vec<Value> = (0..501)
            .map(|i| json!({"client_ref": i.to_string()}))
            .collect();
        let cases = [
            (json!([]), one("body", BODY_NOT_OBJECT)),
            (json!({}), one("items", ITEMS_REQUIRED)),
            (json!({"items": null}), one("items", ITEMS_REQUIRED)),
            (json!({"items": {}}), one("items", ITEMS_NOT_ARRAY)),
            (json!({"items": []}), one("items", ITEMS_EMPTY)),
            (json!({"items": many}), one("items", ITEMS_TOO_MANY)),
        ];
        for (body, want) in cases {
            assert_eq!(problems(body.clone()), want, "{body}");
        }
        let extra = problems(json!({"items": [{"client_ref": "a"}], "batch": 1}));
        assert_eq!(extra, one("batch", UNKNOWN_FIELD));
    }

    #[test]
    fn every_item_needs_a_reference_of_its_own() {
        let long = "r".repeat(101);
        let body = json!({"items": [
            {"client_ref": "a", "email": "x"},
            7,
            {"email": "y"},
            {"client_ref": 5},
            {"client_ref": "   "},
            {"client_ref": long},
            {"client_ref": "caf\u{e9}"},
            {"client_ref": "a"},
            {"client_ref": "b\n"},
        ]});
        assert_eq!(
            problems(body),
            vec![
                ("items[1]".to_owned(), vec![ITEM_NOT_OBJECT.to_owned()]),
                (
                    "items[2].client_ref".to_owned(),
                    vec![CLIENT_REF_REQUIRED.to_owned()]
                ),
                (
                    "items[3].client_ref".to_owned(),
                    vec![CLIENT_REF_NOT_STRING.to_owned()]
                ),
                (
                    "items[4].client_ref".to_owned(),
                    vec![CLIENT_REF_REQUIRED.to_owned()]
                ),
                (
                    "items[5].client_ref".to_owned(),
                    vec![CLIENT_REF_TOO_LONG.to_owned()]
                ),
                (
                    "items[6].client_ref".to_owned(),
                    vec![CLIENT_REF_NOT_ASCII.to_owned()]
                ),
                (
                    "items[7].client_ref".to_owned(),
                    vec![CLIENT_REF_DUPLICATE.to_owned()]
                ),
                (
                    "items[8].client_ref".to_owned(),
                    vec![CLIENT_REF_NOT_ASCII.to_owned()]
                ),
            ]
        );
    }

    #[test]
    fn a_sound_batch_gives_each_registration_without_its_reference() {
        let items = parse_batch(json!({"items": [
            {"client_ref": " a ", "email": "x"},
            {"client_ref": "b"},
        ]}))
        .expect("sound");
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].client_ref, " a ");
        assert_eq!(items[0].registration, json!({"email": "x"}));
        assert_eq!(items[1].registration, json!({}));
        assert!(!format!("{:?}", items[0]).contains('x'));
    }
}
