//! What the registration worker reads and writes in Postgres. Every write
//! is guarded by the request's status, so a redelivered or concurrent twin
//! message can never settle a request twice.

use shared::{
    crypto::Keyring,
    db::violated_unique_constraint,
    domain::NewPatient,
    patient_phi::SealedColumns,
    validation::{FieldErrors, EMAIL_TAKEN, PHONE_TAKEN},
};
use sqlx::PgPool;
use uuid::Uuid;

/// Where a request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestState {
    Pending,
    Completed(Uuid),
    /// Rejected, with its field errors.
    Rejected(FieldErrors),
    Failed,
}

type StateRow = (String, Option<Uuid>, Option<sqlx::types::Json<FieldErrors>>);

/// Makes sure the request has a row (a message published without intake-api
/// still gets a status) and reads its state, in one statement: the CTE's
/// insert is not visible to the outer query, hence the union. A row that a
/// concurrent transaction committed while this statement ran is in neither
/// half; a second look finds it.
pub async fn request_state(db: &PgPool, id: Uuid) -> sqlx::Result<RequestState> {
    let row: Option<StateRow> = sqlx::query_as(
        "WITH inserted AS (\
             INSERT INTO registration_requests (id) VALUES ($1) ON CONFLICT (id) DO NOTHING \
             RETURNING status, patient_id, errors) \
         SELECT status, patient_id, errors FROM inserted \
         UNION ALL \
         SELECT status, patient_id, errors FROM registration_requests WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    let row = match row {
        Some(row) => row,
        None => {
            sqlx::query_as(
                "SELECT status, patient_id, errors FROM registration_requests WHERE id = $1",
            )
            .bind(id)
            .fetch_one(db)
            .await?
        }
    };
    Ok(RequestState::from_row(row))
}

/// Where a request stands, without making a row for an unknown one (the
/// dead-letter path, where the message may name no real request).
pub async fn existing_state(db: &PgPool, id: Uuid) -> sqlx::Result<Option<RequestState>> {
    let row: Option<StateRow> = sqlx::query_as(
        "SELECT status, patient_id, errors FROM registration_requests WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(RequestState::from_row))
}

impl RequestState {
    fn from_row((status, patient_id, errors): StateRow) -> Self {
        match (status.as_str(), patient_id) {
            ("pending", _) => Self::Pending,
            ("completed", Some(patient)) => Self::Completed(patient),
            ("rejected", _) => Self::Rejected(errors.map(|e| e.0).unwrap_or_default()),
            _ => Self::Failed,
        }
    }
}

/// Which of the email and phone number another patient already has.
pub async fn taken_fields(db: &PgPool, patient: &NewPatient) -> sqlx::Result<FieldErrors> {
    let (email_taken, phone_taken): (bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM patients WHERE lower(email) = lower($1)), \
                EXISTS (SELECT 1 FROM patients WHERE phone_number = $2)",
    )
    .bind(patient.email.as_str())
    .bind(patient.phone_number.as_str())
    .fetch_one(db)
    .await?;
    let mut errors = FieldErrors::new();
    if email_taken {
        errors.add("email", EMAIL_TAKEN);
    }
    if phone_taken {
        errors.add("phone_number", PHONE_TAKEN);
    }
    Ok(errors)
}

/// Appends the audit row of a request that `settled` (a CTE returning
/// `id, patient_id, client_addr` of the request it just settled) with
/// `outcome`, in the same statement: the outcome and its audit row commit
/// together, and a request settled before gets neither.
fn settle_and_audit(settled: &str) -> String {
    format!(
        "WITH settled AS ({settled} RETURNING id, patient_id, client_addr) \
         INSERT INTO audit_log (action, outcome, patient_id, request_id, client_addr) \
         SELECT 'registration', $2, patient_id, id, client_addr FROM settled"
    )
}

pub async fn reject(db: &PgPool, id: Uuid, errors: &FieldErrors) -> sqlx::Result<()> {
    sqlx::query(&settle_and_audit(
        "UPDATE registration_requests SET status = 'rejected', errors = $3 \
         WHERE id = $1 AND status = 'pending'",
    ))
    .bind(id)
    .bind("rejected")
    .bind(sqlx::types::Json(errors))
    .execute(db)
    .await
    .map(drop)
}

/// Marks a request whose message can never be processed; the reason is for
/// operators and holds no PHI.
pub async fn fail(db: &PgPool, id: Uuid, reason: &str) -> sqlx::Result<()> {
    sqlx::query(&settle_and_audit(
        "UPDATE registration_requests SET status = 'failed', failure_reason = $3 \
         WHERE id = $1 AND status = 'pending'",
    ))
    .bind(id)
    .bind("failed")
    .bind(reason)
    .execute(db)
    .await
    .map(drop)
}

/// The outcome of trying to create the patient.
#[derive(Debug)]
pub enum Created {
    Patient(Uuid),
    /// A concurrent twin won the race for the email or phone number.
    Duplicate(FieldErrors),
    /// Another delivery settled the request first; this is where it stands.
    AlreadySettled(RequestState),
}

/// In one transaction: lock the request, insert the patient (PHI sealed),
/// complete the request and audit it.
pub async fn create_patient(
    db: &PgPool,
    keyring: &Keyring,
    request_id: Uuid,
    patient: &NewPatient,
    password_hash: &str,
) -> sqlx::Result<Created> {
    let mut tx = db.begin().await?;
    let locked: Option<StateRow> = sqlx::query_as(
        "SELECT status, patient_id, errors FROM registration_requests WHERE id = $1 FOR UPDATE",
    )
    .bind(request_id)
    .fetch_optional(&mut *tx)
    .await?;
    let state = locked.map_or(RequestState::Failed, RequestState::from_row);
    if state != RequestState::Pending {
        return Ok(Created::AlreadySettled(state));
    }
    let id = Uuid::new_v4();
    let sealed = SealedColumns::seal(
        keyring,
        id,
        patient.emergency_contact.as_ref(),
        &patient.medical_history,
        patient.insurance_info.as_ref(),
    );
    let inserted = sqlx::query(
        "INSERT INTO patients (id, first_name, last_name, email, phone_number, password_hash, date_of_birth, \
            gender, address_street, address_city, address_state, address_zip, address_country, \
            emergency_contact, medical_history, insurance_info) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(id)
    .bind(patient.first_name.as_str())
    .bind(patient.last_name.as_str())
    .bind(patient.email.as_str())
    .bind(patient.phone_number.as_str())
    .bind(password_hash)
    .bind(patient.date_of_birth)
    .bind(patient.gender.as_str())
    .bind(&patient.address.street)
    .bind(&patient.address.city)
    .bind(&patient.address.state)
    .bind(&patient.address.zip)
    .bind(&patient.address.country)
    .bind(sealed.emergency_contact)
    .bind(sealed.medical_history)
    .bind(sealed.insurance_info)
    .execute(&mut *tx)
    .await;
    if let Err(e) = inserted {
        return match violated_unique_constraint(&e).as_deref() {
            Some("patients_email_key") => Ok(Created::Duplicate(FieldErrors::single(
                "email",
                EMAIL_TAKEN,
            ))),
            Some("patients_phone_number_key") => Ok(Created::Duplicate(FieldErrors::single(
                "phone_number",
                PHONE_TAKEN,
            ))),
            _ => Err(e),
        };
    }
    sqlx::query(&settle_and_audit(
        "UPDATE registration_requests SET status = 'completed', patient_id = $3 WHERE id = $1",
    ))
    .bind(request_id)
    .bind("completed")
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Created::Patient(id))
}
