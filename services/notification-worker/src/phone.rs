//! Phone verification codes: drawn here, under the event's delivery claim,
//! so that only the attempt that may send a code ever draws one. The
//! digits exist only in this process and in the text message; Postgres
//! keeps their keyed hash. A code sent again (the first send's outcome was
//! lost) is drawn afresh, so only the latest text's code works.

use std::time::Duration;

use shared::{
    crypto::Keyring,
    metrics::metrics,
    phone_code::{self, mac_input},
    retry::Backoff,
    shutdown::Shutdown,
    worker::Failure,
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    mailer::Mailer,
    sms::{SmsError, SmsTransport},
};

/// The SMS provider is retried from half a second up to a minute apart.
const SMS_BACKOFF: Backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));

pub struct PhoneCodes {
    pub transport: SmsTransport,
    pub keyring: Keyring,
    /// `PHONE_CODE_TTL`, default 10 minutes.
    pub ttl: Duration,
}

/// Draws a code for row `code_id`, stores its keyed hash and expiry (its
/// checks start again), and returns the number to text and the code; `None`
/// when the row is no longer live (used, or replaced by a newer request).
async fn issue(
    db: &PgPool,
    keyring: &Keyring,
    code_id: Uuid,
    ttl: Duration,
) -> sqlx::Result<Option<(String, String)>> {
    let code = phone_code::generate();
    let (kid, hash) = keyring.mac(&mac_input(code_id, &code));
    let number: Option<String> = sqlx::query_scalar(
        "UPDATE phone_verification_codes \
         SET code_kid = $2, code_hash = $3, expires_at = now() + make_interval(secs => $4), \
             checks = 0 \
         WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL \
         RETURNING phone_number",
    )
    .bind(code_id)
    .bind(kid)
    .bind(hash.as_slice())
    .bind(ttl.as_secs_f64())
    .fetch_optional(db)
    .await?;
    Ok(number.map(|n| (n, code)))
}

/// Whether the code of row `code_id` can still be used: worth sending.
async fn still_live(db: &PgPool, code_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM phone_verification_codes \
                        WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL \
                          AND expires_at > now())",
    )
    .bind(code_id)
    .fetch_one(db)
    .await
}

impl PhoneCodes {
    /// Draws and texts the code of row `code_id`, retrying the provider
    /// with backoff while the event is held and the code can still be used
    /// (an expired or replaced code is not worth a text); a message the
    /// provider refuses outright is dead-lettered (kept, never dropped).
    pub async fn send(
        &self,
        db: &PgPool,
        mailer: &Mailer,
        shutdown: &Shutdown,
        code_id: Uuid,
    ) -> Result<(), Failure> {
        let Some((number, code)) = issue(db, &self.keyring, code_id, self.ttl).await? else {
            tracing::info!("phone code replaced or used: nothing to send");
            return Ok(());
        };
        let minutes = self.ttl.as_secs().div_ceil(60).max(1);
        let text = phone_code::sms_text(&code, minutes);
        let mut backoff = SMS_BACKOFF;
        loop {
            match self.transport.send(mailer, &number, &text).await {
                Ok(()) => {
                    metrics().sms_sent.inc();
                    tracing::info!(transport = self.transport.name(), "phone code sent");
                    return Ok(());
                }
                Err(SmsError::Refused(status)) => {
                    metrics().sms_failed.inc();
                    tracing::warn!(status, "the SMS provider refused the message");
                    return Err(Failure::Poison("the SMS provider refused the message"));
                }
                Err(e) => {
                    metrics().sms_failed.inc();
                    if !still_live(db, code_id).await? {
                        tracing::info!("phone code expired or replaced before it could be sent");
                        return Ok(());
                    }
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "SMS send failed");
                    if shutdown.is_triggered() {
                        return Err(Failure::Transient(
                            "shutting down with the SMS transport unavailable".into(),
                        ));
                    }
                    shutdown.sleep(delay).await;
                }
            }
        }
    }
}
