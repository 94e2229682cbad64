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
        registration_context, PatientCreatedV1, PatientEvent, RegistrationRequested,
        RegistrationRequestedV1,
    },
    password::PasswordHasher,
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
            RequestState::Settled => {
                tracing::info!("request already settled; nothing to do");
                return Ok(());
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
                return Ok(store::reject(&self.db, request_id, &errors).await?);
            }
        };
        let taken = store::taken_fields(&self.db, &patient).await?;
        if !taken.is_empty() {
            tracing::info!(fields = ?errors_fields(&taken), "registration rejected: already registered");
            return Ok(store::reject(&self.db, request_id, &taken).await?);
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
                Ok(store::reject(&self.db, request_id, &errors).await?)
            }
            Created::AlreadySettled(RequestState::Completed(patient_id)) => {
                tracing::info!("request already completed; republishing its event");
                self.publish_created(request_id, patient_id).await
            }
            Created::AlreadySettled(_) => Ok(()),
        }
    }

    async fn publish_created(&self, request_id: Uuid, patient_id: Uuid) -> Result<(), Failure> {
        let event = PatientEvent::Created(PatientCreatedV1 {
            event_id: request_id,
            request_id,
            patient_id,
            occurred_at: chrono::Utc::now(),
        });
        Ok(self.broker.publish_message(&event).await?)
    }
}

/// The names of the fields that failed: safe to log, unlike their values.
fn errors_fields(errors: &shared::validation::FieldErrors) -> Vec<String> {
    errors.iter().map(|(field, _)| field.to_owned()).collect()
}
