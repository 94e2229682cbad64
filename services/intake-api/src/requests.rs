//! The `registration_requests` table as intake-api sees it: give up on a
//! request the broker never took, and read status (pending rows are
//! written by [`crate::recorder`]).

use serde::Serialize;
use shared::validation::FieldErrors;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

/// Marks a request the broker never confirmed as failed, so it is never
/// left looking pending. A worker that still sees its message skips it
/// (and republishes this outcome). A partner's request gets its
/// `registration.failed` through the outbox (the broker is down now; the
/// relay sends it once it is back), so its webhook never depends on which
/// side noticed.
pub async fn mark_not_accepted(db: &PgPool, id: Uuid) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    let partner: Option<Option<Uuid>> = sqlx::query_scalar(
        "UPDATE registration_requests SET status = 'failed', failure_reason = 'not accepted: broker unavailable' \
         WHERE id = $1 AND status = 'pending' RETURNING partner_id",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(Some(_)) = partner {
        let event =
            shared::messages::OutcomeEvent::Failed(shared::messages::RegistrationSettledV1 {
                event_id: id,
                request_id: id,
                patient_id: None,
                errors: None,
                occurred_at: chrono::Utc::now(),
            });
        crate::outbox::stage(&mut tx, &event.into()).await?;
    }
    tx.commit().await
}

/// Where a registration request is: `pending` until a worker has handled
/// it, then `completed`, `rejected` or `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    Pending,
    Completed,
    Rejected,
    Failed,
}

impl RequestState {
    pub fn from_column(status: &str) -> Self {
        match status {
            "completed" => Self::Completed,
            "rejected" => Self::Rejected,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// What a status URL reports: `completed` adds the patient's fields;
/// `rejected` adds `errors` (e.g. an email registered meanwhile); `failed`
/// adds `message` (submit again).
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestStatus {
    pub request_id: Uuid,
    pub status: RequestState,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub patient_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub phone_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Option<std::collections::BTreeMap<String, Vec<String>>>,
        example = json!({"email": ["Email is already registered"]}))]
    pub errors: Option<FieldErrors>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub message: Option<&'static str>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    partner_id: Option<Uuid>,
    contact_expired: bool,
    status: String,
    errors: Option<sqlx::types::Json<FieldErrors>>,
    patient_id: Option<Uuid>,
    email: Option<String>,
    phone_number: Option<String>,
    email_verified: Option<bool>,
    phone_verified: Option<bool>,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

/// A request's status as `reader` may see it: a request a partner
/// submitted exists only for that partner (anyone else: `None`, as for an
/// unknown id); the patient's email and phone only until `contact_ttl`
/// after the request settled.
pub async fn find_status(
    db: &PgPool,
    id: Uuid,
    reader: Option<shared::partner::PartnerId>,
    contact_ttl: std::time::Duration,
) -> sqlx::Result<Option<RequestStatus>> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT r.partner_id, r.status, r.errors, r.created_at, r.updated_at, \
                COALESCE(r.settled_at + $2::interval < now(), false) AS contact_expired, \
                p.id AS patient_id, p.email, p.phone_number, p.email_verified, p.phone_verified \
         FROM registration_requests r LEFT JOIN patients p ON p.id = r.patient_id \
         WHERE r.id = $1",
    )
    .bind(id)
    .bind(format!("{} milliseconds", contact_ttl.as_millis()))
    .fetch_optional(db)
    .await?;
    let row = row.filter(|r| r.partner_id.is_none() || r.partner_id == reader.map(|p| p.0));
    Ok(row.map(|r| {
        let contact = !r.contact_expired;
        let status = RequestState::from_column(&r.status);
        RequestStatus {
            request_id: id,
            message: (status == RequestState::Failed)
                .then_some("The registration could not be processed. Please submit it again."),
            status,
            errors: r.errors.map(|j| j.0),
            patient_id: r.patient_id,
            email: r.email.filter(|_| contact),
            phone_number: r.phone_number.filter(|_| contact),
            email_verified: r.email_verified,
            phone_verified: r.phone_verified,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }))
}
