//! Writing a patient's own profile changes: the row is read locked, so the
//! `If-Match` check, the merge and the write see one version; the change
//! and its audit row commit together.

use shared::{
    audit::{self, Action, Entry},
    crypto::Keyring,
    db::violated_unique_constraint,
    domain::ProfileFields,
    messages::{PatientEvent, ProfileChangedV1},
    patient_phi::SealedColumns,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    outbox,
    profile::{Row, COLUMNS},
};

/// The patient's row, locked until the transaction ends.
pub async fn find_locked(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Row>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM patients WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(tx)
    .await
}

/// How a write ended.
pub enum Saved {
    /// The row as it now is, and the notice staged for the patient.
    Updated(Box<Row>, PatientEvent),
    /// The new phone number belongs to another patient (the unique index
    /// says so, whatever raced to it).
    PhoneTaken,
}

/// Writes every editable field (the sealed ones sealed afresh), resets
/// `phone_verified` when the number changes, and audits the names of the
/// changed fields, in `tx`.
pub async fn save(
    tx: &mut PgConnection,
    keyring: &Keyring,
    id: Uuid,
    fields: &ProfileFields,
    changed: &[&str],
    client_addr: &str,
) -> sqlx::Result<Saved> {
    let sealed = SealedColumns::seal(
        keyring,
        id,
        fields.emergency_contact.as_ref(),
        &fields.medical_history,
        fields.insurance_info.as_ref(),
    );
    let written = sqlx::query_as::<_, Row>(&format!(
        "UPDATE patients SET first_name = $2, last_name = $3, phone_number = $4, \
             phone_verified = phone_verified AND phone_number = $4, \
             date_of_birth = $5, gender = $6, address_street = $7, address_city = $8, \
             address_state = $9, address_zip = $10, address_country = $11, \
             emergency_contact = $12, medical_history = $13, insurance_info = $14 \
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(fields.first_name.as_str())
    .bind(fields.last_name.as_str())
    .bind(fields.phone_number.as_str())
    .bind(fields.date_of_birth)
    .bind(fields.gender.as_str())
    .bind(&fields.address.street)
    .bind(&fields.address.city)
    .bind(&fields.address.state)
    .bind(&fields.address.zip)
    .bind(&fields.address.country)
    .bind(sealed.emergency_contact)
    .bind(sealed.medical_history)
    .bind(sealed.insurance_info)
    .fetch_one(&mut *tx)
    .await;
    let row = match written {
        Ok(row) => row,
        Err(e)
            if violated_unique_constraint(&e).as_deref() == Some("patients_phone_number_key") =>
        {
            return Ok(Saved::PhoneTaken)
        }
        Err(e) => return Err(e),
    };
    if changed.contains(&"phone_number") {
        // A code texted to the old number verifies nothing now: ended.
        sqlx::query(
            "UPDATE phone_verification_codes SET revoked_at = now() \
             WHERE patient_id = $1 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    let entry = Entry {
        action: Action::ProfileUpdate,
        outcome: "success",
        patient_id: Some(id),
        request_id: None,
        client_addr: Some(client_addr),
    };
    audit::record_changes(&mut *tx, &entry, changed).await?;
    // The patient hears of every change (a stolen access token alone can
    // make one): the fields' names, never their values.
    let notice = PatientEvent::ProfileChanged(ProfileChangedV1 {
        event_id: Uuid::new_v4(),
        patient_id: id,
        fields: changed.iter().map(|f| (*f).to_owned()).collect(),
        changed_at: chrono::Utc::now(),
    });
    outbox::stage(tx, &notice.clone().into()).await?;
    Ok(Saved::Updated(Box::new(row), notice))
}
