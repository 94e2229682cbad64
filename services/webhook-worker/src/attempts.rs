//! One attempt at one delivery: the attempts queue's [`Handler`]. An
//! attempt already made (its number is not past the delivery's count) or
//! a settled delivery is a duplicate and acked untouched. Otherwise the
//! payload is POSTed, signed (see [`crate::sender`]); a failure schedules
//! the next attempt in its retry queue (confirmed before anything else),
//! and the attempt is recorded (see [`crate::recorder`]) before the
//! message is acked. A crash anywhere before the ack means the attempt is
//! made again, with the same `webhook-id`: at least once.

use std::time::Duration;

use shared::{
    broker::{topology::WEBHOOK_ATTEMPTS_QUEUE, Outcome},
    crypto::Keyring,
    messages::{WebhookAttempt, WebhookAttemptV1},
    metrics::metrics,
    retry,
    shutdown::Shutdown,
    webhook::{message_id, Payload, Secret},
    worker::{Failure, Handler},
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    recorder::{Record, Recorder, Verdict},
    retries::Retries,
    sender::{Attempted, ErrorClass, Outgoing, Sender},
    store::{self, Read, Target},
};

pub struct Attempts {
    pub db: PgPool,
    pub keyring: Keyring,
    pub sender: Sender,
    pub retries: Retries,
    pub recorder: Recorder,
    pub shutdown: Shutdown,
}

impl Handler for Attempts {
    type Message = WebhookAttempt;
    const QUEUE: &'static str = WEBHOOK_ATTEMPTS_QUEUE;

    async fn handle(&self, message: &WebhookAttempt) -> Result<(), Failure> {
        let WebhookAttempt::V1(WebhookAttemptV1 {
            delivery_id,
            attempt,
        }) = *message;
        self.attempt(delivery_id, attempt).await
    }

    /// An attempt that can never be made (its endpoint's secret does not
    /// open, an unknown delivery, or too many deliveries of the message):
    /// its delivery is failed and the reason recorded, so it is listed as
    /// failed (and can be retried by hand once mended) rather than left
    /// `pending` for ever. The message is kept until that is written.
    async fn dead_letter(&self, delivery_id: Option<Uuid>, reason: &'static str) -> Outcome {
        let Some(delivery_id) = delivery_id else {
            return Outcome::DeadLetter;
        };
        match store::fail_undeliverable(&self.db, delivery_id).await {
            Ok(()) => {
                tracing::warn!(%delivery_id, reason, "webhook delivery failed: undeliverable");
                metrics().webhook_outcome("failed");
                Outcome::DeadLetter
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not record the failed delivery; will retry");
                Outcome::Retry
            }
        }
    }

    /// Twin messages of one delivery take turns in this process, so the
    /// second finds the first's attempt recorded.
    fn turn_key(&self, message: &WebhookAttempt) -> Option<Uuid> {
        let WebhookAttempt::V1(a) = message;
        Some(a.delivery_id)
    }
}

impl Attempts {
    #[tracing::instrument(skip(self), fields(%delivery_id))]
    async fn attempt(&self, delivery_id: Uuid, attempt: u32) -> Result<(), Failure> {
        let number =
            i32::try_from(attempt).map_err(|_| Failure::Poison("attempt number out of range"))?;
        let Some(target) = self.target(delivery_id, number).await? else {
            return Ok(());
        };
        let attempted = if target.endpoint_gone {
            Attempted::not_made(ErrorClass::EndpointDisabled)
        } else {
            self.send(delivery_id, &target).await?
        };
        let verdict = match (attempted.error, self.retries.after(attempt)) {
            (None, _) => Verdict::Delivered,
            (Some(ErrorClass::EndpointDisabled), _) | (Some(_), None) => Verdict::Failed,
            (Some(_), Some(queue)) => {
                let next = WebhookAttempt::V1(WebhookAttemptV1 {
                    delivery_id,
                    attempt: attempt + 1,
                });
                self.until_done(|| async { Ok(self.retries.schedule(queue, &next).await?) })
                    .await?;
                Verdict::Retried
            }
        };
        let record = Record {
            delivery_id,
            endpoint_id: target.endpoint_id,
            attempt: number,
            attempted,
            verdict,
        };
        self.until_done(|| self.recorder.record(record.clone()))
            .await?;
        observe(&attempted, verdict);
        Ok(())
    }

    /// The delivery and its endpoint, unless attempt `number` has nothing
    /// left to do (a duplicate). What looks like a duplicate is read again
    /// once any writer is done with it: a manual retry sets a failed
    /// delivery back to `pending` in a transaction that commits only after
    /// its attempt is published, so that attempt may arrive first.
    async fn target(&self, delivery_id: Uuid, number: i32) -> Result<Option<Target>, Failure> {
        let mut read = Read::Plain;
        loop {
            let Some(target) = store::target(&self.db, delivery_id, read).await? else {
                return Err(Failure::Poison("unknown webhook delivery"));
            };
            if !target.is_done_with(number) {
                return Ok(Some(target));
            }
            if read == Read::AfterWriters {
                tracing::debug!(
                    status = target.status,
                    attempts = target.attempts,
                    "attempt already made: a duplicate"
                );
                return Ok(None);
            }
            read = Read::AfterWriters;
        }
    }

    /// Signs and POSTs this attempt.
    async fn send(&self, delivery_id: Uuid, target: &Target) -> Result<Attempted, Failure> {
        let secrets = self.secrets(target)?;
        let webhook_id = message_id(delivery_id);
        let outgoing = Outgoing {
            url: &target.url,
            webhook_id: &webhook_id,
            secrets: &secrets,
            body: body_of(&target.payload),
        };
        Ok(self.sender.send(outgoing).await)
    }

    /// The endpoint's secret, and its previous one while that has not
    /// expired.
    fn secrets(&self, target: &Target) -> Result<Vec<Secret>, Failure> {
        let open = |sealed| {
            Secret::open(&self.keyring, sealed, target.endpoint_id)
                .map_err(|_| Failure::Poison("the endpoint's secret cannot be opened"))
        };
        let mut secrets = vec![open(&target.secret.0)?];
        if let (Some(previous), Some(until)) =
            (&target.previous_secret, target.previous_secret_expires_at)
        {
            if until > chrono::Utc::now() {
                secrets.push(open(&previous.0)?);
            }
        }
        Ok(secrets)
    }

    /// Once an attempt is made, what follows is retried in place while
    /// Postgres or RabbitMQ is unreachable, rather than made again.
    async fn until_done<F, Fut>(&self, step: F) -> Result<(), Failure>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), Failure>>,
    {
        retry::while_unavailable(&self.shutdown, Failure::is_unavailable, step).await
    }
}

/// The body sent: the stored payload, fields in their documented order.
fn body_of(payload: &serde_json::Value) -> Vec<u8> {
    match serde_json::from_value::<Payload>(payload.clone()) {
        Ok(payload) => serde_json::to_vec(&payload),
        Err(_) => serde_json::to_vec(payload),
    }
    .unwrap_or_default()
}

fn observe(attempted: &Attempted, verdict: Verdict) {
    let m = metrics();
    m.webhook_outcome(verdict.as_str());
    if attempted.latency > Duration::ZERO {
        m.webhook_attempt_duration
            .observe(attempted.latency.as_secs_f64());
    }
    let (status, error) = (attempted.status, attempted.error.map(ErrorClass::as_str));
    let latency_ms = attempted.latency.as_millis() as u64;
    match verdict {
        Verdict::Delivered => tracing::debug!(status, latency_ms, "webhook delivered"),
        Verdict::Retried => tracing::info!(
            status,
            error,
            latency_ms,
            "webhook attempt failed; retry scheduled"
        ),
        Verdict::Failed => tracing::warn!(
            status,
            error,
            latency_ms,
            "webhook delivery failed for good"
        ),
    }
}
