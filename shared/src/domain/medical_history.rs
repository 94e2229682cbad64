//! Optional medical history: a list of free-text entries.

use serde_json::Value;

use super::json::{check_max_chars, slot, Object, Slot};
use super::text::text_rules;
use crate::validation::FieldErrors;

pub const MEDICAL_HISTORY_MAX_ENTRIES: usize = 100;
pub const MEDICAL_ENTRY_MAX_CHARS: usize = 500;

pub const HISTORY_NOT_LIST: &str = "Medical history must be a list of strings";
pub const HISTORY_TOO_MANY: &str = "Medical history must have at most 100 entries";
pub const ENTRY_NOT_STRING: &str = "Medical history entry must be a string";
pub const ENTRY_EMPTY: &str = "Medical history entry must not be empty";

/// Validates `body.medical_history`: empty when absent or null. Entry errors
/// are keyed `medical_history[i]`. Entries beyond the 100 limit are not
/// inspected: the count error already rejects them, and checking an
/// arbitrarily long list would let one request produce an unbounded response.
pub(crate) fn parse_medical_history(
    body: &Object,
    errors: &mut FieldErrors,
) -> Option<Vec<String>> {
    let items = match slot(body, "medical_history") {
        Slot::Absent => return Some(Vec::new()),
        Slot::Present(Value::Array(items)) => items,
        Slot::Present(_) => {
            errors.add("medical_history", HISTORY_NOT_LIST);
            return None;
        }
    };
    let mut ok = true;
    if items.len() > MEDICAL_HISTORY_MAX_ENTRIES {
        errors.add("medical_history", HISTORY_TOO_MANY);
        ok = false;
    }
    let mut entries = Vec::with_capacity(items.len().min(MEDICAL_HISTORY_MAX_ENTRIES));
    for (i, item) in items.iter().take(MEDICAL_HISTORY_MAX_ENTRIES).enumerate() {
        let messages = match item {
            Value::String(s) if s.trim().is_empty() => vec![ENTRY_EMPTY.to_owned()],
            Value::String(s) => match entry_rules(s.trim()) {
                messages if messages.is_empty() => {
                    entries.push(s.trim().to_owned());
                    continue;
                }
                messages => messages,
            },
            _ => vec![ENTRY_NOT_STRING.to_owned()],
        };
        errors.add_all(&format!("medical_history[{i}]"), messages);
        ok = false;
    }
    ok.then_some(entries)
}

/// Every rule a trimmed, non-empty entry fails.
fn entry_rules(entry: &str) -> Vec<String> {
    let label = "Medical history entry";
    let mut messages: Vec<String> = check_max_chars(entry, label, MEDICAL_ENTRY_MAX_CHARS)
        .err()
        .into_iter()
        .collect();
    messages.extend(text_rules(entry, label));
    messages
}
