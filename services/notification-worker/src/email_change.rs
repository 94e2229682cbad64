//! The two emails of an email change, for one `email_change.requested`
//! event whose id is the pending change's row: first a notice to the
//! current address (under a delivery claim of its own, so a redelivery
//! does not send it twice), then the link to the new address, whose token
//! is drawn here, under the event's claim, and kept only as its SHA-256.
//! A change revoked by a newer request, or already used, sends nothing.

use std::time::Duration;

use askama::Template;
use chrono::{DateTime, Utc};
use shared::{token::VerificationToken, worker::Failure};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    handler::Notifier,
    letters::Letter,
    store::{self, Claim, DeliveryKind, Patient},
    wording,
};

pub const EMAIL_CHANGE_SUBJECT: &str = "Confirm your new email address";
pub const EMAIL_CHANGE_NOTICE_SUBJECT: &str = "A change of your email address was requested";

/// The notice's delivery id: derived from the event's, so every
/// redelivery of the event finds the same claim.
fn notice_id(change_id: Uuid) -> Uuid {
    Uuid::new_v5(&change_id, b"email_change.notice")
}

/// A pending change still live (neither used nor revoked): the new
/// address and when it was asked for.
async fn pending(db: &PgPool, change_id: Uuid) -> sqlx::Result<Option<(String, DateTime<Utc>)>> {
    sqlx::query_as(
        "SELECT new_email, requested_at FROM email_changes \
         WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(change_id)
    .fetch_optional(db)
    .await
}

/// Stores a fresh token's hash and expiry on the change, if it is still
/// live (a link sent again replaces the earlier one): the new address.
async fn issue_token(
    db: &PgPool,
    change_id: Uuid,
    hash: &[u8; 32],
    ttl: Duration,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "UPDATE email_changes SET token_hash = $2, expires_at = now() + make_interval(secs => $3) \
         WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL \
         RETURNING new_email",
    )
    .bind(change_id)
    .bind(hash.as_slice())
    .bind(ttl.as_secs_f64())
    .fetch_optional(db)
    .await
}

impl Notifier {
    /// Sends the notice to `to` (the current address), then the link to
    /// the new one. Runs under the event's claim.
    pub(crate) async fn send_email_change(
        &self,
        change_id: Uuid,
        patient_id: Uuid,
        to: &Patient,
    ) -> Result<(), Failure> {
        let Some((new_email, requested_at)) = pending(&self.db, change_id).await? else {
            tracing::info!("email change used or replaced: nothing to send");
            return Ok(());
        };
        self.send_change_notice(change_id, patient_id, to, &new_email, requested_at)
            .await?;
        let token = VerificationToken::generate();
        let ttl = self.ttl.verification;
        // Nobody has shown yet that the new address is the patient's: a
        // mistyped one must not learn their name (or that they are one).
        let letter = Letter::email_change("there", &self.public_base_url, &token, ttl)
            .map_err(|e| Failure::Transient(format!("rendering the email: {e}")))?;
        let Some(new_email) = issue_token(&self.db, change_id, &token.hash(), ttl).await? else {
            tracing::info!("email change used or replaced: no link to send");
            return Ok(());
        };
        self.send_until_delivered(&new_email, &letter).await?;
        tracing::info!(kind = DeliveryKind::EmailChange.as_str(), "email sent");
        Ok(())
    }

    /// The notice, once per change: its own claim says whether it was sent.
    async fn send_change_notice(
        &self,
        change_id: Uuid,
        patient_id: Uuid,
        to: &Patient,
        new_email: &str,
        requested_at: DateTime<Utc>,
    ) -> Result<(), Failure> {
        let id = notice_id(change_id);
        let kind = DeliveryKind::EmailChangeNotice;
        match store::claim(&self.db, id, patient_id, kind, self.holder).await? {
            Claim::Mine => {}
            Claim::Sent => return Ok(()),
            Claim::Busy(lease_left) => {
                return Err(Failure::Busy {
                    reason: "another worker holds this notice",
                    wait: lease_left + Duration::from_millis(250),
                })
            }
        }
        let letter = Letter::email_change_notice(&to.first_name, &masked(new_email), requested_at)
            .map_err(|e| Failure::Transient(format!("rendering the email: {e}")))?;
        if let Err(e) = self.send_until_delivered(&to.email, &letter).await {
            let _ = store::release(&self.db, id, self.holder).await;
            return Err(e);
        }
        tracing::info!(kind = kind.as_str(), "email sent");
        self.record_sent(id).await
    }
}

/// An address as the notice shows it: the first character of the mailbox
/// and the domain, `j***@example.com`, enough to recognise one's own.
pub fn masked(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

#[derive(Template)]
#[template(path = "email_change.txt")]
struct EmailChangeText<'a> {
    first_name: &'a str,
    link: &'a str,
    expires_in: &'a str,
}

#[derive(Template)]
#[template(path = "email_change.html")]
struct EmailChangeHtml<'a> {
    subject: &'a str,
    first_name: &'a str,
    link: &'a str,
    expires_in: &'a str,
}

#[derive(Template)]
#[template(path = "email_change_notice.txt")]
struct EmailChangeNoticeText<'a> {
    first_name: &'a str,
    new_address: &'a str,
    when: &'a str,
}

#[derive(Template)]
#[template(path = "email_change_notice.html")]
struct EmailChangeNoticeHtml<'a> {
    subject: &'a str,
    first_name: &'a str,
    new_address: &'a str,
    when: &'a str,
}

impl Letter {
    /// "Confirm your new email address", to the new address: the link to
    /// `/confirm-email-change`.
    pub fn email_change(
        first_name: &str,
        public_base_url: &str,
        token: &VerificationToken,
        ttl: Duration,
    ) -> askama::Result<Self> {
        let link = format!(
            "{public_base_url}/confirm-email-change?token={}",
            token.expose()
        );
        let expires_in = wording::duration(ttl);
        Ok(Self {
            subject: EMAIL_CHANGE_SUBJECT,
            text: EmailChangeText {
                first_name,
                link: &link,
                expires_in: &expires_in,
            }
            .render()?,
            html: EmailChangeHtml {
                subject: EMAIL_CHANGE_SUBJECT,
                first_name,
                link: &link,
                expires_in: &expires_in,
            }
            .render()?,
        })
    }

    /// "A change of your email address was requested", to the current
    /// address: the new one masked, and what to do if it was not the
    /// patient. No link: nothing in it should be clicked.
    pub fn email_change_notice(
        first_name: &str,
        new_address: &str,
        at: DateTime<Utc>,
    ) -> askama::Result<Self> {
        let when = wording::moment(at);
        Ok(Self {
            subject: EMAIL_CHANGE_NOTICE_SUBJECT,
            text: EmailChangeNoticeText {
                first_name,
                new_address,
                when: &when,
            }
            .render()?,
            html: EmailChangeNoticeHtml {
                subject: EMAIL_CHANGE_NOTICE_SUBJECT,
                first_name,
                new_address,
                when: &when,
            }
            .render()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_shows_the_new_address_masked() {
        for (address, want) in [
            ("jane.new@example.com", "j***@example.com"),
            ("j@example.com", "j***@example.com"),
            ("élise@example.org", "é***@example.org"),
            ("not-an-address", "***"),
        ] {
            assert_eq!(masked(address), want, "{address}");
        }
    }

    #[test]
    fn the_link_goes_to_the_new_address_and_the_notice_holds_none() {
        let token = VerificationToken::generate();
        let base = "https://clinic.example";
        let letter = Letter::email_change("<b>Jane</b>", base, &token, Duration::from_secs(86_400))
            .expect("renders");
        let link = format!("{base}/confirm-email-change?token={}", token.expose());
        assert_eq!(letter.subject, EMAIL_CHANGE_SUBJECT);
        assert!(letter.text.contains(&link));
        assert!(letter.html.contains(&format!("href=\"{link}\"")));
        assert!(letter.text.contains("This link expires in 24 hours"));
        assert!(letter.html.contains("&#60;b&#62;Jane") || letter.html.contains("&lt;b&gt;Jane"));

        let at = DateTime::parse_from_rfc3339("2026-12-01T14:03:00Z")
            .expect("a date")
            .to_utc();
        let notice = Letter::email_change_notice("Jane", &masked("jane.new@example.com"), at)
            .expect("renders");
        assert_eq!(notice.subject, EMAIL_CHANGE_NOTICE_SUBJECT);
        for part in [&notice.text, &notice.html] {
            assert!(part.contains("j***@example.com"), "{part}");
            assert!(!part.contains("jane.new"), "{part}");
            assert!(part.contains("1 December 2026 at 14:03 UTC"), "{part}");
            assert!(part.contains("Forgot your password?"), "{part}");
            assert!(!part.contains("token="), "{part}");
        }
    }
}
