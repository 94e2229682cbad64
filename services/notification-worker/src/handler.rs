//! What happens to one patient event (`patient.created` or a resend
//! request): issue a fresh token, revoking earlier ones, and email it. A
//! redelivered event finds its delivery recorded and sends nothing; an SMTP
//! outage is waited out with backoff while the event is held, never dropped.

use std::time::Duration;

use shared::{
    broker::{Incoming, Outcome},
    messages::PatientEvent,
    metrics::metrics,
    retry,
    shutdown::Shutdown,
    token::VerificationToken,
};
use sqlx::PgPool;
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    mailer::{Mailer, Recipient},
    store::{self, Claim},
};

pub struct Notifier {
    pub db: PgPool,
    pub mailer: Mailer,
    pub public_base_url: String,
    pub token_ttl: Duration,
    pub max_deliveries: u64,
    pub shutdown: Shutdown,
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("poison message: {0}")]
    Poison(&'static str),
    #[error("transient: {0}")]
    Transient(String),
    /// Postgres is unreachable, or a twin delivery holds the event: wait in
    /// place without spending the delivery budget.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        if shared::db::is_transient(&e) {
            Self::Unavailable(format!("database: {e}"))
        } else {
            Self::Transient(format!("database: {e}"))
        }
    }
}

const MAX_SMTP_BACKOFF: Duration = Duration::from_secs(60);

impl Notifier {
    pub async fn handle(&self, incoming: Incoming) -> Outcome {
        let decoded = serde_json::from_slice::<PatientEvent>(&incoming.body);
        let span = tracing::info_span!(
            "patient_event",
            request_id = decoded
                .as_ref()
                .ok()
                .map(|e| tracing::field::display(e.correlation_id())),
            delivery = incoming.delivery_count
        );
        async {
            let Ok(event) = decoded else {
                tracing::error!("dead-lettering an undecodable event");
                return Outcome::DeadLetter;
            };
            if incoming.delivery_count >= self.max_deliveries {
                tracing::error!("dead-lettering an event delivered too many times");
                return Outcome::DeadLetter;
            }
            let unavailable = |e: &Failure| matches!(e, Failure::Unavailable(_));
            match retry::while_unavailable(&self.shutdown, unavailable, || self.process(&event))
                .await
            {
                Ok(()) => Outcome::Ack,
                Err(Failure::Poison(reason)) => {
                    tracing::error!(reason, "dead-lettering an event");
                    Outcome::DeadLetter
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event not handled for now; will retry");
                    Outcome::Retry
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn process(&self, event: &PatientEvent) -> Result<(), Failure> {
        let (event_id, patient_id) = (event.event_id(), event.patient_id());
        let Some((email, first_name)) = store::unverified_recipient(&self.db, patient_id).await?
        else {
            if store::patient_exists(&self.db, patient_id).await? {
                tracing::info!("email already verified; nothing to send");
                return Ok(());
            }
            return Err(Failure::Poison("unknown patient"));
        };
        match store::claim(&self.db, event_id, patient_id).await? {
            Claim::Mine => {}
            Claim::Sent => {
                tracing::info!("verification email already sent for this event");
                return Ok(());
            }
            Claim::Busy => {
                return Err(Failure::Transient(
                    "another delivery is sending this email".into(),
                ))
            }
        }
        let token = VerificationToken::generate();
        let expires_at = chrono::Utc::now()
            + chrono::Duration::from_std(self.token_ttl)
                .map_err(|e| Failure::Transient(e.to_string()))?;
        store::issue_token(&self.db, patient_id, &token.hash(), expires_at).await?;
        let recipient = Recipient {
            email: &email,
            first_name: &first_name,
        };
        if let Err(e) = self
            .send_until_delivered(event_id, &recipient, &token)
            .await
        {
            let _ = store::release(&self.db, event_id).await;
            return Err(e);
        }
        tracing::info!("verification email sent");
        // The email is out: recording it must not fail lightly, or a retry
        // would send a second one.
        let mut delay = Duration::from_millis(200);
        for attempt in 1.. {
            match store::mark_sent(&self.db, event_id).await {
                Ok(()) => break,
                Err(e) if attempt < 10 => {
                    tracing::warn!(error = %e, "could not record the delivery; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Retries SMTP with capped exponential backoff while holding the event;
    /// gives it back to the queue only when shutting down.
    async fn send_until_delivered(
        &self,
        event_id: Uuid,
        to: &Recipient<'_>,
        token: &VerificationToken,
    ) -> Result<(), Failure> {
        let mut delay = Duration::from_millis(500);
        loop {
            match self
                .mailer
                .send_verification(to, token, &self.public_base_url, self.token_ttl)
                .await
            {
                Ok(()) => {
                    metrics().emails_sent.inc();
                    return Ok(());
                }
                Err(e) => {
                    metrics().emails_failed.inc();
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "SMTP send failed");
                    if self.shutdown.is_triggered() {
                        return Err(Failure::Transient(
                            "shutting down with SMTP unavailable".into(),
                        ));
                    }
                    let _ = store::renew_claim(&self.db, event_id).await;
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {},
                        _ = self.shutdown.clone().wait() => {},
                    }
                    delay = (delay * 2).min(MAX_SMTP_BACKOFF);
                }
            }
        }
    }
}
