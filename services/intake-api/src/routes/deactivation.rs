//! `DELETE /api/v1/patient/profile/{patient_id}`: the patient deactivates
//! their own account, giving their password. The profile's own rules say
//! who may (401, 403, 404 as for reading it); the password is checked as
//! change-password checks the current one.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use shared::{audit::Action, validation::FieldErrors};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    deactivation::{self, NOT_FOUND},
    error::ApiError,
    extract::{AuthPatient, ClientAddr, RequestBody, Text, Valid},
    passwords::{self, WRONG_PASSWORD},
    routes::profile::own_profile,
    wire::{
        responses::{Internal, JsonBodyErrors, PasswordBusy, PasswordLimited, TimedOut},
        ErrorBody, False, Success,
    },
    AppState,
};

const NOT_YOURS: &str = "You may only deactivate your own account";
pub const DEACTIVATED: &str = "Account deactivated";

/// The password that proves the patient means it.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"password": "SecurePassword123!"}))]
pub struct DeactivateRequest {
    /// The patient's current password.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = Password, min_length = 1, pattern = r"\S")]
    password: Text,
}

impl RequestBody for DeactivateRequest {
    type Valid = String;

    fn validate(self) -> Result<String, FieldErrors> {
        let mut errors = FieldErrors::new();
        self.password
            .required("password", "Password", &mut errors)
            .ok_or(errors)
    }
}

/// The account as it is now: kept, inactive.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deactivated {
    id: Uuid,
    /// Always `false`.
    #[schema(value_type = bool, example = false)]
    is_active: False,
}

/// Deactivate the patient's own account
///
/// Needs an access token for this very patient and the patient's password,
/// checked like change-password's current password (the same throttles,
/// and a wrong one counts towards the lockout). The account becomes
/// inactive: every session of it ends at once (its access and refresh
/// tokens stop working), login answers 403, and a notice email goes out.
/// The record itself is kept (medical-record retention); an operator can
/// reactivate it (`admin patient reactivate`).
#[utoipa::path(
    delete,
    path = "/api/v1/patient/profile/{patient_id}",
    tag = "profile",
    operation_id = "deactivate_account",
    params(("patient_id" = String, Path,
        description = "The token's own patient (`data.patient_id` from login)")),
    request_body(content = DeactivateRequest, content_type = "application/json"),
    security(("bearer_auth" = [])),
    responses(
        (status = 200, description = "Deactivated; every session ended", body = Success<Deactivated>,
            example = json!(Success::new(DEACTIVATED, serde_json::json!(
                {"id": "6f1c2a43-4d0e-4b8e-9a57-2f3d1c0b9e11", "is_active": false})))),
        JsonBodyErrors,
        (status = 401, description = "No valid access token, or a wrong password",
            body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`")),
            examples(
                ("Wrong password" = (value = json!(ApiError::Unauthorized(WRONG_PASSWORD).body()))),
                ("No token" = (value = json!(ApiError::Unauthorized(crate::extract::UNAUTHENTICATED).body()))),
            )),
        (status = 403, description = "Another patient's account (or an id that is not a UUID), \
            or the account is deactivated already", body = ErrorBody,
            examples(
                ("Another patient" = (value = json!(ApiError::Forbidden(NOT_YOURS).body()))),
                ("Deactivated" = (value = json!(ApiError::Forbidden(passwords::DEACTIVATED).body()))),
            )),
        (status = 404, description = "The token's patient no longer exists", body = ErrorBody,
            example = json!(ApiError::NotFound(NOT_FOUND).body())),
        (status = 422, description = "`password` missing, blank or not a string", body = ErrorBody,
            example = json!(ApiError::Validation(FieldErrors::single("password",
                "Password is required")).body())),
        (status = 429, response = PasswordLimited),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = PasswordBusy),
    )
)]
#[tracing::instrument(name = "deactivate_account", skip_all)]
pub async fn deactivate(
    State(state): State<AppState>,
    authenticated: Result<AuthPatient, ApiError>,
    ClientAddr(client): ClientAddr,
    Path(raw_id): Path<String>,
    body: Result<Valid<DeactivateRequest>, ApiError>,
) -> Result<Success<Deactivated>, ApiError> {
    // Who may, as for reading the profile, before the body is looked at.
    let caller = own_profile(
        &state,
        authenticated,
        &client.to_string(),
        &raw_id,
        Action::AccountDeactivate,
        NOT_YOURS,
    )
    .await?;
    let Valid(password) = body?;
    deactivation::deactivate(&state, client, caller, &password).await?;
    Ok(Success::new(
        DEACTIVATED,
        Deactivated {
            id: caller,
            is_active: False,
        },
    ))
}
