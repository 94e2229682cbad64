//! `Authorization: Bearer <access token>`: the patient it speaks for, or
//! 401 without saying what was wrong with it. A token is accepted only
//! while its session is live at the generation it names (a logout, a
//! password change or reset ends it at once).

use axum::{extract::FromRequestParts, http::request::Parts};
use uuid::Uuid;

use crate::{error::ApiError, sessions, AppState};

pub const UNAUTHENTICATED: &str = "Authentication required: a valid Bearer access token";

/// The patient whose valid access token came with the request.
#[derive(Debug, Clone, Copy)]
pub struct AuthPatient(pub Uuid);

/// The same, with the session the token belongs to (logout, change-password).
#[derive(Debug, Clone, Copy)]
pub struct AuthSession {
    pub patient_id: Uuid,
    pub session: sessions::SessionRef,
}

impl FromRequestParts<AppState> for AuthSession {
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
        let session = sessions::SessionRef {
            id: claims.sid,
            generation: claims.gen,
        };
        if !sessions::is_live(&state.db, claims.sub, session).await? {
            tracing::info!(reason = "session ended", "access token refused");
            return Err(ApiError::Unauthorized(UNAUTHENTICATED));
        }
        Ok(Self {
            patient_id: claims.sub,
            session,
        })
    }
}

impl FromRequestParts<AppState> for AuthPatient {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        AuthSession::from_request_parts(parts, state)
            .await
            .map(|auth| Self(auth.patient_id))
    }
}
