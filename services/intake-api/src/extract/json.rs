//! Reading a JSON request body: the media type must say JSON (415
//! otherwise), the body must fit (413) and parse (400, saying where it
//! broke). [`JsonBody`] hands over the parsed value; [`Valid`] goes on to
//! deserialize it into a small request type and check it, every field
//! error at once (422).

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{header, HeaderMap, StatusCode},
};
use serde::{de::DeserializeOwned, Deserialize, Deserializer};
use serde_json::Value;
use shared::validation::FieldErrors;

use crate::error::ApiError;

/// A body that is JSON, of any shape.
pub struct JsonBody(pub Value);

fn says_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !says_json(request.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                    _ => ApiError::BadRequest("Could not read the request body".into()),
                })?;
        // serde_json's syntax errors name a line and column, never content.
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {e}")))
    }
}

/// A request body type: deserialized leniently (every field a [`Text`] or
/// similar, so nothing fails in serde), then checked into its valid form.
pub trait RequestBody: DeserializeOwned {
    type Valid;
    fn validate(self) -> Result<Self::Valid, FieldErrors>;
}

/// The valid form of a [`RequestBody`]; 422 with every field error when it
/// is not valid. A body that is JSON but not an object has none of the
/// fields, and is told so field by field.
pub struct Valid<T: RequestBody>(pub T::Valid);

impl<S: Send + Sync, T: RequestBody> FromRequest<S> for Valid<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let JsonBody(mut value) = JsonBody::from_request(request, state).await?;
        if !value.is_object() {
            value = Value::Object(serde_json::Map::new());
        }
        let body = T::deserialize(value)
            .map_err(|e| ApiError::Validation(FieldErrors::single("body", e.to_string())))?;
        body.validate().map(Self).map_err(ApiError::Validation)
    }
}

/// Where a string is wanted, whatever came: a missing, `null`, blank or
/// non-string value becomes a field error, not a 400. It may hold a
/// password: its `Debug` never shows the value.
#[derive(Default)]
pub enum Text {
    #[default]
    Missing,
    NotString,
    Given(String),
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(deserializer)? {
            Value::Null => Self::Missing,
            Value::String(s) => Self::Given(s),
            _ => Self::NotString,
        })
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Missing => "Text::Missing",
            Self::NotString => "Text::NotString",
            Self::Given(_) => "Text::Given(***)",
        })
    }
}

impl Text {
    /// The string, untrimmed, if it is there and not blank; otherwise
    /// `"{label} is required"` or `"{label} must be a string"` on `field`.
    pub fn required(self, field: &str, label: &str, errors: &mut FieldErrors) -> Option<String> {
        match self {
            Self::Given(s) if !s.trim().is_empty() => Some(s),
            Self::Given(_) | Self::Missing => {
                errors.add(field, format!("{label} is required"));
                None
            }
            Self::NotString => {
                errors.add(field, format!("{label} must be a string"));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_say_what_is_wrong() {
        let cases = [
            (r#"{}"#, Err("Token is required")),
            (r#"{"t": null}"#, Err("Token is required")),
            (r#"{"t": "  "}"#, Err("Token is required")),
            (r#"{"t": 5}"#, Err("Token must be a string")),
            (r#"{"t": ["x"]}"#, Err("Token must be a string")),
            (r#"{"t": " x "}"#, Ok(" x ")),
        ];
        #[derive(Deserialize)]
        struct Body {
            #[serde(default)]
            t: Text,
        }
        for (raw, want) in cases {
            let body: Body = serde_json::from_str(raw).expect("lenient");
            let mut errors = FieldErrors::new();
            let got = body.t.required("t", "Token", &mut errors);
            let got = got.ok_or_else(|| errors.iter().next().map(|(_, m)| m[0].clone()));
            assert_eq!(
                got,
                want.map(str::to_owned).map_err(|m| Some(m.to_owned())),
                "{raw}"
            );
        }
    }

    #[test]
    fn only_json_media_types_are_json() {
        let cases = [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("application/merge-patch+json", true),
            ("text/json", false),
            ("application/x-www-form-urlencoded", false),
            ("", false),
        ];
        for (content_type, want) in cases {
            let mut headers = HeaderMap::new();
            if let Ok(v) = content_type.parse() {
                headers.insert(header::CONTENT_TYPE, v);
            }
            assert_eq!(says_json(&headers), want, "{content_type}");
        }
    }
}
