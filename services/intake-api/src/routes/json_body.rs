//! Reading a JSON request body: the media type must say JSON (415
//! otherwise), the body must fit (413) and parse (400, saying where it broke).

use axum::{
    body::Bytes,
    extract::rejection::BytesRejection,
    http::{header, HeaderMap, StatusCode},
};
use serde_json::Value;

use crate::error::ApiError;

/// Checks the media type and that the body is JSON at all; the shape is the
/// validator's business.
pub fn parse_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        });
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        _ => ApiError::BadRequest("Could not read the request body".into()),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        // serde_json's syntax errors name a line and column, never content.
        ApiError::BadRequest(format!("Malformed JSON: {e}"))
    })
}

/// A required string field of a small JSON body, or its field error.
pub fn required_str<'a>(
    body: &'a Value,
    field: &str,
    label: &str,
    errors: &mut shared::validation::FieldErrors,
) -> Option<&'a str> {
    match body.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s),
        Some(Value::String(_) | Value::Null) | None => {
            errors.add(field, format!("{label} is required"));
            None
        }
        Some(_) => {
            errors.add(field, format!("{label} must be a string"));
            None
        }
    }
}
