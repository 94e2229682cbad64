//! A partner's webhooks, with its API key (`X-API-Key` or `Authorization:
//! Bearer`; required: 401 without one): its endpoints
//! (`/api/v1/partner/webhook-endpoints`, in [`endpoints`]) and their
//! deliveries (`/api/v1/partner/webhook-deliveries`, in [`deliveries`]).
//! Another partner's ids are as unknown as made-up ones (404). The SQL is
//! `shared::webhook_endpoints`, which `admin webhook` uses too.

mod bodies;
pub(crate) mod deliveries;
pub(crate) mod endpoints;

use std::collections::BTreeMap;

use axum::{
    http::header,
    response::{IntoResponse, Response},
};
use shared::audit::{Action, Entry};
use utoipa::{
    openapi::{
        example::ExampleBuilder, header::HeaderBuilder, schema::Ref, ContentBuilder, Object, RefOr,
        ResponseBuilder, Type,
    },
    IntoResponses,
};
use uuid::Uuid;

use crate::{error::ApiError, AppState};

/// The 401 of every route here: no key, or one that is not valid.
pub struct KeyRefused;

impl IntoResponses for KeyRefused {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        let examples = [
            ("No key", ApiError::Unauthorized("An API key is required")),
            ("Invalid key", ApiError::Unauthorized("Invalid API key")),
        ]
        .map(|(name, error)| {
            let value = serde_json::to_value(error.body()).unwrap_or_default();
            (name, ExampleBuilder::new().value(Some(value)).build())
        });
        let content = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .examples_from_iter(examples)
            .build();
        let response = ResponseBuilder::new()
            .description("No partner API key, or one that is unknown or revoked")
            .content("application/json", content)
            .header(
                "WWW-Authenticate",
                HeaderBuilder::new()
                    .schema(Object::with_type(Type::String))
                    .description(Some("`Bearer`"))
                    .build(),
            )
            .build();
        BTreeMap::from([("401".to_owned(), response.into())])
    }
}

/// Writes the audit row of one call: the action, its outcome and the
/// client's address (never a URL or a secret). A refusal is not answered
/// without its row (503); see [`audit_done`] for what already happened.
async fn audit(
    state: &AppState,
    action: Action,
    outcome: &'static str,
    client: std::net::IpAddr,
) -> Result<(), ApiError> {
    let client = client.to_string();
    state
        .audit
        .record(&Entry {
            action,
            outcome,
            patient_id: None,
            request_id: None,
            client_addr: Some(&client),
        })
        .await
}

/// The row of a change already made (an endpoint created, a secret
/// rotated, a retry published): a failed write is logged by the trail and
/// the answer still goes out, or the client would lose a secret it cannot
/// see again, or retry what is already scheduled.
async fn audit_done(state: &AppState, action: Action, client: std::net::IpAddr) {
    let _ = audit(state, action, "success", client).await;
}

/// An id from the path: one that is not a UUID cannot exist (404 like an
/// unknown one).
fn path_id(raw: &str) -> Option<Uuid> {
    Uuid::parse_str(raw).ok()
}

/// A 409 about the state of things: unlike the register route's 409 (a
/// request still in flight), waiting a second changes nothing, so no
/// `Retry-After`.
fn conflict(message: &'static str) -> Response {
    let mut response = ApiError::Conflict(message).into_response();
    response.headers_mut().remove(header::RETRY_AFTER);
    response
}
