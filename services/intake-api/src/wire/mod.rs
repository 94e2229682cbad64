//! The wire format, once: every answer is a [`Success`] or an
//! [`ErrorBody`], and both are the types the OpenAPI document is generated
//! from, so what is sent and what is documented cannot drift apart.
//! [`responses`] declares the error answers many routes share.

pub mod responses;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;
use shared::validation::FieldErrors;
use utoipa::ToSchema;

/// `{"success": true, "message"?, "data"}`: every successful answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Success<T> {
    /// Always `true`.
    #[schema(value_type = bool, example = true)]
    pub success: True,
    /// What happened, for people; absent from plain reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    pub message: Option<&'static str>,
    pub data: T,
}

impl<T> Success<T> {
    pub fn new(message: &'static str, data: T) -> Self {
        Self {
            success: True,
            message: Some(message),
            data,
        }
    }

    /// A read: data without a message.
    pub fn data(data: T) -> Self {
        Self {
            success: True,
            message: None,
            data,
        }
    }
}

impl<T: Serialize> Success<T> {
    /// This answer with a status other than 200.
    pub fn with_status(self, status: StatusCode) -> Response {
        (status, Json(self)).into_response()
    }
}

impl<T: Serialize> IntoResponse for Success<T> {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}

/// `{"success": false, "message", "errors"}`: every error, fallbacks
/// included. `errors` maps a field (dotted for nested ones, e.g.
/// `address.zip`) to its messages, and is `{}` when no field is at fault.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"success": false, "message": "Validation failed",
    "errors": {"email": ["Email is already registered"]}}))]
pub struct ErrorBody {
    /// Always `false`.
    #[schema(value_type = bool, example = false)]
    pub success: False,
    pub message: String,
    #[schema(value_type = std::collections::BTreeMap<String, Vec<String>>)]
    pub errors: FieldErrors,
}

impl ErrorBody {
    pub fn new(message: String, errors: FieldErrors) -> Self {
        Self {
            success: False,
            message,
            errors,
        }
    }
}

/// `true`, and nothing else: a success cannot say otherwise.
#[derive(Debug, Clone, Copy)]
pub struct True;

/// `false`, and nothing else.
#[derive(Debug, Clone, Copy)]
pub struct False;

impl Serialize for True {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(true)
    }
}

impl Serialize for False {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(false)
    }
}

/// An empty `data` object (`{}`), for answers with nothing to return.
#[derive(Debug, Serialize, ToSchema)]
pub struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_serialise_as_documented() {
        let cases = [
            (
                serde_json::to_value(Success::new("Done.", Empty {})),
                serde_json::json!({"success": true, "message": "Done.", "data": {}}),
            ),
            (
                serde_json::to_value(Success::data(7)),
                serde_json::json!({"success": true, "data": 7}),
            ),
            (
                serde_json::to_value(ErrorBody::new(
                    "Validation failed".into(),
                    FieldErrors::single("email", "Email is required"),
                )),
                serde_json::json!({"success": false, "message": "Validation failed",
                    "errors": {"email": ["Email is required"]}}),
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got.expect("serialises"), want);
        }
    }
}
