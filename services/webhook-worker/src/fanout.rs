//! The fan-out: an outcome (a registration settled, an email verified)
//! becomes one delivery per endpoint of the submitting partner subscribed
//! to its type, and each delivery's first attempt is published. A
//! redelivered outcome creates nothing twice (one delivery per event and
//! endpoint) and publishes again the first attempt of every delivery not
//! yet attempted, so that a crash between the insert and the publish loses
//! nothing; a duplicate first attempt is recognised by the attempts
//! handler.
//!
//! An outcome of a registration that came in a batch also carries the
//! batch's id; when it settles the batch's last pending item, the batch's
//! own `batch.completed` is fanned out too (event id: the batch's id).

use futures_util::future::try_join_all;
use shared::{
    broker::{topology::WEBHOOK_EVENTS_QUEUE, Broker},
    messages::{OutcomeEvent, WebhookAttempt, WebhookAttemptV1},
    webhook::{BatchCounts, Payload, PayloadData},
    worker::{Failure, Handler},
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::store;

pub struct Fanout {
    pub db: PgPool,
    pub broker: Broker,
}

impl Handler for Fanout {
    type Message = OutcomeEvent;
    const QUEUE: &'static str = WEBHOOK_EVENTS_QUEUE;

    async fn handle(&self, event: &OutcomeEvent) -> Result<(), Failure> {
        let kind = event.webhook_type();
        let Some(origin) = store::origin_of(&self.db, event).await? else {
            tracing::debug!(kind, "not submitted by a partner: no webhook");
            return Ok(());
        };
        let partner_id = origin.partner_id;
        let event_id = event.event_id();
        let mut payload = payload_of(event);
        payload.data.batch_id = origin.batch_id;
        let mut out = store::fan_out(&self.db, partner_id, event_id, &payload).await?;
        if let Some(batch_id) = origin.batch_id.filter(|_| settles(event)) {
            if let Some(counts) = store::settled_batch(&self.db, batch_id).await? {
                let completed = batch_completed(batch_id, counts, chrono::Utc::now());
                let batch = store::fan_out(&self.db, partner_id, batch_id, &completed).await?;
                out.created += batch.created;
                out.unattempted.extend(batch.unattempted);
            }
        }
        let unattempted = out.unattempted;
        try_join_all(unattempted.iter().map(|&delivery_id| async move {
            let first = WebhookAttempt::V1(WebhookAttemptV1 {
                delivery_id,
                attempt: 1,
            });
            self.broker.publish_message(&first).await
        }))
        .await?;
        tracing::info!(
            kind,
            %partner_id,
            created = out.created,
            published = unattempted.len(),
            "webhook deliveries fanned out"
        );
        Ok(())
    }

    /// Twin deliveries of one event take turns.
    fn turn_key(&self, event: &OutcomeEvent) -> Option<Uuid> {
        Some(event.event_id())
    }
}

/// Whether the event settles its registration (so it may be its batch's last).
fn settles(event: &OutcomeEvent) -> bool {
    !matches!(event, OutcomeEvent::EmailVerified(_))
}

/// `batch.completed`: every item of the batch has settled (or was answered
/// inline); its event id is the batch's id, so it is made once per endpoint.
pub fn batch_completed(
    batch_id: Uuid,
    counts: BatchCounts,
    at: chrono::DateTime<chrono::Utc>,
) -> Payload {
    Payload {
        kind: "batch.completed".to_owned(),
        timestamp: at,
        data: PayloadData {
            request_id: None,
            status: "completed".to_owned(),
            patient_id: None,
            errors: None,
            batch_id: Some(batch_id),
            counts: Some(counts),
        },
    }
}

/// What partners are told: ids, the status and a rejection's field errors.
pub fn payload_of(event: &OutcomeEvent) -> Payload {
    let (status, settled) = match event {
        OutcomeEvent::Completed(e) => ("completed", e),
        OutcomeEvent::Rejected(e) => ("rejected", e),
        OutcomeEvent::Failed(e) => ("failed", e),
        OutcomeEvent::EmailVerified(e) => {
            return Payload {
                kind: event.webhook_type().to_owned(),
                timestamp: e.occurred_at,
                data: PayloadData {
                    request_id: e.request_id,
                    status: "email_verified".to_owned(),
                    patient_id: Some(e.patient_id),
                    errors: None,
                    batch_id: None,
                    counts: None,
                },
            }
        }
    };
    Payload {
        kind: event.webhook_type().to_owned(),
        timestamp: settled.occurred_at,
        data: PayloadData {
            request_id: Some(settled.request_id),
            status: status.to_owned(),
            patient_id: settled.patient_id,
            errors: settled.errors.clone(),
            batch_id: None,
            counts: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use serde_json::json;
    use shared::{
        messages::{EmailVerifiedV1, RegistrationSettledV1},
        validation::FieldErrors,
    };

    use super::*;

    #[test]
    fn each_outcome_becomes_its_payload() {
        let (request, patient) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let settled = |patient_id, errors| RegistrationSettledV1 {
            event_id: request,
            request_id: request,
            patient_id,
            errors,
            occurred_at: at,
        };
        let errors = FieldErrors::single("email", "Email is already registered");
        let cases = [
            (
                OutcomeEvent::Completed(settled(Some(patient), None)),
                json!({"type": "registration.completed", "timestamp": "1970-01-01T00:00:00Z",
                       "data": {"request_id": request, "status": "completed", "patient_id": patient}}),
            ),
            (
                OutcomeEvent::Rejected(settled(None, Some(errors))),
                json!({"type": "registration.rejected", "timestamp": "1970-01-01T00:00:00Z",
                       "data": {"request_id": request, "status": "rejected",
                                "errors": {"email": ["Email is already registered"]}}}),
            ),
            (
                OutcomeEvent::Failed(settled(None, None)),
                json!({"type": "registration.failed", "timestamp": "1970-01-01T00:00:00Z",
                       "data": {"request_id": request, "status": "failed"}}),
            ),
            (
                OutcomeEvent::EmailVerified(EmailVerifiedV1 {
                    event_id: Uuid::from_u128(3),
                    patient_id: patient,
                    request_id: None,
                    occurred_at: at,
                }),
                json!({"type": "patient.email_verified", "timestamp": "1970-01-01T00:00:00Z",
                       "data": {"status": "email_verified", "patient_id": patient}}),
            ),
        ];
        for (event, want) in cases {
            let got = serde_json::to_value(payload_of(&event)).unwrap_or_default();
            assert_eq!(got, want, "{}", event.webhook_type());
        }
    }

    #[test]
    fn a_settled_batch_is_told_with_its_counts() {
        let batch = Uuid::from_u128(9);
        let counts = BatchCounts {
            total: 500,
            completed: 470,
            rejected: 8,
            failed: 2,
            invalid: 20,
        };
        let payload = batch_completed(batch, counts, DateTime::<Utc>::UNIX_EPOCH);
        assert_eq!(
            serde_json::to_value(payload).unwrap_or_default(),
            json!({"type": "batch.completed", "timestamp": "1970-01-01T00:00:00Z",
                   "data": {"status": "completed", "batch_id": batch,
                            "counts": {"total": 500, "completed": 470, "rejected": 8,
                                       "failed": 2, "invalid": 20}}})
        );
    }
}
