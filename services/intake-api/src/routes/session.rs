//! `POST /api/v1/patient/token/refresh` and `POST /api/v1/patient/logout`:
//! a session goes on without a password, and ends when its patient says so.

use axum::extract::State;
use serde::Deserialize;
use shared::{
    audit::{Action, Entry},
    validation::FieldErrors,
};
use utoipa::ToSchema;

use crate::{
    error::ApiError,
    extract::{AuthSession, ClientAddr, RequestBody, Text, Valid},
    routes::login::SessionTokens,
    sessions::{self, Refresh, Revocation},
    wire::{
        responses::{BearerRequired, Internal, JsonBodyErrors, RateLimited, TimedOut, Unavailable},
        Empty, ErrorBody, Success,
    },
    AppState,
};

const INVALID_REFRESH: &str = "Invalid or expired refresh token";

/// The refresh token from login or from the last refresh.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"refresh_token": "pT3rA0k6m2nS3x9QeR0d8hWcV5yL1uJ7bZ4fG2iK0oM"}))]
pub struct RefreshRequest {
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 512, pattern = r"\S")]
    refresh_token: Text,
}

/// A presented refresh token, trimmed.
pub struct Presented(String);

impl RequestBody for RefreshRequest {
    type Valid = Presented;

    fn validate(self) -> Result<Presented, FieldErrors> {
        let mut errors = FieldErrors::new();
        self.refresh_token
            .required("refresh_token", "Refresh token", &mut errors)
            .map(|t| Presented(t.trim().to_owned()))
            .ok_or(errors)
    }
}

/// Refresh the session
///
/// Exchanges a refresh token for a new access token and a new refresh
/// token; the presented one stops working. A refresh token presented a
/// second time (after it was exchanged) means it leaked: the whole session
/// is revoked, its access tokens included, and the answer is 401. Unknown,
/// expired or revoked tokens: the same 401 (a business outcome). At most
/// `TOKEN_RATE_LIMIT_PER_CLIENT` (60) a minute from one address.
#[utoipa::path(
    post,
    path = "/api/v1/patient/token/refresh",
    tag = "accounts",
    operation_id = "refresh_token",
    request_body(content = RefreshRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The next access and refresh tokens", body = Success<SessionTokens>),
        JsonBodyErrors,
        (status = 401, description = "Unknown, expired, revoked or already used refresh token",
            body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`")),
            example = json!(ApiError::Unauthorized(INVALID_REFRESH).body())),
        (status = 422, description = "`refresh_token` missing, blank or not a string", body = ErrorBody,
            example = json!(ApiError::Validation(FieldErrors::single("refresh_token",
                "Refresh token is required")).body())),
        (status = 429, response = RateLimited),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(name = "refresh_token", skip_all)]
pub async fn refresh(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Valid(Presented(token)): Valid<RefreshRequest>,
) -> Result<Success<SessionTokens>, ApiError> {
    crate::passwords::throttle_tokens(&state, client)?;
    if token.len() > 512 {
        return Err(ApiError::Unauthorized(INVALID_REFRESH));
    }
    let accounts = &state.accounts;
    let outcome = sessions::refresh(&state.db, &token, accounts.config.refresh_ttl).await?;
    let client = client.to_string();
    let audit = |outcome, patient_id| Entry {
        action: Action::TokenRefresh,
        outcome,
        patient_id,
        request_id: None,
        client_addr: Some(&client),
    };
    match outcome {
        Refresh::Rotated {
            patient_id,
            session,
            token,
        } => {
            // The old token is rotated by now: a failed audit write is logged,
            // not answered with 503, or the retry would look like reuse.
            let _ = state
                .audit
                .record(&audit("success", Some(patient_id)))
                .await;
            Ok(Success::new(
                "Token refreshed",
                SessionTokens::issue(accounts, patient_id, session, &token),
            ))
        }
        Refresh::Refused { patient_id } => {
            state
                .audit
                .record(&audit("invalid_token", patient_id))
                .await?;
            Err(ApiError::Unauthorized(INVALID_REFRESH))
        }
        Refresh::Reused { patient_id } => {
            tracing::warn!(%patient_id, "a rotated refresh token was presented again: session revoked");
            // The session is revoked already: a failed audit write is
            // logged, and the answer is the 401 all the same.
            let _ = state
                .audit
                .record(&audit("reuse_detected", Some(patient_id)))
                .await;
            Err(ApiError::Unauthorized(INVALID_REFRESH))
        }
    }
}

/// Log out
///
/// Ends the session the access token belongs to: its refresh token and
/// every access token of it stop working at once. The patient's other
/// sessions go on.
#[utoipa::path(
    post,
    path = "/api/v1/patient/logout",
    tag = "accounts",
    operation_id = "logout",
    security(("bearer_auth" = [])),
    responses(
        (status = 200, description = "Logged out", body = Success<Empty>,
            example = json!(Success::new("Logged out", Empty {}))),
        (status = 401, response = BearerRequired),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(name = "logout", skip_all)]
pub async fn logout(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    auth: AuthSession,
) -> Result<Success<Empty>, ApiError> {
    sessions::revoke(&state.db, auth.session.id, Revocation::Logout).await?;
    let client = client.to_string();
    let _ = state
        .audit
        .record(&Entry {
            action: Action::Logout,
            outcome: "success",
            patient_id: Some(auth.patient_id),
            request_id: None,
            client_addr: Some(&client),
        })
        .await;
    Ok(Success::new("Logged out", Empty {}))
}
