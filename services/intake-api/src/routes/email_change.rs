//! `POST /api/v1/patient/change-email` and
//! `POST /api/v1/patient/confirm-email-change`: the logged-in patient asks,
//! with their password, to move their account to a new address; it moves
//! once the link emailed there is confirmed, if the address is still free.

use std::{net::IpAddr, time::Duration};

use axum::{extract::State, http::StatusCode, response::Response};
use serde::{Deserialize, Serialize};
use shared::{
    audit::{Action, Entry},
    domain::Email,
    validation::{FieldErrors, EMAIL_TAKEN},
};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    email_change::{self, Confirmed, Requested},
    error::ApiError,
    extract::{AuthPatient, ClientAddr, RequestBody, Text, Valid, UNAUTHENTICATED},
    outbox,
    passwords::{self, LOCKED_OUT, THROTTLED, WRONG_PASSWORD},
    routes::verification::TokenHash,
    wire::{
        responses::{Internal, JsonBodyErrors, PasswordBusy, TimedOut, Unavailable},
        Empty, ErrorBody, Success, True,
    },
    AppState,
};

const CHANGE_ACCEPTED: &str = "A confirmation link has been sent to your new email address. \
    Your email address changes when you open it.";
pub const SAME_EMAIL: &str = "New email must be different from your current email";
const TOO_MANY: &str = "Too many email change requests. Please try again later.";
pub const INVALID_TOKEN: &str = "Invalid or expired email change link";
const CHANGED: &str = "Email address changed. Log in with your new address from now on.";

/// The new address, and the password that proves the patient asks.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"new_email": "jane.new@email.com", "password": "SecurePassword123!"}))]
pub struct ChangeEmailRequest {
    /// The registration's rules: a valid address of at most 254
    /// characters, stored trimmed and lowercased.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = Email, min_length = 3, max_length = 254,
        example = "jane.new@email.com")]
    new_email: Text,
    /// The patient's current password.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = Password, min_length = 1, pattern = r"\S")]
    password: Text,
}

/// A change as the handler needs it.
pub struct Change {
    new_email: Email,
    password: String,
}

impl RequestBody for ChangeEmailRequest {
    type Valid = Change;

    fn validate(self) -> Result<Change, FieldErrors> {
        let mut errors = FieldErrors::new();
        let new_email = self
            .new_email
            .required("new_email", "Email", &mut errors)
            .and_then(|raw| {
                Email::parse(&raw)
                    .map_err(|messages| errors.add_all("new_email", messages))
                    .ok()
            });
        let password = self.password.required("password", "Password", &mut errors);
        match (new_email, password) {
            (Some(new_email), Some(password)) if errors.is_empty() => Ok(Change {
                new_email,
                password,
            }),
            _ => Err(errors),
        }
    }
}

/// Change the email address
///
/// For the logged-in patient, who gives their password: checked like
/// change-password's current password (the same throttles, and a wrong one
/// counts towards the lockout). A link to
/// `{PUBLIC_BASE_URL}/confirm-email-change?token=…` goes to the new address
/// (single use, valid for `VERIFICATION_TOKEN_TTL`; a newer request revokes
/// the earlier links) and a notice to the current one. The address changes
/// only when the link is confirmed, if no other account has it by then; it
/// is verified from then on. Until then the current address goes on
/// working. At most 3 requests an hour per patient (429 with `Retry-After`
/// past that). Like registration, this says whether an address is
/// registered; only to a logged-in patient who knows their password.
#[utoipa::path(
    post,
    path = "/api/v1/patient/change-email",
    tag = "accounts",
    operation_id = "change_email",
    request_body(content = ChangeEmailRequest, content_type = "application/json"),
    security(("bearer_auth" = [])),
    responses(
        (status = 202, description = "The link and the notice are on their way",
            body = Success<Empty>, example = json!(Success::new(CHANGE_ACCEPTED, Empty {}))),
        JsonBodyErrors,
        (status = 401, description = "No valid access token, or a wrong password",
            body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`")),
            examples(
                ("Wrong password" = (value = json!(ApiError::Unauthorized(WRONG_PASSWORD).body()))),
                ("No token" = (value = json!(ApiError::Unauthorized(UNAUTHENTICATED).body()))),
            )),
        (status = 403, description = "The account is deactivated", body = ErrorBody,
            example = json!(ApiError::Forbidden(passwords::DEACTIVATED).body())),
        (status = 422, description = "`new_email` or `password` missing, blank or not a \
            string, `new_email` not a valid address, the current one, or already registered",
            body = ErrorBody, examples(
                ("Taken" = (value = json!(ApiError::Validation(
                    FieldErrors::single("new_email", EMAIL_TAKEN)).body()))),
                ("Same" = (value = json!(ApiError::Validation(
                    FieldErrors::single("new_email", SAME_EMAIL)).body()))),
            )),
        (status = 429, description = "3 requests in the last hour, too many attempts from this \
            address, or locked out after too many wrong passwords", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait")),
            examples(
                ("Too many" = (value = json!(ApiError::TooManyRequests { message: TOO_MANY,
                    retry_after: Duration::from_secs(1200) }.body()))),
                ("Throttled" = (value = json!(ApiError::TooManyRequests { message: THROTTLED,
                    retry_after: Duration::from_secs(3) }.body()))),
                ("Locked out" = (value = json!(ApiError::TooManyRequests { message: LOCKED_OUT,
                    retry_after: Duration::from_secs(900) }.body()))),
            )),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = PasswordBusy),
    )
)]
#[tracing::instrument(name = "change_email", skip_all)]
pub async fn change_email(
    State(state): State<AppState>,
    AuthPatient(patient_id): AuthPatient,
    ClientAddr(client): ClientAddr,
    Valid(change): Valid<ChangeEmailRequest>,
) -> Result<Response, ApiError> {
    let checked = passwords::check_current(
        &state,
        client,
        patient_id,
        &change.password,
        Action::EmailChangeRequest,
        ApiError::Unauthorized(UNAUTHENTICATED),
    )
    .await?;
    let address = client.to_string();
    let requested = email_change::request(
        &state.db,
        patient_id,
        &checked.password_hash,
        &change.new_email,
        &address,
    )
    .await?;
    drop(checked);
    let outcome = requested.audit_outcome();
    let refusal = match requested {
        Requested::Sent(event) => {
            // Audited in the request's own transaction.
            outbox::publish_soon(&state, event);
            tracing::info!(%patient_id, "email change requested");
            return Ok(Success::new(CHANGE_ACCEPTED, Empty {}).with_status(StatusCode::ACCEPTED));
        }
        Requested::SameEmail => ApiError::Validation(FieldErrors::single("new_email", SAME_EMAIL)),
        Requested::Taken => ApiError::Validation(FieldErrors::single("new_email", EMAIL_TAKEN)),
        Requested::TooMany(retry_after) => ApiError::TooManyRequests {
            message: TOO_MANY,
            retry_after,
        },
        Requested::Superseded => ApiError::Unauthorized(UNAUTHENTICATED),
    };
    let entry = Entry {
        action: Action::EmailChangeRequest,
        outcome,
        patient_id: Some(patient_id),
        request_id: None,
        client_addr: Some(&address),
    };
    state.audit.record(&entry).await?;
    Err(refusal)
}

/// The token from the email change link (`...?token=...`).
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"token": "G1qmJoYazzF9QoirHvKi3IhZDjP4Qlm-0nACStq4kH8"}))]
pub struct ConfirmEmailChangeRequest {
    /// Surrounding spaces ignored.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 512, pattern = r"\S")]
    token: Text,
}

impl RequestBody for ConfirmEmailChangeRequest {
    type Valid = TokenHash;

    fn validate(self) -> Result<TokenHash, FieldErrors> {
        TokenHash::of(self.token)
    }
}

/// 200 from confirm-email-change.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangedEmail {
    patient_id: Uuid,
    #[schema(value_type = bool, example = true)]
    email_verified: True,
}

/// Confirm an email change
///
/// Uses the token from the link emailed to the new address (as the page
/// `POST /confirm-email-change` does): it works once, until it expires
/// (`VERIFICATION_TOKEN_TTL`), and only if it is the patient's newest
/// request. The account's address becomes the new one, verified; the old
/// one no longer logs in, and the verification and reset links sent to it
/// stop working. If another account registered the address meanwhile,
/// nothing changes (422). Any other token gets the same 400. At most
/// `TOKEN_RATE_LIMIT_PER_CLIENT` (60) attempts a minute from one address.
#[utoipa::path(
    post,
    path = "/api/v1/patient/confirm-email-change",
    tag = "accounts",
    operation_id = "confirm_email_change",
    request_body(content = ConfirmEmailChangeRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The address is changed and verified",
            body = Success<ChangedEmail>),
        (status = 413, response = crate::wire::responses::PayloadTooLarge),
        (status = 415, response = crate::wire::responses::UnsupportedMediaType),
        (status = 400, description = "Unknown, used, revoked or expired token; or malformed JSON",
            body = ErrorBody, examples(
                ("Invalid token" = (value = json!(ApiError::BadRequest(INVALID_TOKEN.into()).body()))),
                ("Malformed JSON" = (value = json!(ApiError::BadRequest(
                    "Malformed JSON: expected value at line 1 column 7".into()).body()))),
            )),
        (status = 422, description = "`token` missing, blank or not a string; or another \
            account registered the new address meanwhile (nothing changed)", body = ErrorBody,
            examples(
                ("Taken" = (value = json!(ApiError::Validation(
                    FieldErrors::single("new_email", EMAIL_TAKEN)).body()))),
                ("No token" = (value = json!(ApiError::Validation(
                    FieldErrors::single("token", "Token is required")).body()))),
            )),
        (status = 429, response = crate::wire::responses::RateLimited),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(name = "confirm_email_change", skip_all)]
pub async fn confirm_email_change(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Valid(TokenHash(token_hash)): Valid<ConfirmEmailChangeRequest>,
) -> Result<Success<ChangedEmail>, ApiError> {
    let patient_id = confirm(&state, client, &token_hash).await?;
    Ok(Success::new(
        CHANGED,
        ChangedEmail {
            patient_id,
            email_verified: True,
        },
    ))
}

/// Uses an email change token (the API and the page's form alike): the
/// patient whose address changed; the one generic 400; or 422 on
/// `new_email` if the address is another account's by now.
pub async fn confirm(
    state: &AppState,
    client: IpAddr,
    token_hash: &[u8; 32],
) -> Result<Uuid, ApiError> {
    passwords::throttle_tokens(state, client)?;
    let address = client.to_string();
    let confirmed = email_change::confirm(&state.db, token_hash, &address).await?;
    let (outcome, patient_id, refusal) = match confirmed {
        Confirmed::Changed {
            patient_id,
            verified,
        } => {
            if let Some(event) = verified {
                outbox::publish_soon(state, event);
            }
            tracing::info!(%patient_id, "email changed");
            // Audited in the change's own transaction.
            return Ok(patient_id);
        }
        Confirmed::Invalid { patient_id } => (
            "invalid_token",
            patient_id,
            ApiError::BadRequest(INVALID_TOKEN.into()),
        ),
        Confirmed::Taken { patient_id } => (
            "email_taken",
            Some(patient_id),
            ApiError::Validation(FieldErrors::single("new_email", EMAIL_TAKEN)),
        ),
    };
    let entry = Entry {
        action: Action::EmailChangeConfirm,
        outcome,
        patient_id,
        request_id: None,
        client_addr: Some(&address),
    };
    state.audit.record(&entry).await?;
    Err(refusal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(raw: Option<&str>) -> Text {
        raw.map_or(Text::Missing, |r| Text::Given(r.to_owned()))
    }

    #[test]
    fn the_new_email_is_checked_with_the_registration_rules() {
        let cases = [
            (Some(" Jane.New@Example.COM "), Ok("jane.new@example.com")),
            (None, Err(vec!["Email is required"])),
            (Some("   "), Err(vec!["Email is required"])),
            (
                Some("not-an-email"),
                Err(vec!["Email is not a valid email address"]),
            ),
        ];
        for (raw, want) in cases {
            let got = ChangeEmailRequest {
                new_email: text(raw),
                password: text(Some("pw")),
            }
            .validate()
            .map(|c| c.new_email.as_str().to_owned())
            .map_err(|e| {
                e.get("new_email")
                    .map(<[String]>::to_vec)
                    .unwrap_or_default()
            });
            let want = want
                .map(str::to_owned)
                .map_err(|m| m.into_iter().map(str::to_owned).collect::<Vec<_>>());
            assert_eq!(got, want, "{raw:?}");
        }
    }

    #[test]
    fn every_missing_field_is_named_at_once() {
        let errors = ChangeEmailRequest {
            new_email: Text::NotString,
            password: Text::Missing,
        }
        .validate()
        .err()
        .unwrap_or_default();
        assert_eq!(
            errors.get("new_email"),
            Some(&["Email must be a string".to_owned()][..])
        );
        assert_eq!(
            errors.get("password"),
            Some(&["Password is required".to_owned()][..])
        );
    }
}
