//! `PATCH /api/v1/patient/profile/{patient_id}`: the patient changes their
//! own profile with a JSON merge patch (RFC 7396), optionally guarded by
//! `If-Match`.

use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use shared::{
    audit::{Action, Entry},
    domain::{apply_profile_patch, AddressBody, EmergencyContactBody, InsuranceBody},
    validation::{FieldErrors, PHONE_TAKEN},
};
use utoipa::ToSchema;

use crate::{
    error::ApiError,
    extract::{AuthPatient, ClientAddr, JsonBody},
    profile::{Profile, Row},
    profile_changes::{self, Saved},
    routes::profile::{own_profile, DEACTIVATED, NOT_FOUND, NOT_YOURS},
    wire::{
        responses::{BearerRequired, Internal, PayloadTooLarge, TimedOut, Unavailable},
        ErrorBody, Success,
    },
    AppState,
};

pub const STALE: &str =
    "The profile has changed since it was read: read it again, then send the change with its new ETag";
const UPDATED: &str = "Profile updated";

/// A merge patch of the profile: every member optional; `null` removes an
/// optional block (`emergency_contact`, `medical_history`,
/// `insurance_info`). Members of `address` not sent are kept. Documents the
/// body only: it is read as JSON and checked as a whole, every error at once.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct ProfilePatch {
    #[schema(example = "Janet")]
    first_name: Option<String>,
    last_name: Option<String>,
    /// A new number must be free; it resets `phone_verified`.
    #[schema(example = "+1234567899")]
    phone_number: Option<String>,
    #[schema(format = Date)]
    date_of_birth: Option<String>,
    #[schema(value_type = Option<shared::domain::Gender>)]
    gender: Option<String>,
    /// The members to change; the others are kept.
    address: Option<AddressBody>,
    #[schema(nullable)]
    emergency_contact: Option<EmergencyContactBody>,
    #[schema(nullable)]
    medical_history: Option<Vec<String>>,
    #[schema(nullable)]
    insurance_info: Option<InsuranceBody>,
}

/// Change the patient's own profile
///
/// A JSON merge patch (RFC 7396; `Content-Type:
/// application/merge-patch+json`, or `application/json`) over the editable
/// fields. The result is checked with the registration's rules and
/// messages, every error at once; `email`, `password` and the other fields
/// shown but not editable here are refused by name. A new phone number must
/// not belong to another patient, and resets `phone_verified`.
///
/// Send the `ETag` of the profile you read as `If-Match`: if the profile has
/// changed since, nothing is written and the answer is 412. Without
/// `If-Match` the change applies to the profile as it is. Every change is
/// audited with the names of the fields changed, never their values.
#[utoipa::path(
    patch,
    path = "/api/v1/patient/profile/{patient_id}",
    tag = "profile",
    operation_id = "update_profile",
    params(
        ("patient_id" = String, Path,
            description = "The token's own patient (`data.patient_id` from login)"),
        ("If-Match" = Option<String>, Header,
            description = "The `ETag` of the profile the change is based on, or `*`"),
    ),
    request_body(content = ProfilePatch, content_type = "application/merge-patch+json",
        example = json!({"address": {"city": "Cambridge"}, "insurance_info": null})),
    security(("bearer_auth" = [])),
    responses(
        (status = 200, description = "The whole profile as it now is", body = Success<Profile>,
            headers(("ETag" = String, description = "The new version's tag"))),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, response = BearerRequired),
        (status = 403, description = "Another patient's profile (or an id that is not a UUID), \
            or the account is deactivated", body = ErrorBody,
            example = json!(ApiError::Forbidden(NOT_YOURS).body())),
        (status = 404, description = "The token's patient no longer exists", body = ErrorBody,
            example = json!(ApiError::NotFound(NOT_FOUND).body())),
        (status = 408, response = TimedOut),
        (status = 412, description = "`If-Match` names a version that is no longer current",
            body = ErrorBody, example = json!(ApiError::PreconditionFailed(STALE).body())),
        (status = 413, response = PayloadTooLarge),
        (status = 415, description = "The body is not JSON (`application/merge-patch+json` or \
            `application/json`)", body = ErrorBody),
        (status = 422, description = "Validation failed: messages by field, read-only and \
            unknown fields included, or the phone number belongs to another patient",
            body = ErrorBody,
            example = json!(ApiError::Validation(FieldErrors::single("phone_number", PHONE_TAKEN)).body())),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(name = "update_profile", skip_all)]
pub async fn update(
    State(state): State<AppState>,
    authenticated: Result<AuthPatient, ApiError>,
    ClientAddr(client): ClientAddr,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
    body: Result<JsonBody, ApiError>,
) -> Result<Response, ApiError> {
    let client = client.to_string();
    let caller = own_profile(
        &state,
        authenticated,
        &client,
        &raw_id,
        Action::ProfileUpdate,
        NOT_YOURS,
    )
    .await?;
    let audit = |outcome| Entry {
        action: Action::ProfileUpdate,
        outcome,
        patient_id: Some(caller),
        request_id: None,
        client_addr: Some(&client),
    };
    let JsonBody(patch) = body?;

    let mut tx = state.db.begin().await?;
    let row = profile_changes::find_locked(&mut tx, caller)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    if !row.is_active {
        drop(tx);
        state.audit.record(&audit("deactivated")).await?;
        return Err(ApiError::Forbidden(DEACTIVATED));
    }
    if !if_match(&headers, &row.etag()) {
        drop(tx);
        state.audit.record(&audit("precondition_failed")).await?;
        return Err(ApiError::PreconditionFailed(STALE));
    }
    let current = row.editable(&state.keyring).map_err(unopened)?;
    let today = chrono::Utc::now().date_naive();
    let patched = match apply_profile_patch(&current, &patch, today) {
        Ok(patched) => patched,
        Err(errors) => {
            drop(tx);
            state.audit.record(&audit("rejected")).await?;
            return Err(ApiError::Validation(errors));
        }
    };
    let row = if patched.changed.is_empty() {
        drop(tx);
        state.audit.record(&audit("unchanged")).await?;
        row
    } else {
        let saved = profile_changes::save(
            &mut tx,
            &state.keyring,
            caller,
            &patched.fields,
            &patched.changed,
            &client,
        )
        .await?;
        match saved {
            Saved::Updated(row, notice) => {
                tx.commit().await?;
                crate::outbox::publish_soon(&state, notice);
                *row
            }
            Saved::PhoneTaken => {
                drop(tx);
                state.audit.record(&audit("rejected")).await?;
                return Err(ApiError::Validation(FieldErrors::single(
                    "phone_number",
                    PHONE_TAKEN,
                )));
            }
        }
    };
    tracing::info!(fields = ?patched.changed, "profile updated");
    answer(&state, row, Some(UPDATED))
}

/// The profile with its `ETag`: the answer to a read and to a change.
pub(crate) fn answer(
    state: &AppState,
    row: Row,
    message: Option<&'static str>,
) -> Result<Response, ApiError> {
    let etag = HeaderValue::from_str(&row.etag()).map_err(|e| ApiError::Internal(e.into()))?;
    let profile = row.open(&state.keyring).map_err(unopened)?;
    let body = match message {
        Some(message) => Success::new(message, profile),
        None => Success::data(profile),
    };
    let mut response = body.into_response();
    response.headers_mut().insert(header::ETAG, etag);
    Ok(response)
}

fn unopened(e: shared::crypto::CryptoError) -> ApiError {
    ApiError::Internal(anyhow::Error::new(e).context("a sealed column could not be opened"))
}

/// RFC 9110 13.1.1: absent, `*`, or a list naming the current tag (strong
/// comparison: a weak tag never matches).
fn if_match(headers: &HeaderMap, current: &str) -> bool {
    let values: Vec<&str> = headers
        .get_all(header::IF_MATCH)
        .iter()
        .map(|v| v.to_str().unwrap_or(""))
        .collect();
    if values.is_empty() {
        return true;
    }
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag == current)
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    #[test]
    fn if_match_compares_strongly() {
        let current = "\"abc\"";
        let cases: [(&[&str], bool); 8] = [
            (&[], true),
            (&["*"], true),
            (&["\"abc\""], true),
            (&["\"old\", \"abc\""], true),
            (&["\"old\"", "\"abc\""], true),
            (&["\"old\""], false),
            (&["W/\"abc\""], false),
            (&["abc"], false),
        ];
        for (values, want) in cases {
            let mut headers = HeaderMap::new();
            for v in values {
                headers.append("if-match", HeaderValue::from_static(v));
            }
            assert_eq!(super::if_match(&headers, current), want, "{values:?}");
        }
    }
}
