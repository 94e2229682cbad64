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
use utoipa::{OpenApi, ToSchema};

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
        health_live,
        health_ready,
    ),
    components(schemas(ErrorResponse)),
    tags(
        (name = "registration", description = "Patient registration"),
        (name = "health", description = "Liveness and readiness probes"),
    )
)]
pub struct ApiDoc;

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
