//! `admin patient ...`: an operator deactivates or reactivates a patient's
//! account. The record is kept either way (medical-record retention): only
//! `is_active` changes. Deactivating ends every session of the patient at
//! once, as the patient's own deactivation does.
//!
//! ```text
//! patient deactivate PATIENT_ID   inactive: login 403, every session ended
//! patient reactivate PATIENT_ID   active again: the patient can log in
//! ```

use shared::audit::Action;
use sqlx::PgPool;
use uuid::Uuid;

use crate::command::Done;

pub const USAGE: &str = "patient deactivate PATIENT_ID | patient reactivate PATIENT_ID";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatientCommand {
    Deactivate { id: Uuid },
    Reactivate { id: Uuid },
}

impl PatientCommand {
    /// The command `words` (after `patient`) name, or what is wrong with them.
    pub fn parse(words: &[&str]) -> Result<Self, String> {
        let id = |id: &str| {
            id.parse()
                .map_err(|_| "PATIENT_ID must be a patient's id (a UUID)".to_owned())
        };
        match words {
            ["deactivate", patient] => Ok(Self::Deactivate { id: id(patient)? }),
            ["reactivate", patient] => Ok(Self::Reactivate { id: id(patient)? }),
            _ => Err("unknown patient command".to_owned()),
        }
    }

    pub fn action(self) -> Action {
        match self {
            Self::Deactivate { .. } => Action::AdminPatientDeactivate,
            Self::Reactivate { .. } => Action::AdminPatientReactivate,
        }
    }

    /// The patient the command is about, for its audit rows.
    pub fn patient_id(self) -> Uuid {
        match self {
            Self::Deactivate { id } | Self::Reactivate { id } => id,
        }
    }

    pub async fn run(self, db: &PgPool) -> anyhow::Result<Done> {
        let done = |outcome, report: String| Done {
            outcome,
            report: report + "\n",
        };
        Ok(match self {
            Self::Deactivate { id } => match deactivate(db, id).await? {
                None => done("not_found", "no such patient".into()),
                Some((was_active, ended)) => done(
                    if was_active { "success" } else { "unchanged" },
                    format!(
                        "{} (record kept); {ended} session(s) ended",
                        if was_active {
                            "deactivated"
                        } else {
                            "already deactivated"
                        }
                    ),
                ),
            },
            Self::Reactivate { id } => match reactivate(db, id).await? {
                None => done("not_found", "no such patient".into()),
                Some(true) => done("success", "reactivated".into()),
                Some(false) => done("unchanged", "already active".into()),
            },
        })
    }
}

/// Makes the patient inactive and ends every live session of theirs (and
/// any unused reset link), in one transaction. `None` for an unknown id;
/// otherwise whether it was active, and how many sessions ended.
async fn deactivate(db: &PgPool, id: Uuid) -> sqlx::Result<Option<(bool, u64)>> {
    let mut tx = db.begin().await?;
    // The row locked: a login opening a session waits, then sees it inactive.
    let Some(was_active) = lock_patient(&mut tx, id).await? else {
        return Ok(None);
    };
    sqlx::query("UPDATE patients SET is_active = false WHERE id = $1 AND is_active")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let ended = sqlx::query(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = 'deactivation' \
         WHERE patient_id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // Links still out, and a pending email change, would work again after
    // a reactivation: they end here.
    for table in [
        "password_reset_tokens",
        "email_verification_tokens",
        "email_changes",
    ] {
        sqlx::query(&format!(
            "UPDATE {table} SET revoked_at = now() \
             WHERE patient_id = $1 AND used_at IS NULL AND revoked_at IS NULL"
        ))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Some((was_active, ended)))
}

/// Locks the patient's row; whether it is active, or `None` for an unknown id.
async fn lock_patient(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id: Uuid,
) -> sqlx::Result<Option<bool>> {
    sqlx::query_scalar("SELECT is_active FROM patients WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

/// Makes the patient active again. `None` for an unknown id; otherwise
/// whether it was inactive (and so changed).
async fn reactivate(db: &PgPool, id: Uuid) -> sqlx::Result<Option<bool>> {
    let mut tx = db.begin().await?;
    let Some(was_active) = lock_patient(&mut tx, id).await? else {
        return Ok(None);
    };
    sqlx::query("UPDATE patients SET is_active = true WHERE id = $1 AND NOT is_active")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(!was_active))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_commands_take_one_patient_id() {
        let id = Uuid::new_v4();
        let text = id.to_string();
        assert_eq!(
            PatientCommand::parse(&["deactivate", &text]),
            Ok(PatientCommand::Deactivate { id })
        );
        assert_eq!(
            PatientCommand::parse(&["reactivate", &text]),
            Ok(PatientCommand::Reactivate { id })
        );
        for words in [
            vec![],
            vec!["deactivate"],
            vec!["deactivate", "not-a-uuid"],
            vec!["deactivate", &text, "now"],
            vec!["delete", &text],
        ] {
            assert!(PatientCommand::parse(&words).is_err(), "{words:?}");
        }
    }
}
