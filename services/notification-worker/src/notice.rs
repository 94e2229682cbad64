//! What a patient event asks the worker to send, and to whom it is sent:
//! decided from the event and the patient's row alone, before any claim.

use chrono::{DateTime, Utc};
use shared::{
    domain::EDITABLE_FIELDS,
    messages::{PasswordChange, PatientEvent},
};

use crate::store::{DeliveryKind, Patient};

/// The email one event calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// After a registration or a resend request: a fresh verification link.
    Verification,
    /// After a forgot-password request: a fresh reset link.
    PasswordReset,
    /// After a password reset or change: a security notice.
    PasswordChanged {
        how: PasswordChange,
        at: DateTime<Utc>,
    },
    /// After the patient deactivated their account: a security notice.
    AccountDeactivated { at: DateTime<Utc> },
    /// After a request for a phone verification code: a text message, not
    /// an email (see [`crate::phone`]); the event's id is the code's row.
    PhoneVerification,
    /// After an email change request: a link to the new address and a
    /// notice to the current one (see [`crate::email_change`]); the event's
    /// id is the pending change's row.
    EmailChange,
    /// After the patient changed their profile: a security notice naming
    /// the fields changed.
    ProfileChanged { fields: FieldSet, at: DateTime<Utc> },
}

/// Which of the profile's editable fields (by their place in
/// `EDITABLE_FIELDS`); names outside it are never kept, so never written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FieldSet(u16);

impl FieldSet {
    pub fn of<S: AsRef<str>>(names: &[S]) -> Self {
        Self(
            EDITABLE_FIELDS
                .iter()
                .enumerate()
                .filter(|(_, f)| names.iter().any(|n| n.as_ref() == **f))
                .fold(0, |bits, (i, _)| bits | (1 << i)),
        )
    }

    /// The fields in words, in the profile's order: "address, medical history".
    pub fn words(self) -> String {
        EDITABLE_FIELDS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, f)| f.replace('_', " "))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Why nothing is sent; worded for logs, so without PHI.
pub type Skip = &'static str;

impl Notice {
    pub fn of(event: &PatientEvent) -> Self {
        match event {
            PatientEvent::Created(_) | PatientEvent::VerificationRequested(_) => Self::Verification,
            PatientEvent::PasswordResetRequested(_) => Self::PasswordReset,
            PatientEvent::PasswordChanged(e) => Self::PasswordChanged {
                how: e.how,
                at: e.changed_at,
            },
            PatientEvent::AccountDeactivated(e) => Self::AccountDeactivated {
                at: e.deactivated_at,
            },
            PatientEvent::PhoneVerificationRequested(_) => Self::PhoneVerification,
            PatientEvent::EmailChangeRequested(_) => Self::EmailChange,
            PatientEvent::ProfileChanged(e) => Self::ProfileChanged {
                fields: FieldSet::of(&e.fields),
                at: e.changed_at,
            },
        }
    }

    pub fn kind(self) -> DeliveryKind {
        match self {
            Self::Verification => DeliveryKind::EmailVerification,
            Self::PasswordReset => DeliveryKind::PasswordReset,
            Self::PasswordChanged { .. } => DeliveryKind::PasswordChanged,
            Self::AccountDeactivated { .. } => DeliveryKind::AccountDeactivated,
            Self::PhoneVerification => DeliveryKind::PhoneVerification,
            Self::EmailChange => DeliveryKind::EmailChange,
            Self::ProfileChanged { .. } => DeliveryKind::ProfileChanged,
        }
    }

    /// Whether this patient gets the email. A verified address needs no
    /// verification; an inactive account gets no reset link. A password
    /// change and a deactivation (whose account is inactive by then) are
    /// always told: those notices are for security.
    pub fn skip_for(self, patient: &Patient) -> Option<Skip> {
        match self {
            Self::Verification if patient.email_verified => Some("email already verified"),
            Self::PasswordReset | Self::PhoneVerification | Self::EmailChange
                if !patient.is_active =>
            {
                Some("account inactive")
            }
            _ => None,
        }
    }

    /// An unknown patient is a broken event, except for a reset: the
    /// account may be gone by the time the request is read.
    pub fn skip_unknown_patient(self) -> Option<Skip> {
        (self == Self::PasswordReset).then_some("no such patient")
    }
}

#[cfg(test)]
mod tests {
    use shared::messages::{AccountDeactivatedV1, PasswordChangedV1, VerificationRequestedV1};
    use uuid::Uuid;

    use super::*;

    fn patient(email_verified: bool, is_active: bool) -> Patient {
        Patient {
            email: "jane@example.com".into(),
            first_name: "Jane".into(),
            email_verified,
            is_active,
        }
    }

    fn changed(how: PasswordChange) -> Notice {
        Notice::of(&PatientEvent::PasswordChanged(PasswordChangedV1 {
            event_id: Uuid::nil(),
            patient_id: Uuid::nil(),
            how,
            changed_at: DateTime::<Utc>::UNIX_EPOCH,
        }))
    }

    fn deactivated() -> Notice {
        Notice::of(&PatientEvent::AccountDeactivated(AccountDeactivatedV1 {
            event_id: Uuid::nil(),
            patient_id: Uuid::nil(),
            deactivated_at: DateTime::<Utc>::UNIX_EPOCH,
        }))
    }

    #[test]
    fn each_event_calls_for_its_own_kind_of_email() {
        let request = VerificationRequestedV1 {
            event_id: Uuid::nil(),
            patient_id: Uuid::nil(),
            requested_at: DateTime::<Utc>::UNIX_EPOCH,
        };
        let resend = Notice::of(&PatientEvent::VerificationRequested(request.clone()));
        let reset = Notice::of(&PatientEvent::PasswordResetRequested(request));
        assert_eq!(resend.kind().as_str(), "email_verification");
        assert_eq!(reset.kind().as_str(), "password_reset");
        assert_eq!(
            changed(PasswordChange::Reset).kind().as_str(),
            "password_changed"
        );
        assert_eq!(deactivated().kind().as_str(), "account_deactivated");
        let phone = Notice::of(&PatientEvent::PhoneVerificationRequested(
            VerificationRequestedV1 {
                event_id: Uuid::nil(),
                patient_id: Uuid::nil(),
                requested_at: DateTime::<Utc>::UNIX_EPOCH,
            },
        ));
        assert_eq!(phone.kind().as_str(), "phone_verification");
        let change = Notice::of(&PatientEvent::EmailChangeRequested(
            VerificationRequestedV1 {
                event_id: Uuid::nil(),
                patient_id: Uuid::nil(),
                requested_at: DateTime::<Utc>::UNIX_EPOCH,
            },
        ));
        assert_eq!(change.kind().as_str(), "email_change");
    }

    #[test]
    fn who_gets_which_email() {
        let notices = [
            Notice::Verification,
            Notice::PasswordReset,
            changed(PasswordChange::Reset),
            changed(PasswordChange::Changed),
            deactivated(),
            Notice::PhoneVerification,
            Notice::EmailChange,
        ];
        // (verified, active) → is each notice sent?
        let table = [
            ((false, true), [true, true, true, true, true, true, true]),
            ((true, true), [false, true, true, true, true, true, true]),
            (
                (false, false),
                [true, false, true, true, true, false, false],
            ),
            (
                (true, false),
                [false, false, true, true, true, false, false],
            ),
        ];
        for ((verified, active), sent) in table {
            for (notice, sent) in notices.iter().zip(sent) {
                assert_eq!(
                    notice.skip_for(&patient(verified, active)).is_none(),
                    sent,
                    "{notice:?} to verified={verified} active={active}"
                );
            }
        }
    }

    #[test]
    fn only_a_reset_for_an_unknown_patient_is_skipped_rather_than_refused() {
        assert!(Notice::PasswordReset.skip_unknown_patient().is_some());
        assert!(Notice::Verification.skip_unknown_patient().is_none());
        assert!(changed(PasswordChange::Changed)
            .skip_unknown_patient()
            .is_none());
        assert!(deactivated().skip_unknown_patient().is_none());
    }

    #[test]
    fn a_profile_notice_names_only_known_fields_in_the_profiles_order() {
        let cases: [(&[&str], &str); 4] = [
            (&[], ""),
            (&["address"], "address"),
            (
                &["insurance_info", "bogus", "first_name"],
                "first name, insurance info",
            ),
            (
                &["<script>", "phone_number", "phone_number"],
                "phone number",
            ),
        ];
        for (names, want) in cases {
            assert_eq!(FieldSet::of(names).words(), want, "{names:?}");
        }
    }
}
