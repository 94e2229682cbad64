//! Documentation-only types: the wire format of every body, for the
//! OpenAPI document. Nothing constructs them.

#![allow(dead_code)]

use std::collections::HashMap;

use serde_json::Value;
use utoipa::ToSchema;

use super::register_example;

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
