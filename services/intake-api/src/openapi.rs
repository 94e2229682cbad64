//! The OpenAPI 3.1 document served at `/openapi.json`, generated from the
//! handlers' `#[utoipa::path]` annotations. The schema types below only
//! describe the wire format: parsing lives in `shared::domain` (which reads
//! raw JSON so that every field gets its own message) and never uses them.
//!
//! A new endpoint is documented by annotating its handler and adding it to
//! `paths(...)` on [`ApiDoc`] (its schemas to `components(...)` if named).

// The types and health handlers here describe; nothing constructs or calls them.
#![allow(dead_code)]

use std::collections::HashMap;

use serde_json::{json, Value};
use utoipa::{
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi, ToSchema,
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
        crate::routes::verification::verify_email,
        crate::routes::verification::resend_verification,
        crate::routes::login::login,
        crate::routes::profile::profile,
        health_live,
        health_ready,
        metrics,
    ),
    components(schemas(ErrorResponse)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "registration", description = "Patient registration"),
        (name = "accounts", description = "Email verification and login"),
        (name = "profile", description = "The patient's own profile, read with an access token"),
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
        ApiDoc::openapi()
            .to_pretty_json()
            .unwrap_or_else(|e| format!(r#"{{"error": "cannot render the document: {e}"}}"#))
    });
    &DOCUMENT
}

/// The issue's reference registration, used as the request example.
pub fn register_example() -> Value {
    json!({
        "first_name": "Jane", "last_name": "Smith",
        "email": "jane.smith@email.com", "phone_number": "+1234567890",
        "password": "SecurePassword123!", "confirm_password": "SecurePassword123!",
        "date_of_birth": "1990-05-15", "gender": "female",
        "address": {"street": "456 Main Street", "city": "Boston", "state": "MA", "zip": "02101"},
        "emergency_contact": {"name": "John Smith", "phone": "+1234567891", "relationship": "spouse"},
        "insurance_info": {"provider": "Blue Cross", "policy_number": "BC123456789"}
    })
}

/// A registration. Unknown fields are refused (422), at every level.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = register_example)]
pub struct RegisterRequest {
    #[schema(min_length = 2, max_length = 50, example = "Jane")]
    first_name: String,
    #[schema(min_length = 2, max_length = 50, example = "Smith")]
    last_name: String,
    /// Compared case-insensitively; must not be registered already.
    #[schema(format = Email, max_length = 254, example = "jane.smith@email.com")]
    email: String,
    /// 8 to 15 digits, optionally starting with `+`; must not be registered already.
    #[schema(example = "+1234567890")]
    phone_number: String,
    /// 8 characters to 72 bytes, with an uppercase and a lowercase letter, a
    /// digit and a special character.
    #[schema(format = Password, min_length = 8, example = "SecurePassword123!")]
    password: String,
    /// Must equal `password`.
    #[schema(format = Password, example = "SecurePassword123!")]
    confirm_password: String,
    /// In the past; the patient is at least 13 and at most 150 years old.
    #[schema(format = Date, example = "1990-05-15")]
    date_of_birth: String,
    gender: Gender,
    address: Address,
    emergency_contact: Option<EmergencyContact>,
    /// At most 100 entries of at most 500 characters each.
    #[schema(max_items = 100)]
    medical_history: Option<Vec<String>>,
    insurance_info: Option<InsuranceInfo>,
}

#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Male,
    Female,
    Other,
    PreferNotToSay,
}

#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[schema(max_length = 200, example = "456 Main Street")]
    street: String,
    #[schema(max_length = 100, example = "Boston")]
    city: String,
    #[schema(max_length = 50, example = "MA")]
    state: String,
    /// A postal code valid for `country` (for `US`: `12345` or `12345-6789`).
    #[schema(example = "02101")]
    zip: String,
    /// ISO 3166-1 alpha-2 code, case-insensitive.
    #[schema(min_length = 2, max_length = 2, default = "US", example = "US")]
    country: Option<String>,
}

#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyContact {
    #[schema(max_length = 100, example = "John Smith")]
    name: String,
    #[schema(example = "+1234567891")]
    phone: String,
    #[schema(max_length = 50, example = "spouse")]
    relationship: String,
}

#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InsuranceInfo {
    #[schema(max_length = 100, example = "Blue Cross")]
    provider: String,
    #[schema(max_length = 100, example = "BC123456789")]
    policy_number: String,
}

/// 202: the registration is recorded and queued.
#[derive(ToSchema)]
pub struct AcceptedResponse {
    #[schema(example = true)]
    success: bool,
    #[schema(example = "Registration accepted for processing.")]
    message: String,
    data: AcceptedData,
}

#[derive(ToSchema)]
pub struct AcceptedData {
    #[schema(format = Uuid)]
    request_id: String,
    #[schema(example = "pending")]
    status: String,
    /// Where to poll for the outcome (also in `Location`).
    #[schema(example = "/api/v1/patient/registrations/0b6f1c7e-8d1a-4a53-9d3e-2f1f5a9c7b10")]
    status_url: String,
}

/// 201: the patient exists (only with `Prefer: wait=N`).
#[derive(ToSchema)]
pub struct CreatedResponse {
    #[schema(example = true)]
    success: bool,
    #[schema(example = "Patient registered successfully. Verification email sent.")]
    message: String,
    data: Patient,
}

#[derive(ToSchema)]
pub struct Patient {
    #[schema(format = Uuid)]
    patient_id: String,
    #[schema(example = "jane.smith@email.com")]
    email: String,
    #[schema(example = "+1234567890")]
    phone_number: String,
    #[schema(example = false)]
    email_verified: bool,
    #[schema(example = false)]
    phone_verified: bool,
}

/// Every error: `errors` maps a field (dotted for nested ones, e.g.
/// `address.zip`) to its messages, and is `{}` when no field is at fault.
#[derive(ToSchema)]
#[schema(example = json!({"success": false, "message": "Validation failed",
    "errors": {"email": ["Email is already registered"]}}))]
pub struct ErrorResponse {
    #[schema(example = false)]
    success: bool,
    message: String,
    errors: HashMap<String, Vec<String>>,
}

/// 200 from the status URL.
#[derive(ToSchema)]
pub struct StatusResponse {
    #[schema(example = true)]
    success: bool,
    data: RegistrationStatus,
}

#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    Pending,
    Completed,
    Rejected,
    Failed,
}

/// `completed` adds the patient's fields; `rejected` adds `errors` (e.g.
/// an email registered meanwhile); `failed` adds `message` (submit again).
#[derive(ToSchema)]
pub struct RegistrationStatus {
    #[schema(format = Uuid)]
    request_id: String,
    status: RequestState,
    #[schema(format = Uuid, required = false)]
    patient_id: String,
    #[schema(required = false)]
    email: String,
    #[schema(required = false)]
    phone_number: String,
    #[schema(required = false)]
    email_verified: bool,
    #[schema(required = false)]
    phone_verified: bool,
    #[schema(required = false, example = json!({"email": ["Email is already registered"]}))]
    errors: HashMap<String, Vec<String>>,
    #[schema(required = false)]
    message: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// Credentials for `POST /api/v1/patient/login`. Fields other than these
/// are ignored.
#[derive(ToSchema)]
#[schema(example = json!({"email": "jane.smith@email.com", "password": "SecurePassword123!"}))]
pub struct LoginRequest {
    /// Compared case-insensitively, surrounding spaces ignored.
    #[schema(format = Email, example = "jane.smith@email.com")]
    email: String,
    #[schema(format = Password, example = "SecurePassword123!")]
    password: String,
}

/// 200 from login.
#[derive(ToSchema)]
pub struct LoginResponse {
    #[schema(example = true)]
    success: bool,
    #[schema(example = "Login successful")]
    message: String,
    data: AccessToken,
}

#[derive(ToSchema)]
pub struct AccessToken {
    /// An HS256 JWT for `Authorization: Bearer` (the `bearer_auth` scheme).
    #[schema(example = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl")]
    access_token: String,
    #[schema(example = "Bearer")]
    token_type: String,
    /// Seconds the token is valid for (`JWT_TTL`, 15 minutes by default).
    #[schema(example = 900)]
    expires_in: u64,
    #[schema(format = Uuid)]
    patient_id: String,
}

/// The token from the verification email's link (`...?token=...`).
#[derive(ToSchema)]
#[schema(example = json!({"token": "the-token-from-the-verification-link"}))]
pub struct VerifyEmailRequest {
    token: String,
}

/// 200 from verify-email.
#[derive(ToSchema)]
pub struct VerifyEmailResponse {
    #[schema(example = true)]
    success: bool,
    #[schema(example = "Email verified successfully.")]
    message: String,
    data: VerifiedEmail,
}

#[derive(ToSchema)]
pub struct VerifiedEmail {
    #[schema(format = Uuid)]
    patient_id: String,
    #[schema(example = true)]
    email_verified: bool,
}

#[derive(ToSchema)]
#[schema(example = json!({"email": "jane.smith@email.com"}))]
pub struct ResendVerificationRequest {
    /// Compared case-insensitively, surrounding spaces ignored.
    #[schema(format = Email, example = "jane.smith@email.com")]
    email: String,
}

/// 202 from resend-verification: the same whether or not the account
/// exists or is already verified.
#[derive(ToSchema)]
pub struct ResendVerificationResponse {
    #[schema(example = true)]
    success: bool,
    #[schema(
        example = "If an account with this email exists and is not yet verified, a new verification email has been sent."
    )]
    message: String,
    /// Always `{}`.
    #[schema(value_type = Object, example = json!({}))]
    data: Value,
}

/// 200 from the profile endpoint.
#[derive(ToSchema)]
pub struct ProfileResponse {
    #[schema(example = true)]
    success: bool,
    data: Profile,
}

/// A patient's profile: every stored field, the sealed ones opened, except
/// the password hash, which is never returned. Optional parts the patient
/// did not give are `null`.
#[derive(ToSchema)]
pub struct Profile {
    #[schema(format = Uuid)]
    id: String,
    /// The same as `id`.
    #[schema(format = Uuid)]
    patient_id: String,
    #[schema(example = "Jane")]
    first_name: String,
    #[schema(example = "Smith")]
    last_name: String,
    /// As stored: trimmed and lower-cased.
    #[schema(format = Email, example = "jane.smith@email.com")]
    email: String,
    #[schema(example = "+1234567890")]
    phone_number: String,
    #[schema(format = Date, example = "1990-05-15")]
    date_of_birth: String,
    gender: Gender,
    address: ProfileAddress,
    #[schema(required = true)]
    emergency_contact: Option<EmergencyContact>,
    /// `null` when none was given.
    #[schema(required = true, example = json!(["Asthma"]))]
    medical_history: Option<Vec<String>>,
    #[schema(required = true)]
    insurance_info: Option<InsuranceInfo>,
    #[schema(example = false)]
    email_verified: bool,
    #[schema(example = false)]
    phone_verified: bool,
    #[schema(example = true)]
    is_active: bool,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// A stored address: `country` is always present.
#[derive(ToSchema)]
pub struct ProfileAddress {
    #[schema(example = "456 Main Street")]
    street: String,
    #[schema(example = "Boston")]
    city: String,
    #[schema(example = "MA")]
    state: String,
    #[schema(example = "02101")]
    zip: String,
    /// ISO 3166-1 alpha-2 code, uppercase.
    #[schema(min_length = 2, max_length = 2, example = "US")]
    country: String,
}

#[derive(ToSchema)]
pub struct LiveResponse {
    #[schema(example = true)]
    success: bool,
    #[schema(example = "live")]
    status: String,
}

#[derive(ToSchema)]
pub struct ReadyResponse {
    success: bool,
    #[schema(example = "ready")]
    message: String,
    checks: ReadyChecks,
    errors: HashMap<String, Vec<String>>,
}

#[derive(ToSchema)]
pub struct ReadyChecks {
    postgres: bool,
    rabbitmq: bool,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health/live", tag = "health",
    responses((status = 200, description = "Alive", body = LiveResponse)))]
// Served by `shared::health`; this only documents it.
fn health_live() {}

/// Readiness: Postgres and RabbitMQ are reachable.
#[utoipa::path(get, path = "/health/ready", tag = "health", responses(
    (status = 200, description = "Ready to serve", body = ReadyResponse),
    (status = 503, description = "A dependency is unreachable", body = ReadyResponse),
))]
// Served by `shared::health`; this only documents it.
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
        // What `crate::profile::load` answers.
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
