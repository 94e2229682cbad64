//! `POST /api/v1/patient/phone/verification` and
//! `POST /api/v1/patient/phone/verification/confirm`: the patient proves
//! they hold their phone number with a six-digit code sent by SMS.

use std::time::Duration;

use axum::{extract::State, http::StatusCode, response::Response};
use serde::{Deserialize, Serialize};
use shared::{phone_code, validation::FieldErrors};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    error::ApiError,
    extract::{AuthPatient, ClientAddr, RequestBody, Text, Valid},
    phone_verification::{self, Checked, Requested},
    routes::profile::{DEACTIVATED, NOT_FOUND},
    wire::{
        responses::{
            BearerRequired, Internal, PayloadTooLarge, TimedOut, Unavailable, UnsupportedMediaType,
        },
        Empty, ErrorBody, Success,
    },
    AppState,
};

const CODE_SENT: &str = "A verification code has been sent to your phone number by text message.";
const ALREADY_VERIFIED: &str = "Your phone number is already verified";
const TOO_MANY_CODES: &str = "Too many verification codes requested. Please try again later.";
const EMAIL_UNVERIFIED: &str =
    "Verify your email address first: codes are texted only to accounts with a verified email";
const INVALID_CODE: &str = "Invalid or expired verification code";
const ATTEMPTS_SPENT: &str =
    "Too many attempts with this code. Please request a new verification code.";
const CODE_FORMAT: &str = "Code must be the 6 digits from the text message";

/// Send a phone verification code
///
/// Sends a six-digit code by text message to the patient's phone number
/// (drawn by the notification worker from the OS's CSPRNG; only a keyed hash
/// is stored). It expires after `PHONE_CODE_TTL` (10 minutes by default);
/// a new request replaces the earlier code. At most 3 codes an hour per
/// patient and per number (429 with `Retry-After` past that). Only for an
/// account whose email is verified (403 otherwise).
#[utoipa::path(
    post,
    path = "/api/v1/patient/phone/verification",
    tag = "accounts",
    operation_id = "request_phone_verification",
    security(("bearer_auth" = [])),
    responses(
        (status = 202, description = "A code is on its way", body = Success<Empty>),
        (status = 401, response = BearerRequired),
        (status = 403, description = "The email address is not verified yet, or the account \
            is deactivated", body = ErrorBody, examples(
                ("Email not verified" = (value = json!(ApiError::Forbidden(EMAIL_UNVERIFIED).body()))),
                ("Deactivated" = (value = json!(ApiError::Forbidden(DEACTIVATED).body()))),
            )),
        (status = 404, description = "The token's patient no longer exists", body = ErrorBody,
            example = json!(ApiError::NotFound(NOT_FOUND).body())),
        (status = 409, description = "The phone number is already verified", body = ErrorBody,
            example = json!(ApiError::Conflict(ALREADY_VERIFIED).body())),
        (status = 429, description = "3 codes were sent in the last hour: wait `Retry-After` \
            seconds", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait")),
            example = json!(ApiError::TooManyRequests {
                message: TOO_MANY_CODES, retry_after: Duration::from_secs(1200) }.body())),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(name = "request_phone_verification", skip_all)]
pub async fn request(
    State(state): State<AppState>,
    AuthPatient(patient_id): AuthPatient,
    ClientAddr(client): ClientAddr,
) -> Result<Response, ApiError> {
    let client = client.to_string();
    match phone_verification::request(&state.db, patient_id, &client).await? {
        Requested::Sent(event) => crate::outbox::publish_soon(&state, event),
        Requested::TooMany(retry_after) => {
            return Err(ApiError::TooManyRequests {
                message: TOO_MANY_CODES,
                retry_after,
            })
        }
        Requested::AlreadyVerified => return Err(ApiError::Conflict(ALREADY_VERIFIED)),
        Requested::EmailUnverified => return Err(ApiError::Forbidden(EMAIL_UNVERIFIED)),
        Requested::Inactive => return Err(ApiError::Forbidden(DEACTIVATED)),
        Requested::Unknown => return Err(ApiError::NotFound(NOT_FOUND)),
    }
    Ok(Success::new(CODE_SENT, Empty {}).with_status(StatusCode::ACCEPTED))
}

/// The code from the text message.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"code": "042917"}))]
pub struct ConfirmPhoneRequest {
    /// Six digits; surrounding spaces ignored.
    #[serde(default)]
    #[schema(value_type = String, required = true, pattern = r"^\s*[0-9]{6}\s*$")]
    code: Text,
}

/// A code that has the shape of one.
pub struct Code(String);

impl RequestBody for ConfirmPhoneRequest {
    type Valid = Code;

    fn validate(self) -> Result<Code, FieldErrors> {
        let mut errors = FieldErrors::new();
        let raw = self
            .code
            .required("code", "Code", &mut errors)
            .ok_or(errors)?;
        phone_code::parse(&raw)
            .map(|c| Code(c.to_owned()))
            .ok_or_else(|| FieldErrors::single("code", CODE_FORMAT))
    }
}

/// 200 from confirm.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifiedPhone {
    patient_id: Uuid,
    #[schema(example = true)]
    phone_verified: bool,
}

/// Confirm the phone number with its code
///
/// Checks the code last sent: right, and the number it was sent to is
/// verified. A wrong, expired, replaced or used code gets one 400; each
/// code may be checked 5 times, then 429 until a new one is requested. At
/// most `TOKEN_RATE_LIMIT_PER_CLIENT` (60) attempts a minute from one
/// address.
#[utoipa::path(
    post,
    path = "/api/v1/patient/phone/verification/confirm",
    tag = "accounts",
    operation_id = "confirm_phone_verification",
    security(("bearer_auth" = [])),
    request_body(content = ConfirmPhoneRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The phone number is verified", body = Success<VerifiedPhone>),
        (status = 400, description = "Wrong, expired, replaced or used code; or malformed JSON",
            body = ErrorBody, example = json!(ApiError::BadRequest(INVALID_CODE.into()).body())),
        (status = 401, response = BearerRequired),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`code` missing or not six digits", body = ErrorBody,
            example = json!(ApiError::Validation(FieldErrors::single("code", CODE_FORMAT)).body())),
        (status = 429, description = "This code's 5 checks are spent (request a new one), or \
            too many attempts from this address", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait")),
            example = json!(ApiError::TooManyRequests {
                message: ATTEMPTS_SPENT, retry_after: Duration::from_secs(1) }.body())),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(name = "confirm_phone_verification", skip_all)]
pub async fn confirm(
    State(state): State<AppState>,
    AuthPatient(patient_id): AuthPatient,
    ClientAddr(client): ClientAddr,
    Valid(Code(code)): Valid<ConfirmPhoneRequest>,
) -> Result<Success<VerifiedPhone>, ApiError> {
    crate::passwords::throttle_tokens(&state, client)?;
    let client = client.to_string();
    let checked =
        phone_verification::check(&state.db, &state.keyring, patient_id, &code, &client).await?;
    match checked {
        Checked::Verified => Ok(Success::new(
            "Phone number verified successfully.",
            VerifiedPhone {
                patient_id,
                phone_verified: true,
            },
        )),
        Checked::Invalid => Err(ApiError::BadRequest(INVALID_CODE.into())),
        Checked::Spent => Err(ApiError::TooManyRequests {
            message: ATTEMPTS_SPENT,
            retry_after: Duration::from_secs(1),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_six_digits_pass_as_a_code() {
        let cases = [
            (Some("123456"), Ok("123456")),
            (Some(" 654321 "), Ok("654321")),
            (Some("12345"), Err(CODE_FORMAT)),
            (Some("abcdef"), Err(CODE_FORMAT)),
            (None, Err("Code is required")),
        ];
        for (raw, want) in cases {
            let code = raw.map_or(Text::Missing, |r| Text::Given(r.to_owned()));
            let got = ConfirmPhoneRequest { code }
                .validate()
                .map(|Code(c)| c)
                .map_err(|e| e.get("code").map(|m| m[0].clone()).unwrap_or_default());
            assert_eq!(
                got,
                want.map(str::to_owned).map_err(str::to_owned),
                "{raw:?}"
            );
        }
        assert_eq!(shared::phone_code::MAX_CHECKS, 5);
    }
}
