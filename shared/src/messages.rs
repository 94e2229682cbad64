//! The message contracts on RabbitMQ. Each body is JSON tagged by `type`
//! with its version, so a consumer can refuse what it does not know and a
//! new version can be rolled out beside the old one. Bodies carry the
//! request id for correlation but never a password or PHI in plain text:
//! the registration itself travels sealed (see [`crate::crypto`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto::Sealed;

/// `registration.requested`: intake-api → registration-worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum RegistrationRequested {
    #[serde(rename = "registration.requested.v1")]
    V1(RegistrationRequestedV1),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationRequestedV1 {
    pub request_id: Uuid,
    pub submitted_at: DateTime<Utc>,
    /// The validated request body as JSON, sealed with context
    /// [`registration_context`].
    pub registration: Sealed,
}

/// The sealing context of a registration body: binds it to its request.
pub fn registration_context(request_id: Uuid) -> Vec<u8> {
    format!("registration.requested:{request_id}").into_bytes()
}

/// Events about a patient on the `patient.events` exchange, consumed by the
/// notification worker. Only ids: the consumer reads what it needs from
/// Postgres, so no PHI travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum PatientEvent {
    /// Routing key `patient.created`: registration-worker → notification-worker.
    #[serde(rename = "patient.created.v1")]
    Created(PatientCreatedV1),
    /// Routing key `patient.verification_requested`: intake-api asks for a
    /// fresh verification email (the resend endpoint).
    #[serde(rename = "verification.requested.v1")]
    VerificationRequested(VerificationRequestedV1),
    /// Routing key `patient.password_reset_requested`: intake-api asks for a
    /// password reset email (forgot-password, for an active account).
    #[serde(rename = "password_reset.requested.v1")]
    PasswordResetRequested(VerificationRequestedV1),
    /// Routing key `patient.password_changed`: intake-api tells the patient
    /// that their password was changed (by a reset or by themselves).
    #[serde(rename = "password.changed.v1")]
    PasswordChanged(PasswordChangedV1),
    /// Routing key `patient.account_deactivated`: intake-api tells the
    /// patient that their account was deactivated (by themselves).
    #[serde(rename = "account.deactivated.v1")]
    AccountDeactivated(AccountDeactivatedV1),
    /// Routing key `patient.phone_verification_requested`: intake-api asks
    /// for a phone verification code by SMS; the event id is the code's row
    /// (the notification worker draws the digits: they never travel).
    #[serde(rename = "phone_verification.requested.v1")]
    PhoneVerificationRequested(VerificationRequestedV1),
    /// Routing key `patient.email_change_requested`: intake-api asks for the
    /// two emails of an email change (the link to the new address, a notice
    /// to the old one); the event id is the pending change's row (the
    /// notification worker reads the address there and draws the token).
    #[serde(rename = "email_change.requested.v1")]
    EmailChangeRequested(VerificationRequestedV1),
    /// Routing key `patient.profile_changed`: intake-api tells the patient
    /// that their profile was changed, naming the fields (never values).
    #[serde(rename = "profile.changed.v1")]
    ProfileChanged(ProfileChangedV1),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileChangedV1 {
    pub event_id: Uuid,
    pub patient_id: Uuid,
    /// Names from `domain::EDITABLE_FIELDS` only.
    pub fields: Vec<String>,
    pub changed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientCreatedV1 {
    /// Equal to the request id: one accepted request makes one event, so a
    /// republished event after a redelivery is recognised as the same one.
    pub event_id: Uuid,
    pub request_id: Uuid,
    pub patient_id: Uuid,
    pub occurred_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationRequestedV1 {
    pub event_id: Uuid,
    pub patient_id: Uuid,
    pub requested_at: DateTime<Utc>,
}

/// How a password came to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordChange {
    /// Through a reset link from a forgot-password email.
    Reset,
    /// By the logged-in patient, who gave the current one.
    Changed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordChangedV1 {
    pub event_id: Uuid,
    pub patient_id: Uuid,
    pub how: PasswordChange,
    pub changed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountDeactivatedV1 {
    pub event_id: Uuid,
    pub patient_id: Uuid,
    pub deactivated_at: DateTime<Utc>,
}

impl PatientEvent {
    pub fn event_id(&self) -> Uuid {
        match self {
            Self::Created(e) => e.event_id,
            Self::VerificationRequested(e)
            | Self::PasswordResetRequested(e)
            | Self::PhoneVerificationRequested(e)
            | Self::EmailChangeRequested(e) => e.event_id,
            Self::ProfileChanged(e) => e.event_id,
            Self::PasswordChanged(e) => e.event_id,
            Self::AccountDeactivated(e) => e.event_id,
        }
    }

    pub fn patient_id(&self) -> Uuid {
        match self {
            Self::Created(e) => e.patient_id,
            Self::VerificationRequested(e)
            | Self::PasswordResetRequested(e)
            | Self::PhoneVerificationRequested(e)
            | Self::EmailChangeRequested(e) => e.patient_id,
            Self::ProfileChanged(e) => e.patient_id,
            Self::PasswordChanged(e) => e.patient_id,
            Self::AccountDeactivated(e) => e.patient_id,
        }
    }

    /// The id that follows one registration through every service.
    pub fn correlation_id(&self) -> Uuid {
        match self {
            Self::Created(e) => e.request_id,
            Self::VerificationRequested(_)
            | Self::PasswordResetRequested(_)
            | Self::PasswordChanged(_)
            | Self::AccountDeactivated(_)
            | Self::PhoneVerificationRequested(_)
            | Self::EmailChangeRequested(_)
            | Self::ProfileChanged(_) => self.event_id(),
        }
    }
}

/// What partners hear about, on the `patient.events` exchange, consumed by
/// the webhook worker: a registration settled, or its patient verified
/// their email. Ids, status and field errors only: no PHI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum OutcomeEvent {
    /// Routing key `registration.completed`: registration-worker.
    #[serde(rename = "registration.completed.v1")]
    Completed(RegistrationSettledV1),
    /// Routing key `registration.rejected`: registration-worker.
    #[serde(rename = "registration.rejected.v1")]
    Rejected(RegistrationSettledV1),
    /// Routing key `registration.failed`: registration-worker (a message
    /// that could not be processed).
    #[serde(rename = "registration.failed.v1")]
    Failed(RegistrationSettledV1),
    /// Routing key `patient.email_verified`: intake-api.
    #[serde(rename = "patient.email_verified.v1")]
    EmailVerified(EmailVerifiedV1),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationSettledV1 {
    /// Equal to the request id: a request settles once, so a republished
    /// outcome is recognised as the same event.
    pub event_id: Uuid,
    pub request_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<Uuid>,
    /// A rejection's field errors (messages only, never the values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<crate::validation::FieldErrors>,
    pub occurred_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailVerifiedV1 {
    pub event_id: Uuid,
    pub patient_id: Uuid,
    /// The registration that made the patient, if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
}

impl OutcomeEvent {
    pub fn event_id(&self) -> Uuid {
        match self {
            Self::Completed(e) | Self::Rejected(e) | Self::Failed(e) => e.event_id,
            Self::EmailVerified(e) => e.event_id,
        }
    }

    /// The request it is about, when there is one.
    pub fn request_id(&self) -> Option<Uuid> {
        match self {
            Self::Completed(e) | Self::Rejected(e) | Self::Failed(e) => Some(e.request_id),
            Self::EmailVerified(e) => e.request_id,
        }
    }

    /// The webhook event type partners subscribe to (`event_types`).
    pub fn webhook_type(&self) -> &'static str {
        match self {
            Self::Completed(_) => "registration.completed",
            Self::Rejected(_) => "registration.rejected",
            Self::Failed(_) => "registration.failed",
            Self::EmailVerified(_) => "patient.email_verified",
        }
    }
}

/// `webhook.attempt` on the `webhooks` exchange: one attempt at one
/// delivery, by the webhook worker; published by the worker's fan-out, by
/// the retry queues (dead-lettered back when their TTL ends) and by a
/// manual retry (intake-api, `admin webhook retry`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum WebhookAttempt {
    #[serde(rename = "webhook.attempt.v1")]
    V1(WebhookAttemptV1),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookAttemptV1 {
    pub delivery_id: Uuid,
    /// 1 for the first attempt; a retry carries the next number, so a
    /// duplicate of an attempt already recorded is recognised.
    pub attempt: u32,
}

impl RegistrationRequested {
    pub fn request_id(&self) -> Uuid {
        match self {
            Self::V1(m) => m.request_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_tagged_with_their_version() {
        let id = Uuid::nil();
        let event = PatientEvent::Created(PatientCreatedV1 {
            event_id: id,
            request_id: id,
            patient_id: id,
            occurred_at: DateTime::<Utc>::UNIX_EPOCH,
        });
        let json = serde_json::to_value(&event).unwrap_or_default();
        assert_eq!(json["type"], "patient.created.v1");
        let back: PatientEvent = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, event);
    }

    #[test]
    fn unknown_versions_are_refused() {
        let body =
            r#"{"type":"patient.created.v9","event_id":"00000000-0000-0000-0000-000000000000"}"#;
        assert!(serde_json::from_str::<PatientEvent>(body).is_err());
    }
}
