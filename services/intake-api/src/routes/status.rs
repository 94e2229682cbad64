//! `GET /api/v1/patient/registrations/{request_id}`: what clients poll.

use axum::extract::{Path, State};
use uuid::Uuid;

use shared::audit::{Action, Entry};

use crate::{
    error::ApiError,
    extract::{ClientAddr, MaybePartner},
    requests::{self, RequestStatus},
    wire::{
        responses::{Internal, TimedOut, Unavailable},
        ErrorBody, Success,
    },
    AppState,
};

const NOT_FOUND: &str = "Registration request not found";

/// Poll a registration
///
/// `pending` until a worker has handled it, then `completed` (with the
/// patient), `rejected` (with `errors`) or `failed` (submit it again).
/// Every read is audited.
///
/// A registration submitted with a partner key is readable only with that
/// key (`X-API-Key` or `Authorization: Bearer`); anyone else gets the same
/// 404 as for an unknown id. Self-registrations (no key) are readable by
/// id. The patient's `email` and `phone_number` are shown only for
/// `STATUS_CONTACT_TTL` (24 hours by default) after the request settled;
/// after that, ids and status only.
#[utoipa::path(
    get,
    path = "/api/v1/patient/registrations/{request_id}",
    tag = "registration",
    operation_id = "registration_status",
    params(("request_id" = String, Path, description = "From the 202's `data.request_id` \
        (anything else is simply not found)")),
    security((), ("api_key" = [])),
    responses(
        (status = 200, description = "The request's status", body = Success<RequestStatus>),
        (status = 401, description = "A partner key was presented and is not valid",
            body = ErrorBody, example = json!(ApiError::Unauthorized("Invalid API key").body())),
        (status = 404, description = "No such request (or another partner's)", body = ErrorBody,
            example = json!(ApiError::NotFound(NOT_FOUND).body())),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn status(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    MaybePartner(reader): MaybePartner,
    Path(raw_id): Path<String>,
) -> Result<Success<RequestStatus>, ApiError> {
    // An id that is not a UUID cannot exist: same answer as an unknown one.
    let id = Uuid::parse_str(&raw_id).ok();
    let found = match id {
        Some(id) => {
            let ttl = state.partners.status_contact_ttl;
            requests::find_status(&state.db, id, reader, ttl).await?
        }
        None => None,
    };
    // Every read is audited: a completed request shows contact details.
    let client = client.to_string();
    let entry = Entry {
        action: Action::RegistrationStatusRead,
        outcome: if found.is_some() {
            "success"
        } else {
            "not_found"
        },
        patient_id: found.as_ref().and_then(|f| f.patient_id),
        request_id: id,
        client_addr: Some(&client),
    };
    state.audit.record(&entry).await?;
    Ok(Success::data(found.ok_or(ApiError::NotFound(NOT_FOUND))?))
}
