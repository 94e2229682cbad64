//! Registration batches: `POST /api/v1/patient/registration-batches` takes
//! up to 500 registrations at once ([`submit`]), `GET .../{batch_id}` tells
//! how they are doing ([`read`]). The batch's structure is checked first
//! ([`shape`]); each item is then a registration like any other, accepted
//! or answered inline with its field errors.

pub(crate) mod read;
mod shape;
pub(crate) mod submit;

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use shared::validation::FieldErrors;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    batches::{ItemOutcome, ItemRow},
    error::ApiError,
    wire::{ErrorBody, Success},
};

pub use shape::{CLIENT_REF_PATTERN, MAX_ITEMS};

/// The body limit of this route alone (every other: 64 KiB).
pub const MAX_BATCH_BODY_BYTES: usize = 4 * 1024 * 1024;
const TOO_LARGE: &str = "Request body is too large (at most 4 MiB)";

/// A batch's own status URL.
pub fn batch_url(batch_id: Uuid) -> String {
    format!("/api/v1/patient/registration-batches/{batch_id}")
}

/// A registration's status URL, as single registration gives it.
fn request_url(request_id: Uuid) -> String {
    format!("/api/v1/patient/registrations/{request_id}")
}

/// What these routes refuse with: the usual errors, and a 413 that names
/// this route's own limit.
#[derive(Debug)]
pub enum Refusal {
    Api(ApiError),
    TooLarge,
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::PayloadTooLarge => Self::TooLarge,
            e => Self::Api(e),
        }
    }
}

impl From<sqlx::Error> for Refusal {
    fn from(e: sqlx::Error) -> Self {
        Self::Api(e.into())
    }
}

/// The 413's body.
pub fn too_large() -> ErrorBody {
    ErrorBody::new(TOO_LARGE.to_owned(), FieldErrors::new())
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::Api(e) => e.into_response(),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, Json(too_large())).into_response(),
        }
    }
}

/// 202: the batch, and each item's answer in the order sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchAccepted {
    batch_id: Uuid,
    /// Where to follow the batch (also in `Location`).
    #[schema(
        example = "/api/v1/patient/registration-batches/5d1b0b8e-3c1f-4c7e-9d7a-1f2e3d4c5b6a"
    )]
    status_url: String,
    items: Vec<ItemAnswer>,
}

/// One item's answer: accepted (poll its status URL) or invalid (its
/// field errors, as a single registration's 422 would give them).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ItemAnswer {
    Accepted(AcceptedItem),
    Invalid(InvalidItem),
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedItem {
    #[schema(example = "row-17")]
    client_ref: String,
    request_id: Uuid,
    #[schema(example = "/api/v1/patient/registrations/0b6f1c7e-8d1a-4a53-9d3e-2f1f5a9c7b10")]
    status_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvalidItem {
    #[schema(example = "row-18")]
    client_ref: String,
    #[schema(value_type = std::collections::BTreeMap<String, Vec<String>>,
        example = json!({"email": ["Email must be a valid email address"]}))]
    errors: FieldErrors,
}

impl BatchAccepted {
    pub fn new(batch_id: Uuid, items: Vec<ItemRow>) -> Self {
        let items = items
            .into_iter()
            .map(|item| match item.outcome {
                ItemOutcome::Accepted(request_id) => ItemAnswer::Accepted(AcceptedItem {
                    client_ref: item.client_ref,
                    request_id,
                    status_url: request_url(request_id),
                }),
                ItemOutcome::Invalid(errors) => ItemAnswer::Invalid(InvalidItem {
                    client_ref: item.client_ref,
                    errors,
                }),
            })
            .collect();
        Self {
            batch_id,
            status_url: batch_url(batch_id),
            items,
        }
    }

    /// The 202, the same for the first request and every replay (which
    /// adds `Idempotent-Replayed: true`).
    pub fn into_response(self) -> Response {
        let location = HeaderValue::from_str(&self.status_url).ok();
        let mut response = Success::new("Registration batch accepted for processing.", self)
            .with_status(StatusCode::ACCEPTED);
        let headers = response.headers_mut();
        if let Some(location) = location {
            headers.insert(header::LOCATION, location);
        }
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        response
    }
}

/// `POST /api/v1/patient/registration-batches`: up to 500 registrations,
/// each with the partner's own `client_ref`. Only documents the body:
/// [`shape`] reads it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(batch_example()))]
#[allow(dead_code)]
pub struct BatchBody {
    #[schema(min_items = 1, max_items = 500)]
    items: Vec<BatchItemBody>,
}

/// A registration and the partner's reference for it (unique within the
/// batch). Its other properties are the registration's (see
/// `RegistrationBody`), and its pattern [`CLIENT_REF_PATTERN`], added by
/// the document builder: JSON Schema's `allOf` cannot extend a schema that
/// refuses unknown properties.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct BatchItemBody {
    /// The partner's reference for this item, unique within the batch: 1
    /// to 100 printable ASCII characters, not all spaces.
    #[schema(min_length = 1, max_length = 100, example = "row-17")]
    client_ref: String,
}

/// The documents' example batch: one item.
pub fn batch_example() -> serde_json::Value {
    let mut item = shared::domain::registration_example();
    item["client_ref"] = "row-17".into();
    serde_json::json!({ "items": [item] })
}
