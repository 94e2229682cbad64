//! `Authorization: Bearer <access token>`: the patient it speaks for, or
//! 401 without saying what was wrong with it.

use axum::{extract::FromRequestParts, http::request::Parts};
use uuid::Uuid;

use crate::{error::ApiError, AppState};

pub const UNAUTHENTICATED: &str = "Authentication required: a valid Bearer access token";

/// The patient whose valid access token came with the request.
#[derive(Debug, Clone, Copy)]
pub struct AuthPatient(pub Uuid);

impl FromRequestParts<AppState> for AuthPatient {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token =
            crate::auth::bearer(&parts.headers).ok_or(ApiError::Unauthorized(UNAUTHENTICATED))?;
        let claims = state
            .accounts
            .jwt
            .verify(token, chrono::Utc::now().timestamp())
            .map_err(|e| {
                tracing::info!(reason = %e, "access token refused");
                ApiError::Unauthorized(UNAUTHENTICATED)
            })?;
        Ok(Self(claims.sub))
    }
}
