//! What happens to one registration message: the registration worker's
//! [`Handler`]. Every step is idempotent: a message delivered twice finds
//! its request settled and only republishes the event, so no second patient
//! is ever made. A message that is dead-lettered marks its request failed.

use serde_json::Value;
use shared::{
    broker::{topology::REGISTRATION_QUEUE, Broker, Outcome},
    crypto::Keyring,
    domain::parse_registration,
    messages::{
        registration_context, OutcomeEvent, PatientCreatedV1, PatientEvent, RegistrationRequested,
        RegistrationRequestedV1, RegistrationSettledV1,
    },
    password::PasswordHasher,
    validation::FieldErrors,
    worker::{Failure, Handler},
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::store::{self, Created, RequestState};

pub struct Registrar {
    pub db: PgPool,
    pub broker: Broker,
    pub keyring: Keyring,
    pub hasher: PasswordHasher,
}

impl Handler for Registrar {
    type Message = RegistrationRequested;
    const QUEUE: &'static str = REGISTRATION_QUEUE;
    /// One event per message, up to `WORKER_PREFETCH` awaiting confirms.
    const PUBLISH_CHANNELS: usize = 4;

    async fn handle(&self, message: &RegistrationRequested) -> Result<(), Failure> {
        let RegistrationRequested::V1(message) = message;
        self.process(message).await
    }

    /// Marks the request failed, so that its client stops waiting; keeps
    /// the message until that is recorded.
    async fn dead_letter(&self, request_id: Option<Uuid>, reason: &'static str) -> Outcome {
        if let Some(id) = request_id {
            if let Err(e) = store::fail(&self.db, id, reason).await {
                tracing::warn!(error = %e, "could not mark the request failed; will retry");
                return Outcome::Retry;
            }
            // Settled: its partner hears of it (a settle that raced this one
            // publishes its own outcome; the webhook worker keeps one).
            match store::existing_state(&self.db, id).await {
                Ok(Some(RequestState::Failed)) => {
                    if let Err(e) = self.publish_outcome(id, &Settled::Failed).await {
                        tracing::warn!(error = ?e, "could not publish the failed outcome; will retry");
                        return Outcome::Retry;
                    }
                }
                // No such request (the message named none), or another
                // settle won: that one published its own outcome.
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the request's state; will retry");
                    return Outcome::Retry;
                }
            }
        }
        Outcome::DeadLetter
    }
}

impl Registrar {
    async fn process(&self, message: &RegistrationRequestedV1) -> Result<(), Failure> {
        let request_id = message.request_id;
        match store::request_state(&self.db, request_id).await? {
            RequestState::Pending => {}
            RequestState::Completed(patient_id) => {
                tracing::info!("request already completed; republishing its event");
                return self.publish_created(request_id, patient_id).await;
            }
            RequestState::Rejected(errors) => {
                tracing::info!("request already rejected; republishing its outcome");
                return self
                    .publish_outcome(request_id, &Settled::Rejected(errors))
                    .await;
            }
            RequestState::Failed => {
                tracing::info!("request already failed; republishing its outcome");
                return self.publish_outcome(request_id, &Settled::Failed).await;
            }
        }
        let body: Value = self
            .keyring
            .open_json(&message.registration, &registration_context(request_id))
            .map_err(|_| Failure::Poison("registration could not be decrypted"))?;
        // Never trust the queue: everything is checked again.
        let patient = match parse_registration(&body, chrono::Utc::now().date_naive()) {
            Ok(patient) => patient,
            Err(errors) => {
                tracing::info!(fields = ?errors_fields(&errors), "registration rejected by validation");
                return self.reject(request_id, errors).await;
            }
        };
        let taken = store::taken_fields(&self.db, &patient).await?;
        if !taken.is_empty() {
            tracing::info!(fields = ?errors_fields(&taken), "registration rejected: already registered");
            return self.reject(request_id, taken).await;
        }
        let hash = self
            .hasher
            .hash(&patient.password)
            .await
            .map_err(|e| Failure::Transient(e.to_string()))?;
        match store::create_patient(&self.db, &self.keyring, request_id, &patient, &hash).await? {
            Created::Patient(patient_id) => {
                tracing::info!(%patient_id, "patient created");
                self.publish_created(request_id, patient_id).await
            }
            Created::Duplicate(errors) => {
                tracing::info!(fields = ?errors_fields(&errors), "registration rejected: a concurrent twin won");
                self.reject(request_id, errors).await
            }
            Created::AlreadySettled(RequestState::Completed(patient_id)) => {
                tracing::info!("request already completed; republishing its event");
                self.publish_created(request_id, patient_id).await
            }
            Created::AlreadySettled(RequestState::Rejected(errors)) => {
                self.publish_outcome(request_id, &Settled::Rejected(errors))
                    .await
            }
            Created::AlreadySettled(_) => self.publish_outcome(request_id, &Settled::Failed).await,
        }
    }

    /// Rejects the request, then tells its partner. A rejection that loses
    /// a race to another settle publishes what the request now is.
    async fn reject(&self, request_id: Uuid, errors: FieldErrors) -> Result<(), Failure> {
        store::reject(&self.db, request_id, &errors).await?;
        match store::existing_state(&self.db, request_id)
            .await?
            .unwrap_or(RequestState::Failed)
        {
            RequestState::Rejected(errors) => {
                self.publish_outcome(request_id, &Settled::Rejected(errors))
                    .await
            }
            RequestState::Completed(patient_id) => {
                self.publish_created(request_id, patient_id).await
            }
            RequestState::Failed => self.publish_outcome(request_id, &Settled::Failed).await,
            RequestState::Pending => Err(Failure::Transient(
                "request still pending after its rejection".into(),
            )),
        }
    }

    /// `patient.created` (for the verification email) and the request's
    /// `registration.completed` outcome (for its partner's webhooks).
    async fn publish_created(&self, request_id: Uuid, patient_id: Uuid) -> Result<(), Failure> {
        let event = PatientEvent::Created(PatientCreatedV1 {
            event_id: request_id,
            request_id,
            patient_id,
            occurred_at: chrono::Utc::now(),
        });
        self.broker.publish_message(&event).await?;
        self.publish_outcome(request_id, &Settled::Completed(patient_id))
            .await
    }

    /// The outcome a partner's webhooks tell of; its event id is the
    /// request id, so a republished one is the same event.
    async fn publish_outcome(&self, request_id: Uuid, settled: &Settled) -> Result<(), Failure> {
        let body = |patient_id, errors| RegistrationSettledV1 {
            event_id: request_id,
            request_id,
            patient_id,
            errors,
            occurred_at: chrono::Utc::now(),
        };
        let event = match settled {
            Settled::Completed(patient_id) => {
                OutcomeEvent::Completed(body(Some(*patient_id), None))
            }
            Settled::Rejected(errors) => OutcomeEvent::Rejected(body(None, Some(errors.clone()))),
            Settled::Failed => OutcomeEvent::Failed(body(None, None)),
        };
        Ok(self.broker.publish_message(&event).await?)
    }
}

/// How a request settled, for its outcome event.
enum Settled {
    Completed(Uuid),
    Rejected(FieldErrors),
    Failed,
}

/// The names of the fields that failed: safe to log, unlike their values.
fn errors_fields(errors: &shared::validation::FieldErrors) -> Vec<String> {
    errors.iter().map(|(field, _)| field.to_owned()).collect()
}
