//! What happens to one patient event: the notification worker's
//! [`Handler`]. The event says which email (see [`Notice`]); a verification
//! or reset email carries a fresh token, earlier ones revoked. A redelivered
//! event finds its delivery recorded and sends nothing; an event another
//! worker is sending is waited for; an SMTP outage is waited out with
//! backoff while the event is held, never dropped.

use std::time::Duration;

use shared::{
    broker::topology::NOTIFICATION_QUEUE,
    messages::PatientEvent,
    metrics::metrics,
    retry::Backoff,
    shutdown::Shutdown,
    token::VerificationToken,
    worker::{Failure, Handler},
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    config::TokenTtl,
    letters::Letter,
    mailer::Mailer,
    notice::Notice,
    phone::PhoneCodes,
    store::{self, Claim, Patient, TokenKind},
};

pub struct Notifier {
    pub db: PgPool,
    pub mailer: Mailer,
    pub public_base_url: String,
    pub ttl: TokenTtl,
    /// Phone verification codes and the SMS transport they go by.
    pub phone: PhoneCodes,
    pub shutdown: Shutdown,
    /// This process's id in the claims it holds.
    pub holder: Uuid,
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

/// SMTP is retried from half a second up to a minute apart.
const SMTP_BACKOFF: Backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
/// Recording a sent email is tried this many times, up to 5 s apart.
const RECORD_TRIES: u32 = 10;
const RECORD_BACKOFF: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
/// Past another holder's lease, before looking again.
const LEASE_MARGIN: Duration = Duration::from_millis(250);

impl Handler for Notifier {
    type Message = PatientEvent;
    const QUEUE: &'static str = NOTIFICATION_QUEUE;

    async fn handle(&self, event: &PatientEvent) -> Result<(), Failure> {
        let (event_id, patient_id) = (event.event_id(), event.patient_id());
        let notice = Notice::of(event);
        let kind = notice.kind().as_str();
        let patient = match store::patient(&self.db, patient_id).await? {
            Some(patient) => patient,
            None => match notice.skip_unknown_patient() {
                Some(why) => {
                    tracing::info!(kind, why, "nothing to send");
                    return Ok(());
                }
                None => return Err(Failure::Poison("unknown patient")),
            },
        };
        if let Some(why) = notice.skip_for(&patient) {
            tracing::info!(kind, why, "nothing to send");
            return Ok(());
        }
        match store::claim(&self.db, event_id, patient_id, notice.kind(), self.holder).await? {
            Claim::Mine => {}
            Claim::Sent => {
                tracing::info!(kind, "email already sent for this event");
                return Ok(());
            }
            // Wait in place: the holder finishes, or its lease runs out.
            Claim::Busy(lease_left) => {
                return Err(Failure::Busy {
                    reason: "another worker holds this email",
                    wait: lease_left + LEASE_MARGIN,
                })
            }
        }
        let lease = LeaseKeeper::spawn(self.db.clone(), event_id, self.holder);
        let sent = match notice {
            Notice::PhoneVerification => {
                let db = &self.db;
                self.phone
                    .send(db, &self.mailer, &self.shutdown, event_id)
                    .await
            }
            Notice::EmailChange => self.send_email_change(event_id, patient_id, &patient).await,
            _ => self.compose_and_send(notice, patient_id, &patient).await,
        };
        drop(lease);
        if let Err(e) = sent {
            // Give the claim back so the retry (here or elsewhere) may send.
            let _ = store::release(&self.db, event_id, self.holder).await;
            return Err(e);
        }
        // An email change logs each of its two emails itself.
        if !matches!(notice, Notice::PhoneVerification | Notice::EmailChange) {
            tracing::info!(kind, "email sent");
        }
        self.record_sent(event_id).await
    }

    /// Twin deliveries of one event take turns: this process may retake
    /// its own claim, so it must not race itself.
    fn turn_key(&self, event: &PatientEvent) -> Option<Uuid> {
        Some(event.event_id())
    }
}

impl Notifier {
    /// The email is out: recording it must not fail lightly, or a retry
    /// would send a second one. So it is tried [`RECORD_TRIES`] times, and
    /// a shutdown does not cut the waits short.
    pub(crate) async fn record_sent(&self, event_id: Uuid) -> Result<(), Failure> {
        let mut backoff = RECORD_BACKOFF;
        let mut tries = 1;
        loop {
            match store::mark_sent(&self.db, event_id).await {
                Ok(()) => return Ok(()),
                Err(e) if tries < RECORD_TRIES => {
                    tracing::warn!(error = %e, "could not record the delivery; retrying");
                    tokio::time::sleep(backoff.next_delay()).await;
                    tries += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Writes the email, issues the token it carries (if any) and sends
    /// it. Runs only under the claim, so a token is issued only by the
    /// attempt that may send it; and only once its email is written, so a
    /// failure to write revokes no earlier token for nothing.
    async fn compose_and_send(
        &self,
        notice: Notice,
        patient_id: Uuid,
        to: &Patient,
    ) -> Result<(), Failure> {
        let (letter, token) = self
            .write(notice, &to.first_name)
            .map_err(|e| Failure::Transient(format!("rendering the email: {e}")))?;
        if let Some(token) = token {
            let ttl = chrono::Duration::from_std(token.ttl)
                .map_err(|e| Failure::Transient(e.to_string()))?;
            let expires_at = chrono::Utc::now() + ttl;
            store::issue_token(
                &self.db,
                token.kind,
                patient_id,
                &token.value.hash(),
                expires_at,
            )
            .await?;
        }
        self.send_until_delivered(&to.email, &letter).await
    }

    /// The email a notice calls for, and the fresh token in it.
    fn write(&self, notice: Notice, first_name: &str) -> askama::Result<(Letter, Option<Token>)> {
        let base = self.public_base_url.as_str();
        Ok(match notice {
            Notice::Verification => {
                let token = Token::new(TokenKind::EmailVerification, self.ttl.verification);
                let letter = Letter::verification(first_name, base, &token.value, token.ttl)?;
                (letter, Some(token))
            }
            Notice::PasswordReset => {
                let token = Token::new(TokenKind::PasswordReset, self.ttl.password_reset);
                let letter = Letter::password_reset(first_name, base, &token.value, token.ttl)?;
                (letter, Some(token))
            }
            Notice::PasswordChanged { how, at } => {
                (Letter::password_changed(first_name, how, at)?, None)
            }
            Notice::AccountDeactivated { at } => {
                (Letter::account_deactivated(first_name, at)?, None)
            }
            // Sent by SMS (crate::phone), never written as an email.
            Notice::PhoneVerification => {
                return Err(askama::Error::custom("a phone code is not an email"))
            }
            Notice::ProfileChanged { fields, at } => (
                Letter::profile_changed(first_name, &fields.words(), at)?,
                None,
            ),
            // Two emails, written by crate::email_change.
            Notice::EmailChange => {
                return Err(askama::Error::custom(
                    "an email change is written elsewhere",
                ))
            }
        })
    }

    /// Retries SMTP with capped exponential backoff while holding the event;
    /// gives it back to the queue only when shutting down.
    pub(crate) async fn send_until_delivered(
        &self,
        to: &str,
        letter: &Letter,
    ) -> Result<(), Failure> {
        let mut backoff = SMTP_BACKOFF;
        loop {
            match self.mailer.send(to, letter).await {
                Ok(()) => {
                    metrics().emails_sent.inc();
                    return Ok(());
                }
                Err(e) => {
                    metrics().emails_failed.inc();
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "SMTP send failed");
                    if self.shutdown.is_triggered() {
                        return Err(Failure::Transient(
                            "shutting down with SMTP unavailable".into(),
                        ));
                    }
                    self.shutdown.sleep(delay).await;
                }
            }
        }
    }
}

/// A token about to be emailed, and what it is for.
struct Token {
    kind: TokenKind,
    value: VerificationToken,
    ttl: Duration,
}

impl Token {
    fn new(kind: TokenKind, ttl: Duration) -> Self {
        Self {
            kind,
            value: VerificationToken::generate(),
            ttl,
        }
    }
}
