//! One error type for every handler, rendered in the envelope
//! `{"success": false, "message", "errors"}`. Causes of 5xx answers are
//! logged here and never shown to the client.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use shared::validation::FieldErrors;

use crate::wire::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Validation failed")]
    Validation(FieldErrors),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// Missing or bad credentials; the message never says which part.
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    /// `If-Match` named a version of the resource that is no longer current.
    #[error("{0}")]
    PreconditionFailed(&'static str),
    #[error("This Idempotency-Key was already used with a different request payload")]
    IdempotencyKeyReused,
    #[error("{message}")]
    TooManyRequests {
        message: &'static str,
        retry_after: std::time::Duration,
    },
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    #[error("Request body is too large (at most 64 KiB)")]
    PayloadTooLarge,
    /// A dependency is down: the client should retry later.
    #[error("Service temporarily unavailable, please retry shortly")]
    Unavailable(#[source] anyhow::Error),
    /// The request queue is at its bound (`REQUEST_QUEUE_MAX_LENGTH`): the
    /// broker refused the message. Backpressure, not a fault: counted in
    /// the metrics and logged at debug, so a flood does not flood the logs.
    #[error("Too many registrations are waiting to be processed, please retry shortly")]
    Overloaded,
    /// Too many passwords are being checked at once
    /// (`PASSWORD_VERIFY_MAX_CONCURRENT`): refused before any hashing.
    #[error("Too many sign-ins are being processed, please retry shortly")]
    Busy,
    /// The request took longer than `HTTP_REQUEST_TIMEOUT`.
    #[error("Request timed out")]
    RequestTimeout,
    #[error("Internal server error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) | Self::Overloaded | Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl ApiError {
    /// The envelope this error is answered with.
    pub fn body(&self) -> ErrorBody {
        let errors = match self {
            Self::Validation(errors) => errors.clone(),
            Self::IdempotencyKeyReused => FieldErrors::single("Idempotency-Key", self.to_string()),
            _ => FieldErrors::new(),
        };
        ErrorBody::new(self.to_string(), errors)
    }
}

/// A database that cannot be reached is a 503 (retry later); any other
/// database error is a fault of ours, a 500.
impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if shared::db::is_transient(&e) {
            Self::Unavailable(e.into())
        } else {
            Self::Internal(e.into())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "dependency unavailable")
            }
            Self::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error")
            }
            Self::Overloaded => {
                shared::metrics::metrics().refused_queue_full.inc();
                tracing::debug!("request queue full: registration refused");
            }
            _ => {}
        }
        let mut response = (self.status(), Json(self.body())).into_response();
        let headers = response.headers_mut();
        match self {
            Self::Unavailable(_) | Self::Overloaded => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            Self::Busy => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::Conflict(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::TooManyRequests { retry_after, .. } => {
                // Round up: a client that waits this long is let in.
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
            Self::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}
