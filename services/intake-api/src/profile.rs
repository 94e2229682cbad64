//! A patient's profile as the profile endpoint shows it: every column but
//! the password hash, with the sealed PHI opened.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use shared::{
    crypto::{CryptoError, Keyring, Sealed},
    domain::{EmergencyContactBody, Gender, InsuranceBody},
};
use sqlx::{types::Json, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

/// A patient's row, the PHI columns still sealed. Deliberately no
/// `password_hash` (it cannot leak from what is never read), and no `Debug`.
#[derive(sqlx::FromRow)]
pub struct Row {
    id: Uuid,
    first_name: String,
    last_name: String,
    email: String,
    phone_number: String,
    date_of_birth: NaiveDate,
    gender: String,
    address_street: String,
    address_city: String,
    address_state: String,
    address_zip: String,
    address_country: String,
    emergency_contact: Option<Json<Sealed>>,
    medical_history: Option<Json<Sealed>>,
    insurance_info: Option<Json<Sealed>>,
    email_verified: bool,
    phone_verified: bool,
    pub is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The columns of a [`Row`], in its order.
pub(crate) const COLUMNS: &str = "id, first_name, last_name, email, phone_number, date_of_birth, gender, \
    address_street, address_city, address_state, address_zip, address_country, emergency_contact, \
    medical_history, insurance_info, email_verified, phone_verified, is_active, created_at, updated_at";

/// The patient's row, read once: whether it is active is decided before
/// anything is opened.
pub async fn find(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Row>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM patients WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

impl Row {
    /// The profile's entity tag (RFC 9110 8.8.3), strong: any write to the
    /// row moves `updated_at` (a trigger sees to it), and with it the tag.
    /// Opaque: a digest of the id and that instant, nothing of the PHI.
    pub fn etag(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut digest = Sha256::new();
        digest.update(self.id.as_bytes());
        digest.update(self.updated_at.timestamp_micros().to_be_bytes());
        let hex: String = digest.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("\"{hex}\"")
    }

    /// The fields a patient may change, as a merge patch addresses them.
    pub fn editable(&self, keyring: &Keyring) -> Result<serde_json::Value, CryptoError> {
        let open = |column: &str, sealed: &Option<Json<Sealed>>| {
            sealed
                .as_ref()
                .map(|Json(s)| {
                    keyring.open_json::<serde_json::Value>(
                        s,
                        &shared::patient_phi::context(column, self.id),
                    )
                })
                .transpose()
        };
        Ok(serde_json::json!({
            "first_name": self.first_name,
            "last_name": self.last_name,
            "phone_number": self.phone_number,
            "date_of_birth": self.date_of_birth.format("%Y-%m-%d").to_string(),
            "gender": self.gender,
            "address": {
                "street": self.address_street,
                "city": self.address_city,
                "state": self.address_state,
                "zip": self.address_zip,
                "country": self.address_country,
            },
            "emergency_contact": open("emergency_contact", &self.emergency_contact)?,
            "medical_history": open("medical_history", &self.medical_history)?,
            "insurance_info": open("insurance_info", &self.insurance_info)?,
        }))
    }
}

/// A patient's profile: every stored field, the sealed ones opened, except
/// the password hash, which is never returned. Optional parts the patient
/// did not give are `null`.
#[derive(Serialize, ToSchema)]
pub struct Profile {
    id: Uuid,
    /// The same as `id`.
    patient_id: Uuid,
    #[schema(example = "Jane")]
    first_name: String,
    #[schema(example = "Smith")]
    last_name: String,
    /// As stored: trimmed and lower-cased.
    #[schema(format = Email, example = "jane.smith@email.com")]
    email: String,
    #[schema(example = "+1234567890")]
    phone_number: String,
    date_of_birth: NaiveDate,
    #[schema(value_type = Gender)]
    gender: String,
    address: ProfileAddress,
    #[schema(required = true)]
    emergency_contact: Option<EmergencyContactBody>,
    #[schema(required = true, example = json!(["Asthma"]))]
    medical_history: Option<Vec<String>>,
    #[schema(required = true)]
    insurance_info: Option<InsuranceBody>,
    email_verified: bool,
    phone_verified: bool,
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A stored address: `country` is always present.
#[derive(Serialize, ToSchema)]
pub struct ProfileAddress {
    #[schema(example = "456 Main Street")]
    street: String,
    #[schema(example = "Boston")]
    city: String,
    #[schema(example = "MA")]
    state: String,
    #[schema(example = "02101")]
    zip: String,
    /// ISO 3166-1 alpha-2 code, uppercase.
    #[schema(min_length = 2, max_length = 2, example = "US")]
    country: String,
}

// PHI throughout: never printed.
impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Row {
    /// The profile as served, its sealed columns opened.
    pub fn open(self, keyring: &Keyring) -> Result<Profile, CryptoError> {
        let r = self;
        let id = r.id;
        fn open<T: serde::de::DeserializeOwned>(
            keyring: &Keyring,
            id: Uuid,
            column: &str,
            sealed: Option<Json<Sealed>>,
        ) -> Result<Option<T>, CryptoError> {
            sealed
                .map(|Json(s)| keyring.open_json(&s, &shared::patient_phi::context(column, id)))
                .transpose()
        }
        Ok(Profile {
            id,
            patient_id: id,
            first_name: r.first_name,
            last_name: r.last_name,
            email: r.email,
            phone_number: r.phone_number,
            date_of_birth: r.date_of_birth,
            gender: r.gender,
            address: ProfileAddress {
                street: r.address_street,
                city: r.address_city,
                state: r.address_state,
                zip: r.address_zip,
                country: r.address_country,
            },
            emergency_contact: open(keyring, id, "emergency_contact", r.emergency_contact)?,
            medical_history: open(keyring, id, "medical_history", r.medical_history)?,
            insurance_info: open(keyring, id, "insurance_info", r.insurance_info)?,
            email_verified: r.email_verified,
            phone_verified: r.phone_verified,
            is_active: r.is_active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}
