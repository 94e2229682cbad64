//! `GET /api/v1/patient/profile/{patient_id}`: the patient's own profile,
//! for the bearer of a valid access token for that patient only.

use axum::{
    extract::{Path, State},
    response::Response,
};
use shared::audit::{Action, Entry};
use uuid::Uuid;

use crate::{
    error::ApiError,
    extract::{AuthPatient, ClientAddr},
    profile::{self, Profile},
    wire::{
        responses::{BearerRequired, Internal, TimedOut, Unavailable},
        ErrorBody, Success,
    },
    AppState,
};

pub(crate) const NOT_YOURS: &str = "You may only read your own profile";
pub(crate) const DEACTIVATED: &str = "This account has been deactivated";
pub(crate) const NOT_FOUND: &str = "Patient not found";

/// Read the patient's own profile
///
/// Needs an access token from login (`Authorization: Bearer <token>`) for
/// this very patient. Every read is audited. The sealed fields (emergency
/// contact, medical history, insurance) are returned decrypted; the
/// password hash never is.
#[utoipa::path(
    get,
    path = "/api/v1/patient/profile/{patient_id}",
    tag = "profile",
    operation_id = "profile",
    params(("patient_id" = String, Path,
        description = "The token's own patient (`data.patient_id` from login)")),
    security(("bearer_auth" = [])),
    responses(
        (status = 200, description = "The profile", body = Success<Profile>,
            headers(("ETag" = String, description = "This version's tag: send it as `If-Match` \
                with a change (PATCH) so that it applies only to what you read"))),
        (status = 401, response = BearerRequired),
        (status = 403, description = "Another patient's profile (or an id that is not a UUID), \
            or the account is deactivated", body = ErrorBody,
            examples(
                ("Another patient" = (value = json!(ApiError::Forbidden(NOT_YOURS).body()))),
                ("Deactivated" = (value = json!(ApiError::Forbidden(DEACTIVATED).body()))),
            )),
        (status = 404, description = "The token's patient no longer exists", body = ErrorBody,
            example = json!(ApiError::NotFound(NOT_FOUND).body())),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(name = "profile", skip_all)]
pub async fn profile(
    State(state): State<AppState>,
    authenticated: Result<AuthPatient, ApiError>,
    ClientAddr(client): ClientAddr,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let client = client.to_string();
    let caller = own_profile(
        &state,
        authenticated,
        &client,
        &raw_id,
        Action::ProfileRead,
        NOT_YOURS,
    )
    .await?;
    let audit = |outcome| Entry {
        action: Action::ProfileRead,
        outcome,
        patient_id: Some(caller),
        request_id: None,
        client_addr: Some(&client),
    };
    let row = profile::find(&state.db, caller)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    if !row.is_active {
        state.audit.record(&audit("deactivated")).await?;
        return Err(ApiError::Forbidden(DEACTIVATED));
    }
    // Every read of PHI leaves a trace before the PHI leaves the building.
    state.audit.record(&audit("success")).await?;
    super::profile_update::answer(&state, row, None)
}

/// Who may act on profile `raw_id`: the bearer of a valid access token for
/// that very patient. A refusal (no valid token, or another patient's id)
/// is audited as `action` before it is answered, with `not_yours` for the
/// second.
pub(crate) async fn own_profile(
    state: &AppState,
    authenticated: Result<AuthPatient, ApiError>,
    client: &str,
    raw_id: &str,
    action: Action,
    not_yours: &'static str,
) -> Result<Uuid, ApiError> {
    let requested = Uuid::parse_str(raw_id).ok();
    let refused = |outcome| Entry {
        action,
        outcome,
        patient_id: requested,
        request_id: None,
        client_addr: Some(client),
    };
    match authenticated {
        Ok(AuthPatient(caller)) if requested == Some(caller) => Ok(caller),
        Ok(_) => {
            state.audit.record(&refused("forbidden")).await?;
            Err(ApiError::Forbidden(not_yours))
        }
        Err(unauthenticated) => {
            state.audit.record(&refused("unauthenticated")).await?;
            Err(unauthenticated)
        }
    }
}
