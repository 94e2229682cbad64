//! A patient's profile as the profile endpoint shows it: every column but
//! the password hash, with the sealed PHI opened.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};
use shared::crypto::{CryptoError, Keyring, Sealed};
use sqlx::{types::Json, PgPool};
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

/// The patient's row, read once: whether it is active is decided before
/// anything is opened.
pub async fn find(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Row>> {
    sqlx::query_as(
        "SELECT id, first_name, last_name, email, phone_number, date_of_birth, gender, address_street, \
                address_city, address_state, address_zip, address_country, emergency_contact, medical_history, \
                insurance_info, email_verified, phone_verified, is_active, created_at, updated_at \
         FROM patients WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

impl Row {
    /// The profile as served, its sealed columns opened.
    pub fn open(self, keyring: &Keyring) -> Result<Value, CryptoError> {
        let r = self;
        let open = |column: &str, sealed: Option<Json<Sealed>>| -> Result<Value, CryptoError> {
            sealed.map_or(Ok(Value::Null), |Json(s)| {
                keyring.open_json(&s, format!("patients.{column}:{}", r.id).as_bytes())
            })
        };
        Ok(json!({
            "id": r.id,
            "patient_id": r.id,
            "first_name": r.first_name,
            "last_name": r.last_name,
            "email": r.email,
            "phone_number": r.phone_number,
            "date_of_birth": r.date_of_birth,
            "gender": r.gender,
            "address": {
                "street": r.address_street,
                "city": r.address_city,
                "state": r.address_state,
                "zip": r.address_zip,
                "country": r.address_country,
            },
            "emergency_contact": open("emergency_contact", r.emergency_contact)?,
            "medical_history": open("medical_history", r.medical_history)?,
            "insurance_info": open("insurance_info", r.insurance_info)?,
            "email_verified": r.email_verified,
            "phone_verified": r.phone_verified,
            "is_active": r.is_active,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
        }))
    }
}
