//! What happens to one registration message. Every step is idempotent: a
//! message delivered twice finds its request settled and only republishes
//! the event, so no second patient is ever made.

use serde_json::Value;
use shared::{
    broker::{header_str, persistent_json, topology, Broker, Incoming, Outcome},
    crypto::Keyring,
    db,
    domain::parse_registration,
    messages::{
        registration_context, PatientCreatedV1, PatientEvent, RegistrationRequested,
        RegistrationRequestedV1,
    },
    retry,
    shutdown::Shutdown,
};
use sqlx::PgPool;
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    hashing::hash_password,
    store::{self, Created, RequestState},
};

pub struct Worker {
    pub db: PgPool,
    pub broker: Broker,
    pub keyring: Keyring,
    pub bcrypt_cost: u32,
    pub max_deliveries: u64,
    pub shutdown: Shutdown,
}

/// Why a message was not processed.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// It can never succeed: dead-letter it.
    #[error("poison message: {0}")]
    Poison(&'static str),
    /// Something went wrong that a retry may fix; counts toward the
    /// delivery limit.
    #[error("transient: {0}")]
    Transient(String),
    /// A dependency (Postgres, RabbitMQ) is unreachable: wait for it in
    /// place, without spending the message's delivery budget.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// An unreachable database is waited for; a statement that keeps failing
/// ends in the dead-letter queue after `MAX_DELIVERIES`.
impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        if db::is_transient(&e) {
            Self::Unavailable(format!("database: {e}"))
        } else {
            Self::Transient(format!("database: {e}"))
        }
    }
}

impl Worker {
    pub async fn handle(&self, incoming: Incoming) -> Outcome {
        let header_id =
            header_str(&incoming.properties, "x-request-id").and_then(|s| Uuid::parse_str(&s).ok());
        let decoded = serde_json::from_slice::<RegistrationRequested>(&incoming.body);
        let request_id = decoded.as_ref().map_or(header_id, |m| Some(m.request_id()));
        let span = tracing::info_span!(
            "registration",
            request_id = request_id.map(tracing::field::display),
            delivery = incoming.delivery_count
        );
        async {
            let Ok(RegistrationRequested::V1(message)) = decoded else {
                return self.dead_letter(header_id, "undecodable message").await;
            };
            if incoming.delivery_count >= self.max_deliveries {
                return self
                    .dead_letter(Some(message.request_id), "too many delivery attempts")
                    .await;
            }
            let unavailable = |e: &Failure| matches!(e, Failure::Unavailable(_));
            match retry::while_unavailable(&self.shutdown, unavailable, || self.process(&message))
                .await
            {
                Ok(()) => Outcome::Ack,
                Err(Failure::Poison(reason)) => {
                    self.dead_letter(Some(message.request_id), reason).await
                }
                Err(e) => {
                    tracing::warn!(error = %e, "registration failed for now; will retry");
                    Outcome::Retry
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn dead_letter(&self, request_id: Option<Uuid>, reason: &'static str) -> Outcome {
        tracing::error!(reason, "dead-lettering a registration message");
        if let Some(id) = request_id {
            if let Err(e) = store::fail(&self.db, id, reason).await {
                // Keep the message until its request can be marked failed.
                tracing::warn!(error = %e, "could not mark the request failed; will retry");
                return Outcome::Retry;
            }
        }
        Outcome::DeadLetter
    }

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
        let hash = hash_password(&patient.password, self.bcrypt_cost)
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
        let body = serde_json::to_vec(&event).map_err(|e| Failure::Transient(e.to_string()))?;
        self.broker
            .publish(
                topology::EVENTS_EXCHANGE,
                topology::PATIENT_CREATED,
                &body,
                persistent_json("patient.created.v1", request_id, request_id),
            )
            .await
            .map_err(|e| Failure::Unavailable(e.to_string()))
    }
}

/// The names of the fields that failed: safe to log, unlike their values.
fn errors_fields(errors: &shared::validation::FieldErrors) -> Vec<String> {
    errors.iter().map(|(field, _)| field.to_owned()).collect()
}
