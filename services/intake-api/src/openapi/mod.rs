//! The OpenAPI 3.1 document served at `/openapi.json`, generated from the
//! handlers' `#[utoipa::path]` annotations and the very types they send and
//! receive ([`crate::wire`], each route's request and answer types), so it
//! cannot drift from what is on the wire.
//!
//! A new endpoint is documented by annotating its handler and adding it to
//! `paths(...)` on [`ApiDoc`]; the schemas it names are collected from it.

use utoipa::{
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Patient registration API",
        description = "Registers patients. Registration is asynchronous: `POST` answers 202 with a \
                       status URL to poll, or, with `Prefer: wait=N`, waits up to N seconds and \
                       answers 201 or 422 as a synchronous API would."
    ),
    paths(
        crate::routes::register::register,
        crate::routes::status::status,
        crate::routes::batches::submit::submit,
        crate::routes::batches::read::read,
        crate::routes::partner::registrations,
        crate::routes::verification::verify_email,
        crate::routes::verification::resend_verification,
        crate::routes::login::login,
        crate::routes::session::refresh,
        crate::routes::session::logout,
        crate::routes::password::forgot_password,
        crate::routes::password::reset_password,
        crate::routes::password::change_password,
        crate::routes::email_change::change_email,
        crate::routes::email_change::confirm_email_change,
        crate::routes::profile::profile,
        crate::routes::profile_update::update,
        crate::routes::phone::request,
        crate::routes::phone::confirm,
        crate::routes::deactivation::deactivate,
        crate::routes::webhooks::endpoints::create,
        crate::routes::webhooks::endpoints::list,
        crate::routes::webhooks::endpoints::delete,
        crate::routes::webhooks::endpoints::rotate_secret,
        crate::routes::webhooks::deliveries::list,
        crate::routes::webhooks::deliveries::retry,
        crate::routes::pages::verify::verify_email_page,
        crate::routes::pages::verify::verify_email_form,
        crate::routes::pages::reset::reset_password_page,
        crate::routes::pages::reset::reset_password_form,
        crate::routes::pages::email_change::confirm_email_change_page,
        crate::routes::pages::email_change::confirm_email_change_form,
        health_live,
        health_ready,
        metrics,
    ),
    components(
        schemas(crate::wire::ErrorBody),
        responses(
            crate::wire::responses::MalformedJson,
            crate::wire::responses::BearerRequired,
            crate::wire::responses::PayloadTooLarge,
            crate::wire::responses::UnsupportedMediaType,
            crate::wire::responses::RateLimited,
            crate::wire::responses::Unavailable,
            crate::wire::responses::PasswordBusy,
            crate::wire::responses::PasswordLimited,
            crate::wire::responses::Internal,
            crate::wire::responses::TimedOut,
        ),
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "registration", description = "Patient registration"),
        (name = "accounts", description = "Email verification, login, sessions and passwords"),
        (name = "profile", description = "The patient's own profile, read (or the account deactivated) with an access token"),
        (name = "partners", description = "A partner's own registrations and webhooks (partner key)"),
        (name = "pages", description = "The HTML pages the emails link to (under `PUBLIC_BASE_URL`)"),
        (name = "health", description = "Liveness and readiness probes"),
        (name = "operations", description = "Metrics for monitoring"),
    )
)]
pub struct ApiDoc;

/// The name of the access-token scheme (`POST /api/v1/patient/login`'s JWT).
pub const BEARER_AUTH: &str = "bearer_auth";
/// The name of the partner API key scheme.
pub const API_KEY: &str = "api_key";

/// Adds the security schemes the operations refer to by name.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER_AUTH,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The `access_token` from `POST /api/v1/patient/login` (HS256 JWT, \
                         valid for `expires_in` seconds), sent as `Authorization: Bearer <token>`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            API_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "A partner's API key (issued with `admin partner create`). It may also be sent \
                 as `Authorization: Bearer <key>`; `X-API-Key` wins when both are present. \
                 Registration works without a key unless the server runs with \
                 `REQUIRE_PARTNER_KEY=true`.",
            ))),
        );
    }
}

/// The document as JSON, built once.
pub fn document() -> &'static str {
    static DOCUMENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        state_what_the_derive_cannot(&mut document);
        serde_json::to_string_pretty(&document)
            .unwrap_or_else(|e| format!(r#"{{"error": "cannot render the document: {e}"}}"#))
    });
    &DOCUMENT
}

/// The rules JSON Schema can state but the derive cannot: an address's
/// country is one of the assigned codes, and its ZIP follows that country.
fn state_what_the_derive_cannot(document: &mut serde_json::Value) {
    batch_items_are_registrations(document);
    let address = &mut document["components"]["schemas"]["AddressBody"];
    if let Some(address) = address.as_object_mut() {
        address.insert("allOf".into(), shared::domain::postal_code_rules());
        if let Some(country) = address
            .get_mut("properties")
            .and_then(|p| p.get_mut("country"))
            .and_then(serde_json::Value::as_object_mut)
        {
            country.remove("pattern");
            country.insert("enum".into(), shared::domain::COUNTRY_CODES.to_vec().into());
        }
    }
}

/// A batch item is a registration with a `client_ref`: the registration's
/// properties and required fields, plus its own (`allOf` cannot extend a
/// schema that refuses unknown properties, so they are copied in).
fn batch_items_are_registrations(document: &mut serde_json::Value) {
    let schemas = &mut document["components"]["schemas"];
    let registration = schemas["RegistrationBody"].clone();
    let Some(item) = schemas["BatchItemBody"].as_object_mut() else {
        return;
    };
    if let Some(properties) = item
        .get_mut("properties")
        .and_then(serde_json::Value::as_object_mut)
    {
        if let Some(client_ref) = properties
            .get_mut("client_ref")
            .and_then(serde_json::Value::as_object_mut)
        {
            let pattern = crate::routes::batches::CLIENT_REF_PATTERN;
            client_ref.insert("pattern".into(), pattern.into());
        }
        for (name, schema) in registration["properties"].as_object().into_iter().flatten() {
            properties.insert(name.clone(), schema.clone());
        }
    }
    if let (Some(required), Some(theirs)) = (
        item.get_mut("required")
            .and_then(serde_json::Value::as_array_mut),
        registration["required"].as_array(),
    ) {
        required.extend(theirs.iter().cloned());
    }
    item.insert("additionalProperties".into(), false.into());
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health/live", tag = "health",
    responses((status = 200, description = "Alive", body = shared::health::Live)))]
// Served by `shared::health`; this only documents it.
#[allow(dead_code)]
fn health_live() {}

/// Readiness: Postgres and RabbitMQ are reachable.
#[utoipa::path(get, path = "/health/ready", tag = "health", responses(
    (status = 200, description = "Ready to serve", body = shared::health::Ready),
    (status = 503, description = "A dependency is unreachable", body = shared::health::Ready),
))]
// Served by `shared::health`; this only documents it.
#[allow(dead_code)]
fn health_ready() {}

/// What `/metrics` answers, abridged.
const METRICS_EXAMPLE: &str = "# HELP http_requests HTTP requests by route and status.\n\
# TYPE http_requests counter\n\
http_requests_total{method=\"POST\",route=\"/api/v1/patient/register\",status=\"202\"} 120\n\
# HELP queue_depth Messages ready in a queue, read at scrape time.\n\
# TYPE queue_depth gauge\n\
queue_depth{queue=\"registration.requests\"} 0\n\
# EOF\n";

/// Prometheus metrics
///
/// This process's metrics in the OpenMetrics text format, for Prometheus to
/// scrape: HTTP requests by method, route template and status, request
/// latencies, and the depths of the work and dead-letter queues (read at
/// scrape time). No authentication: keep it off the public network.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses((status = 200, description = "The metrics, in the OpenMetrics text format",
        body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8",
        example = json!(METRICS_EXAMPLE))))]
// Served by `shared::health`; this only documents it.
#[allow(dead_code)]
fn metrics() {}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn spec() -> Value {
        serde_json::from_str(super::document()).expect("the document is JSON")
    }

    #[test]
    fn the_profile_schema_lists_every_field_but_the_password_hash() {
        let spec = spec();
        let profile = &spec["components"]["schemas"]["Profile"];
        let properties = profile["properties"]
            .as_object()
            .expect("Profile has properties");
        let mut documented: Vec<&str> = properties.keys().map(String::as_str).collect();
        // What `crate::profile::Row::open` answers.
        let mut served = [
            "id",
            "patient_id",
            "first_name",
            "last_name",
            "email",
            "phone_number",
            "date_of_birth",
            "gender",
            "address",
            "emergency_contact",
            "medical_history",
            "insurance_info",
            "email_verified",
            "phone_verified",
            "is_active",
            "created_at",
            "updated_at",
        ];
        documented.sort_unstable();
        served.sort_unstable();
        assert_eq!(documented, served);
        // Always present, `null` when absent.
        assert_eq!(
            profile["required"].as_array().map(Vec::len),
            Some(served.len())
        );
        let address = &spec["components"]["schemas"]["ProfileAddress"]["properties"];
        for field in ["street", "city", "state", "zip", "country"] {
            assert!(address[field].is_object(), "address.{field}");
        }
        assert!(!super::document().contains("password_hash"));
    }

    #[test]
    fn a_batch_item_is_a_registration_with_its_reference() {
        let spec = spec();
        let schemas = &spec["components"]["schemas"];
        let item = &schemas["BatchItemBody"];
        let registration = &schemas["RegistrationBody"];
        assert_eq!(item["additionalProperties"], false);
        let properties = item["properties"].as_object().expect("properties");
        for (name, schema) in registration["properties"].as_object().expect("properties") {
            assert_eq!(&properties[name], schema, "{name}");
        }
        let client_ref = &properties["client_ref"];
        assert_eq!(
            client_ref["pattern"],
            crate::routes::batches::CLIENT_REF_PATTERN
        );
        assert_eq!(
            (
                client_ref["minLength"].as_u64(),
                client_ref["maxLength"].as_u64()
            ),
            (Some(1), Some(100))
        );
        let required = item["required"].as_array().expect("required");
        assert!(required.contains(&"client_ref".into()));
        for name in registration["required"].as_array().expect("required") {
            assert!(required.contains(name), "{name}");
        }
        let items = &schemas["BatchBody"]["properties"]["items"];
        assert_eq!(
            (items["minItems"].as_u64(), items["maxItems"].as_u64()),
            (Some(1), Some(500))
        );
        assert_eq!(schemas["BatchBody"]["additionalProperties"], false);
    }

    #[test]
    fn the_security_schemes_exist_and_are_used() {
        let spec = spec();
        let schemes = &spec["components"]["securitySchemes"];
        assert_eq!(schemes[super::BEARER_AUTH]["scheme"], "bearer");
        assert_eq!(schemes[super::BEARER_AUTH]["bearerFormat"], "JWT");
        assert_eq!(schemes[super::API_KEY]["in"], "header");
        assert_eq!(schemes[super::API_KEY]["name"], "X-API-Key");
        let paths = &spec["paths"];
        assert_eq!(
            paths["/api/v1/patient/profile/{patient_id}"]["get"]["security"],
            serde_json::json!([{super::BEARER_AUTH: []}])
        );
        // A key is optional for registration.
        assert_eq!(
            paths["/api/v1/patient/register"]["post"]["security"],
            serde_json::json!([{}, {super::API_KEY: []}])
        );
    }
}
