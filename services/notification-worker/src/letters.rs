//! The emails themselves: for each kind a subject, and the same words as
//! plain text and as HTML, rendered from `templates/` (`.html` escaped,
//! `.txt` not). Links are built here from `PUBLIC_BASE_URL` and the token
//! alone: nothing an event carries ever becomes part of a URL.

use std::time::Duration;

use askama::Template;
use chrono::{DateTime, Utc};
use shared::{messages::PasswordChange, token::VerificationToken};

use crate::wording;

/// One email, ready to send. No `Debug`: its bodies hold the token.
pub struct Letter {
    pub subject: &'static str,
    pub text: String,
    pub html: String,
}

pub const VERIFICATION_SUBJECT: &str = "Verify your email address";
pub const PASSWORD_RESET_SUBJECT: &str = "Reset your password";
pub const PASSWORD_CHANGED_SUBJECT: &str = "Your password was changed";
pub const ACCOUNT_DEACTIVATED_SUBJECT: &str = "Your account was deactivated";
pub const PROFILE_CHANGED_SUBJECT: &str = "Your profile was changed";

#[derive(Template)]
#[template(path = "verification.txt")]
struct VerificationText<'a> {
    first_name: &'a str,
    link: &'a str,
    code: &'a str,
    expires_in: &'a str,
}

#[derive(Template)]
#[template(path = "verification.html")]
struct VerificationHtml<'a> {
    subject: &'a str,
    first_name: &'a str,
    link: &'a str,
    code: &'a str,
    expires_in: &'a str,
}

#[derive(Template)]
#[template(path = "password_reset.txt")]
struct PasswordResetText<'a> {
    first_name: &'a str,
    link: &'a str,
    expires_in: &'a str,
}

#[derive(Template)]
#[template(path = "password_reset.html")]
struct PasswordResetHtml<'a> {
    subject: &'a str,
    first_name: &'a str,
    link: &'a str,
    expires_in: &'a str,
}

#[derive(Template)]
#[template(path = "password_changed.txt")]
struct PasswordChangedText<'a> {
    first_name: &'a str,
    by_reset: bool,
    when: &'a str,
}

#[derive(Template)]
#[template(path = "password_changed.html")]
struct PasswordChangedHtml<'a> {
    subject: &'a str,
    first_name: &'a str,
    by_reset: bool,
    when: &'a str,
}

#[derive(Template)]
#[template(path = "account_deactivated.txt")]
struct AccountDeactivatedText<'a> {
    first_name: &'a str,
    when: &'a str,
}

#[derive(Template)]
#[template(path = "account_deactivated.html")]
struct AccountDeactivatedHtml<'a> {
    subject: &'a str,
    first_name: &'a str,
    when: &'a str,
}

#[derive(Template)]
#[template(path = "profile_changed.txt")]
struct ProfileChangedText<'a> {
    first_name: &'a str,
    fields: &'a str,
    when: &'a str,
}

#[derive(Template)]
#[template(path = "profile_changed.html")]
struct ProfileChangedHtml<'a> {
    subject: &'a str,
    first_name: &'a str,
    fields: &'a str,
    when: &'a str,
}

impl Letter {
    /// "Verify your email address": the link to `/verify-email`, and the
    /// token again as a code to type.
    pub fn verification(
        first_name: &str,
        public_base_url: &str,
        token: &VerificationToken,
        ttl: Duration,
    ) -> askama::Result<Self> {
        let link = format!("{public_base_url}/verify-email?token={}", token.expose());
        let expires_in = wording::duration(ttl);
        let (code, expires_in) = (token.expose(), expires_in.as_str());
        Ok(Self {
            subject: VERIFICATION_SUBJECT,
            text: VerificationText {
                first_name,
                link: &link,
                code,
                expires_in,
            }
            .render()?,
            html: VerificationHtml {
                subject: VERIFICATION_SUBJECT,
                first_name,
                link: &link,
                code,
                expires_in,
            }
            .render()?,
        })
    }

    /// "Reset your password": the link to `/reset-password`.
    pub fn password_reset(
        first_name: &str,
        public_base_url: &str,
        token: &VerificationToken,
        ttl: Duration,
    ) -> askama::Result<Self> {
        let link = format!("{public_base_url}/reset-password?token={}", token.expose());
        let expires_in = wording::duration(ttl);
        Ok(Self {
            subject: PASSWORD_RESET_SUBJECT,
            text: PasswordResetText {
                first_name,
                link: &link,
                expires_in: &expires_in,
            }
            .render()?,
            html: PasswordResetHtml {
                subject: PASSWORD_RESET_SUBJECT,
                first_name,
                link: &link,
                expires_in: &expires_in,
            }
            .render()?,
        })
    }

    /// "Your password was changed": a security notice, with what to do if
    /// it was not the patient. No link: nothing in it should be clicked.
    pub fn password_changed(
        first_name: &str,
        how: PasswordChange,
        at: DateTime<Utc>,
    ) -> askama::Result<Self> {
        let by_reset = how == PasswordChange::Reset;
        let when = wording::moment(at);
        Ok(Self {
            subject: PASSWORD_CHANGED_SUBJECT,
            text: PasswordChangedText {
                first_name,
                by_reset,
                when: &when,
            }
            .render()?,
            html: PasswordChangedHtml {
                subject: PASSWORD_CHANGED_SUBJECT,
                first_name,
                by_reset,
                when: &when,
            }
            .render()?,
        })
    }

    /// "Your profile was changed": a security notice naming the fields
    /// (never their values), with what to do if it was not the patient.
    pub fn profile_changed(
        first_name: &str,
        fields: &str,
        at: DateTime<Utc>,
    ) -> askama::Result<Self> {
        let when = wording::moment(at);
        Ok(Self {
            subject: PROFILE_CHANGED_SUBJECT,
            text: ProfileChangedText {
                first_name,
                fields,
                when: &when,
            }
            .render()?,
            html: ProfileChangedHtml {
                subject: PROFILE_CHANGED_SUBJECT,
                first_name,
                fields,
                when: &when,
            }
            .render()?,
        })
    }

    /// "Your account was deactivated": a security notice, with what to do
    /// if it was not the patient. No link: nothing in it should be clicked.
    pub fn account_deactivated(first_name: &str, at: DateTime<Utc>) -> askama::Result<Self> {
        let when = wording::moment(at);
        Ok(Self {
            subject: ACCOUNT_DEACTIVATED_SUBJECT,
            text: AccountDeactivatedText {
                first_name,
                when: &when,
            }
            .render()?,
            html: AccountDeactivatedHtml {
                subject: ACCOUNT_DEACTIVATED_SUBJECT,
                first_name,
                when: &when,
            }
            .render()?,
        })
    }
}

#[cfg(test)]
mod tests;
