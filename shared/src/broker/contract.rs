//! Where each message contract of [`crate::messages`] is published and how
//! it is labelled, so that a publish site names only the message:
//! `broker.publish_message(&event)`. The routing follows the bindings of
//! [`super::topology`]; the `type` property repeats the body's versioned
//! `type` tag, so operators (and `admin dlq list`) can tell messages apart
//! without opening them.

use serde::Serialize;
use uuid::Uuid;

use super::topology::{
    ACCOUNT_DEACTIVATED, EMAIL_CHANGE_REQUESTED, EVENTS_EXCHANGE, PASSWORD_CHANGED,
    PASSWORD_RESET_REQUESTED, PATIENT_CREATED, PHONE_VERIFICATION_REQUESTED, PROFILE_CHANGED,
    REGISTRATION_EXCHANGE, REGISTRATION_REQUESTED, VERIFICATION_REQUESTED,
};
use crate::messages::{OutcomeEvent, PatientEvent, RegistrationRequested, WebhookAttempt};

/// A message type that knows its place on the broker.
pub trait Contract: Serialize + Send + Sync {
    /// The exchange every message of this type is published to.
    const EXCHANGE: &'static str;
    /// Its routing key: one of the bindings of its queue.
    fn routing_key(&self) -> &'static str;
    /// The AMQP `type` property: the body's versioned `type` tag.
    fn kind(&self) -> &'static str;
    /// The AMQP `message_id`: one message keeps it when republished.
    fn message_id(&self) -> Uuid;
    /// The AMQP `correlation_id` and `x-request-id` header: the id that
    /// follows one registration through every service.
    fn correlation_id(&self) -> Uuid;
}

impl Contract for RegistrationRequested {
    const EXCHANGE: &'static str = REGISTRATION_EXCHANGE;

    fn routing_key(&self) -> &'static str {
        REGISTRATION_REQUESTED
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::V1(_) => "registration.requested.v1",
        }
    }

    fn message_id(&self) -> Uuid {
        self.request_id()
    }

    fn correlation_id(&self) -> Uuid {
        self.request_id()
    }
}

impl Contract for PatientEvent {
    const EXCHANGE: &'static str = EVENTS_EXCHANGE;

    fn routing_key(&self) -> &'static str {
        match self {
            Self::Created(_) => PATIENT_CREATED,
            Self::VerificationRequested(_) => VERIFICATION_REQUESTED,
            Self::PasswordResetRequested(_) => PASSWORD_RESET_REQUESTED,
            Self::PasswordChanged(_) => PASSWORD_CHANGED,
            Self::AccountDeactivated(_) => ACCOUNT_DEACTIVATED,
            Self::PhoneVerificationRequested(_) => PHONE_VERIFICATION_REQUESTED,
            Self::EmailChangeRequested(_) => EMAIL_CHANGE_REQUESTED,
            Self::ProfileChanged(_) => PROFILE_CHANGED,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Created(_) => "patient.created.v1",
            Self::VerificationRequested(_) => "verification.requested.v1",
            Self::PasswordResetRequested(_) => "password_reset.requested.v1",
            Self::PasswordChanged(_) => "password.changed.v1",
            Self::AccountDeactivated(_) => "account.deactivated.v1",
            Self::PhoneVerificationRequested(_) => "phone_verification.requested.v1",
            Self::EmailChangeRequested(_) => "email_change.requested.v1",
            Self::ProfileChanged(_) => "profile.changed.v1",
        }
    }

    fn message_id(&self) -> Uuid {
        self.event_id()
    }

    fn correlation_id(&self) -> Uuid {
        PatientEvent::correlation_id(self)
    }
}

impl Contract for WebhookAttempt {
    const EXCHANGE: &'static str = super::topology::WEBHOOKS_EXCHANGE;

    fn routing_key(&self) -> &'static str {
        super::topology::WEBHOOK_ATTEMPT
    }

    fn kind(&self) -> &'static str {
        "webhook.attempt.v1"
    }

    /// Each attempt its own message id (a manual retry is a new message).
    fn message_id(&self) -> Uuid {
        let Self::V1(a) = self;
        Uuid::new_v5(&a.delivery_id, &a.attempt.to_be_bytes())
    }

    fn correlation_id(&self) -> Uuid {
        let Self::V1(a) = self;
        a.delivery_id
    }
}

impl Contract for OutcomeEvent {
    const EXCHANGE: &'static str = EVENTS_EXCHANGE;

    fn routing_key(&self) -> &'static str {
        use super::topology::{
            EMAIL_VERIFIED, REGISTRATION_COMPLETED, REGISTRATION_FAILED, REGISTRATION_REJECTED,
        };
        match self {
            Self::Completed(_) => REGISTRATION_COMPLETED,
            Self::Rejected(_) => REGISTRATION_REJECTED,
            Self::Failed(_) => REGISTRATION_FAILED,
            Self::EmailVerified(_) => EMAIL_VERIFIED,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Completed(_) => "registration.completed.v1",
            Self::Rejected(_) => "registration.rejected.v1",
            Self::Failed(_) => "registration.failed.v1",
            Self::EmailVerified(_) => "patient.email_verified.v1",
        }
    }

    fn message_id(&self) -> Uuid {
        self.event_id()
    }

    fn correlation_id(&self) -> Uuid {
        self.request_id().unwrap_or_else(|| self.event_id())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::{
        broker::topology::{queues_for, NOTIFICATION_QUEUE, REGISTRATION_QUEUE},
        crypto::Sealed,
        messages::{
            AccountDeactivatedV1, PatientCreatedV1, RegistrationRequestedV1,
            VerificationRequestedV1,
        },
    };

    /// Where a message lands, its `type` property, and its body's tag.
    fn placed<M: Contract>(message: &M) -> (Vec<&'static str>, &'static str, String) {
        let body = serde_json::to_value(message).unwrap_or_default();
        let tag = body["type"].as_str().unwrap_or_default().to_owned();
        (
            queues_for(M::EXCHANGE, message.routing_key()),
            message.kind(),
            tag,
        )
    }

    #[test]
    fn every_message_lands_in_the_queue_that_consumes_it_labelled_with_its_tag() {
        let (id, at) = (Uuid::new_v4(), DateTime::<Utc>::UNIX_EPOCH);
        let cases = [
            (
                placed(&RegistrationRequested::V1(RegistrationRequestedV1 {
                    request_id: id,
                    submitted_at: at,
                    registration: Sealed {
                        kid: "k1".into(),
                        nonce: String::new(),
                        ct: String::new(),
                    },
                })),
                REGISTRATION_QUEUE,
            ),
            (
                placed(&PatientEvent::Created(PatientCreatedV1 {
                    event_id: id,
                    request_id: id,
                    patient_id: id,
                    occurred_at: at,
                })),
                NOTIFICATION_QUEUE,
            ),
            (
                placed(&PatientEvent::VerificationRequested(
                    VerificationRequestedV1 {
                        event_id: id,
                        patient_id: id,
                        requested_at: at,
                    },
                )),
                NOTIFICATION_QUEUE,
            ),
            (
                placed(&PatientEvent::AccountDeactivated(AccountDeactivatedV1 {
                    event_id: id,
                    patient_id: id,
                    deactivated_at: at,
                })),
                NOTIFICATION_QUEUE,
            ),
            (
                placed(&PatientEvent::PhoneVerificationRequested(
                    VerificationRequestedV1 {
                        event_id: id,
                        patient_id: id,
                        requested_at: at,
                    },
                )),
                NOTIFICATION_QUEUE,
            ),
            (
                placed(&PatientEvent::EmailChangeRequested(
                    VerificationRequestedV1 {
                        event_id: id,
                        patient_id: id,
                        requested_at: at,
                    },
                )),
                NOTIFICATION_QUEUE,
            ),
            (
                placed(&PatientEvent::ProfileChanged(
                    crate::messages::ProfileChangedV1 {
                        event_id: id,
                        patient_id: id,
                        fields: vec!["address".into()],
                        changed_at: at,
                    },
                )),
                NOTIFICATION_QUEUE,
            ),
        ];
        for ((queues, kind, tag), queue) in cases {
            assert_eq!(queues, [queue], "{kind}");
            assert_eq!(kind, tag);
        }
    }

    #[test]
    fn ids_follow_the_request() {
        let (request, event) = (Uuid::new_v4(), Uuid::new_v4());
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let created = PatientEvent::Created(PatientCreatedV1 {
            event_id: request,
            request_id: request,
            patient_id: Uuid::new_v4(),
            occurred_at: at,
        });
        let resend = PatientEvent::VerificationRequested(VerificationRequestedV1 {
            event_id: event,
            patient_id: Uuid::new_v4(),
            requested_at: at,
        });
        let cases = [(&created, request, request), (&resend, event, event)];
        for (message, message_id, correlation_id) in cases {
            assert_eq!(message.message_id(), message_id);
            assert_eq!(Contract::correlation_id(message), correlation_id);
        }
    }
}
