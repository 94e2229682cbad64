//! Optional insurance information.

use super::json::{bounded_text, opt_object, reject_unknown, Object};
use crate::validation::FieldErrors;

pub const INSURANCE_FIELD_MAX_CHARS: usize = 100;

const KNOWN: [&str; 2] = ["provider", "policy_number"];

/// A validated insurance record; strings are trimmed.
#[derive(Clone, PartialEq, Eq)]
pub struct InsuranceInfo {
    pub provider: String,
    pub policy_number: String,
}

// Policy numbers identify a patient: never print them.
impl std::fmt::Debug for InsuranceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InsuranceInfo").finish_non_exhaustive()
    }
}

/// Validates `body.insurance_info`. `Some(None)` when absent or null,
/// `None` when invalid (errors recorded under `insurance_info.*`).
pub(crate) fn parse_insurance(
    body: &Object,
    errors: &mut FieldErrors,
) -> Option<Option<InsuranceInfo>> {
    let Some(obj) = opt_object(body, "insurance_info", "Insurance information", errors)? else {
        return Some(None);
    };
    let prefix = "insurance_info";
    reject_unknown(obj, &KNOWN, prefix, errors);
    let max = INSURANCE_FIELD_MAX_CHARS;
    let provider = bounded_text(obj, "provider", prefix, "Insurance provider", max, errors);
    let policy_number = bounded_text(obj, "policy_number", prefix, "Policy number", max, errors);
    Some(Some(InsuranceInfo {
        provider: provider?,
        policy_number: policy_number?,
    }))
}
