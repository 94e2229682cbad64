//! The sealed columns of a patient's row (`emergency_contact`,
//! `medical_history`, `insurance_info`): each sealed with the PHI key and
//! bound to its column and row, so a sealed value cannot be moved to
//! another place. Written by registration and by profile changes alike.

use serde_json::json;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{
    crypto::{Keyring, Sealed},
    domain::{EmergencyContact, InsuranceInfo},
};

/// The binding of a sealed column: `patients.<column>:<id>`.
pub fn context(column: &str, patient_id: Uuid) -> Vec<u8> {
    format!("patients.{column}:{patient_id}").into_bytes()
}

/// A patient's sealed columns, ready to bind; `None` for a part not given
/// (an empty medical history is not stored).
pub struct SealedColumns {
    pub emergency_contact: Option<Json<Sealed>>,
    pub medical_history: Option<Json<Sealed>>,
    pub insurance_info: Option<Json<Sealed>>,
}

impl SealedColumns {
    pub fn seal(
        keyring: &Keyring,
        patient_id: Uuid,
        emergency_contact: Option<&EmergencyContact>,
        medical_history: &[String],
        insurance_info: Option<&InsuranceInfo>,
    ) -> Self {
        let seal = |column: &str, value: serde_json::Value| {
            Json(keyring.seal_json(&value, &context(column, patient_id)))
        };
        Self {
            emergency_contact: emergency_contact.map(|c| {
                seal(
                    "emergency_contact",
                    json!({"name": c.name, "phone": c.phone.as_str(), "relationship": c.relationship}),
                )
            }),
            medical_history: (!medical_history.is_empty())
                .then(|| seal("medical_history", json!(medical_history))),
            insurance_info: insurance_info.map(|i| {
                seal(
                    "insurance_info",
                    json!({"provider": i.provider, "policy_number": i.policy_number}),
                )
            }),
        }
    }
}
