//! What happens to one patient event (`patient.created` or a resend
//! request): issue a fresh token, revoking earlier ones, and email it. A
//! redelivered event finds its delivery recorded and sends nothing; an SMTP
//! outage is waited out with backoff while the event is held, never dropped.

use std::{collections::HashMap, sync::Arc, time::Duration};

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
    /// This process's id in the claims it holds.
    pub holder: Uuid,
    pub in_process: InProcess,
}

/// Event ids being handled by this process, one task at a time each.
#[derive(Default)]
pub struct InProcess(std::sync::Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>);

impl InProcess {
    async fn turn(&self, event_id: Uuid) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut map = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Forget locks nobody holds or waits for.
            map.retain(|_, l| Arc::strong_count(l) > 1);
            Arc::clone(map.entry(event_id).or_default())
        };
        lock.lock_owned().await
    }
}

/// Renews a claim's lease every [`store::RENEW_EVERY`] until dropped, so
/// only a dead holder's claim ever expires.
struct LeaseKeeper(tokio::task::JoinHandle<()>);

impl LeaseKeeper {
    fn spawn(db: PgPool, event_id: Uuid, holder: Uuid) -> Self {
        Self(tokio::spawn(async move {
            let mut every = tokio::time::interval(store::RENEW_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                if let Err(e) = store::renew_claim(&db, event_id, holder).await {
                    tracing::warn!(error = %e, "could not renew a delivery claim");
                }
            }
        }))
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("poison message: {0}")]
    Poison(&'static str),
    #[error("transient: {0}")]
    Transient(String),
    /// Postgres is unreachable: wait in place without spending the
    /// delivery budget.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Another worker holds the event: look again when its lease would
    /// run out (it is renewed while the holder lives).
    #[error("another worker is sending this email")]
    Busy(Duration),
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
            match self.process_patiently(&event).await {
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

    /// Processes, waiting out outages and other workers' claims in place.
    async fn process_patiently(&self, event: &PatientEvent) -> Result<(), Failure> {
        // Twin deliveries of one event in this process take turns: a
        // process may retake its own claim, so it must not race itself.
        let _turn = self.in_process.turn(event.event_id()).await;
        let unavailable = |e: &Failure| matches!(e, Failure::Unavailable(_));
        loop {
            match retry::while_unavailable(&self.shutdown, unavailable, || self.process(event))
                .await
            {
                Err(Failure::Busy(lease_left)) if !self.shutdown.is_triggered() => {
                    tracing::info!(
                        wait_ms = lease_left.as_millis() as u64,
                        "another worker holds this email; waiting"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(lease_left + Duration::from_millis(250)) => {},
                        _ = self.shutdown.clone().wait() => {},
                    }
                }
                other => return other,
            }
        }
    }

    async fn process(&self, event: &PatientEvent) -> Result<(), Failure> {
        let (event_id, patient_id) = (event.event_id(), event.patient_id());
        let Some((email, first_name, verified)) = store::recipient(&self.db, patient_id).await?
        else {
            return Err(Failure::Poison("unknown patient"));
        };
        if verified {
            tracing::info!("email already verified; nothing to send");
            return Ok(());
        }
        match store::claim(&self.db, event_id, patient_id, self.holder).await? {
            Claim::Mine => {}
            Claim::Sent => {
                tracing::info!("verification email already sent for this event");
                return Ok(());
            }
            // Wait in place: the holder finishes, or its lease runs out.
            Claim::Busy(lease_left) => return Err(Failure::Busy(lease_left)),
        }
        let lease = LeaseKeeper::spawn(self.db.clone(), event_id, self.holder);
        let recipient = Recipient {
            email: &email,
            first_name: &first_name,
        };
        let sent = self.issue_and_send(patient_id, &recipient).await;
        drop(lease);
        if let Err(e) = sent {
            // Give the claim back so the retry (here or elsewhere) may send.
            let _ = store::release(&self.db, event_id, self.holder).await;
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

    /// A fresh token (earlier ones revoked) and the email that carries it.
    async fn issue_and_send(&self, patient_id: Uuid, to: &Recipient<'_>) -> Result<(), Failure> {
        let token = VerificationToken::generate();
        let ttl = chrono::Duration::from_std(self.token_ttl)
            .map_err(|e| Failure::Transient(e.to_string()))?;
        store::issue_token(
            &self.db,
            patient_id,
            &token.hash(),
            chrono::Utc::now() + ttl,
        )
        .await?;
        self.send_until_delivered(to, &token).await
    }

    /// Retries SMTP with capped exponential backoff while holding the event;
    /// gives it back to the queue only when shutting down.
    async fn send_until_delivered(
        &self,
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
