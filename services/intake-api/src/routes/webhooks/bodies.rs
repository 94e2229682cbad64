//! What the endpoint routes read and answer: the request body of a new
//! endpoint and its checks, and the endpoints as partners see them. The
//! same types make the OpenAPI document.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::{
    validation::FieldErrors,
    webhook::EVENT_TYPES,
    webhook_endpoints::{self as store, EndpointUrl, EventTypes},
};
use utoipa::{
    openapi::{schema::ArrayBuilder, ObjectBuilder, RefOr, Schema, Type},
    PartialSchema, ToSchema,
};
use uuid::Uuid;

use crate::extract::Text;

/// `event_types` as the document states it: one or more distinct names
/// from `shared::webhook::EVENT_TYPES`.
pub struct EventTypeList;

impl PartialSchema for EventTypeList {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(EVENT_TYPES)),
            )
            .min_items(Some(1))
            .max_items(Some(EVENT_TYPES.len()))
            .unique_items(true)
            .into()
    }
}

impl ToSchema for EventTypeList {}

/// A new endpoint: where to POST, and which events.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"url": "https://partner.example/webhooks",
    "event_types": ["registration.completed", "registration.rejected"]}))]
pub struct CreateWebhookEndpointRequest {
    /// An absolute `http` or `https` URL (only `https` when the server runs
    /// in production), without a user name, password or fragment.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = "uri", min_length = 8, max_length = 2048,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#@]+([/?][^\s#]*)?$",
        example = "https://partner.example/webhooks")]
    url: Text,
    /// The events to deliver.
    #[serde(default)]
    #[schema(value_type = EventTypeList, inline, required = true)]
    event_types: Value,
}

impl CreateWebhookEndpointRequest {
    /// Every field error at once.
    pub(super) fn validate(
        self,
        https_only: bool,
    ) -> Result<(EndpointUrl, EventTypes), FieldErrors> {
        let mut errors = FieldErrors::new();
        let url = self
            .url
            .required("url", "URL", &mut errors)
            .and_then(|raw| match EndpointUrl::parse(&raw, https_only) {
                Ok(url) => Some(url),
                Err(problems) => {
                    errors.add_all("url", problems);
                    None
                }
            });
        let names = match &self.event_types {
            Value::Array(items) => items
                .iter()
                .map(Value::as_str)
                .collect::<Option<Vec<&str>>>()
                .ok_or(vec!["Event types must be strings".to_owned()]),
            Value::Null => Err(vec!["Event types are required".to_owned()]),
            _ => Err(vec![
                "Event types must be a list of event type names".to_owned()
            ]),
        };
        let event_types = match names.and_then(|names| EventTypes::parse(&names)) {
            Ok(types) => Some(types),
            Err(problems) => {
                errors.add_all("event_types", problems);
                None
            }
        };
        match (url, event_types) {
            (Some(url), Some(types)) if errors.is_empty() => Ok((url, types)),
            _ => Err(errors),
        }
    }
}

/// An endpoint as its partner sees it: never a secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    pub url: String,
    #[schema(value_type = EventTypeList, inline)]
    pub event_types: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// Set when the webhook worker gave up on it after failing for
    /// `WEBHOOK_DISABLE_AFTER`; nothing more is delivered to it.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Since when every attempt has failed (`null` after a success).
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret replaced by the last rotation still signs.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

impl From<store::Endpoint> for WebhookEndpoint {
    fn from(e: store::Endpoint) -> Self {
        Self {
            id: e.id,
            url: e.url,
            event_types: e.event_types,
            created_at: e.created_at,
            disabled_at: e.disabled_at,
            failing_since: e.failing_since,
            previous_secret_expires_at: e.previous_secret_expires_at,
        }
    }
}

/// A new endpoint, with its secret: shown here and nowhere else (no
/// `Debug`: it would print the secret).
#[derive(Serialize, ToSchema)]
pub struct CreatedWebhookEndpoint {
    pub id: Uuid,
    pub url: String,
    #[schema(value_type = EventTypeList, inline)]
    pub event_types: Vec<String>,
    /// The signing secret (`whsec_` and base64), for verifying the
    /// `webhook-signature` header (Standard Webhooks).
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwIEv4kBeDb4w=")]
    pub secret: String,
    pub created_at: DateTime<Utc>,
}

/// A partner's live endpoints, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointList {
    pub endpoints: Vec<WebhookEndpoint>,
}

/// An endpoint's new secret, and until when the previous one still signs
/// (no `Debug`: it would print the secret).
#[derive(Serialize, ToSchema)]
pub struct RotatedWebhookSecret {
    pub id: Uuid,
    #[schema(example = "whsec_3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")]
    pub secret: String,
    pub previous_secret_expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(body: Value, https_only: bool) -> Result<(String, Vec<&'static str>), FieldErrors> {
        let request: CreateWebhookEndpointRequest = serde_json::from_value(body).expect("lenient");
        request
            .validate(https_only)
            .map(|(url, types)| (url.as_str().to_owned(), types.as_slice().to_vec()))
    }

    #[test]
    fn a_good_subscription_is_taken_as_given() {
        let got = validate(
            serde_json::json!({"url": "https://partner.example/h",
                "event_types": ["registration.completed", "patient.email_verified"]}),
            true,
        );
        assert_eq!(
            got.ok(),
            Some((
                "https://partner.example/h".to_owned(),
                vec!["registration.completed", "patient.email_verified"]
            ))
        );
    }

    #[test]
    fn every_field_error_is_told_at_once() {
        let cases = [
            (serde_json::json!({}), vec!["url", "event_types"]),
            (
                serde_json::json!({"url": "http://partner.example", "event_types": []}),
                vec!["url", "event_types"],
            ),
            (
                serde_json::json!({"url": 5, "event_types": "registration.completed"}),
                vec!["url", "event_types"],
            ),
            (
                serde_json::json!({"url": "https://p.example", "event_types": [1]}),
                vec!["event_types"],
            ),
            (
                serde_json::json!({"url": "https://p.example#x", "event_types": ["batch.completed"]}),
                vec!["url"],
            ),
        ];
        for (body, fields) in cases {
            let errors = validate(body.clone(), true).expect_err("invalid");
            let named: Vec<&str> = errors.iter().map(|(field, _)| field).collect();
            let mut want = fields.clone();
            want.sort_unstable();
            assert_eq!(named, want, "{body}");
        }
    }

    #[test]
    fn the_event_type_schema_lists_exactly_the_known_types() {
        let schema = serde_json::to_value(EventTypeList::schema()).expect("JSON");
        assert_eq!(schema["items"]["enum"], serde_json::json!(EVENT_TYPES));
        assert_eq!(schema["uniqueItems"], true);
        assert_eq!(schema["minItems"], 1);
    }
}
