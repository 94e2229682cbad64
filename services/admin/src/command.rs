//! The commands `admin` knows. Arguments are parsed before anything runs
//! (a usage error touches nothing and is not a command); each command has
//! its audit action; running one yields its outcome word and a report that
//! `main` prints once that outcome is in the audit trail.

use std::fmt::Write as _;

use shared::{audit::Action, broker::Broker, partner};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{config::AdminConfig, dlq, patient::PatientCommand, reseal, webhook::WebhookCommand};

pub const USAGE: &str = "usage: admin partner create NAME | partner list | partner revoke KEY_ID \
                         | dlq list QUEUE [N] | dlq replay QUEUE [N] | reseal-phi | webhook ... \
                         | patient deactivate PATIENT_ID | patient reactivate PATIENT_ID";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    PartnerCreate {
        name: String,
    },
    PartnerList,
    PartnerRevoke {
        key_id: Uuid,
    },
    DlqList {
        queue: String,
        limit: usize,
    },
    DlqReplay {
        queue: String,
        limit: usize,
    },
    ResealPhi,
    /// `admin webhook ...` (see [`crate::webhook`]).
    Webhook(WebhookCommand),
    /// `admin patient ...` (see [`crate::patient`]).
    Patient(PatientCommand),
}

/// What a command did: its audit outcome and what to show the operator.
pub struct Done {
    pub outcome: &'static str,
    pub report: String,
}

impl Command {
    /// The command `words` name, or what is wrong with them.
    pub fn parse(words: &[&str]) -> Result<Self, String> {
        let limit = |rest: &[&str]| {
            rest.first()
                .map_or(Ok(100), |n| n.parse())
                .map_err(|_| "N must be a number".to_owned())
        };
        match words {
            ["partner", "create", name] => Ok(Self::PartnerCreate {
                name: (*name).to_owned(),
            }),
            ["partner", "list"] => Ok(Self::PartnerList),
            ["partner", "revoke", id] => id
                .parse()
                .map(|key_id| Self::PartnerRevoke { key_id })
                .map_err(|_| "KEY_ID must be a key id from `admin partner list`".to_owned()),
            ["dlq", "list", queue, rest @ ..] if rest.len() <= 1 => Ok(Self::DlqList {
                queue: (*queue).to_owned(),
                limit: limit(rest)?,
            }),
            ["dlq", "replay", queue, rest @ ..] if rest.len() <= 1 => Ok(Self::DlqReplay {
                queue: (*queue).to_owned(),
                limit: limit(rest)?,
            }),
            ["reseal-phi"] => Ok(Self::ResealPhi),
            ["webhook", rest @ ..] => WebhookCommand::parse(rest)
                .map(Self::Webhook)
                .map_err(|e| format!("{e}\nusage: admin {}", crate::webhook::USAGE)),
            ["patient", rest @ ..] => PatientCommand::parse(rest)
                .map(Self::Patient)
                .map_err(|e| format!("{e}\nusage: admin {}", crate::patient::USAGE)),
            _ => Err(USAGE.to_owned()),
        }
    }

    /// The audit trail's name for this command.
    pub fn action(&self) -> Action {
        match self {
            Self::PartnerCreate { .. } => Action::AdminPartnerCreate,
            Self::PartnerList => Action::AdminPartnerList,
            Self::PartnerRevoke { .. } => Action::AdminPartnerRevoke,
            Self::DlqList { .. } => Action::AdminDlqList,
            Self::DlqReplay { .. } => Action::AdminDlqReplay,
            Self::ResealPhi => Action::AdminResealPhi,
            Self::Webhook(command) => command.action(),
            Self::Patient(command) => command.action(),
        }
    }

    /// The patient the command is about, if any: kept in its audit rows.
    pub fn patient_id(&self) -> Option<Uuid> {
        match self {
            Self::Patient(command) => Some(command.patient_id()),
            _ => None,
        }
    }

    pub async fn run(&self, admin: &AdminConfig, db: &PgPool) -> anyhow::Result<Done> {
        let config = &admin.common;
        let mut report = String::new();
        let mut outcome = "success";
        match self {
            Self::PartnerCreate { name } => {
                let key = partner::create_key(db, name).await?;
                writeln!(
                    report,
                    "partner: {name}\nkey id: {}\napi key (shown once, store it now): {}",
                    key.id, key.key
                )?;
            }
            Self::PartnerList => {
                for k in partner::list_keys(db).await? {
                    let revoked = k
                        .revoked_at
                        .map_or_else(|| "active".to_owned(), |t| format!("revoked {t}"));
                    writeln!(
                        report,
                        "{}\t{}\t{}…\t{}\t{revoked}",
                        k.id, k.partner, k.prefix, k.created_at
                    )?;
                }
            }
            Self::PartnerRevoke { key_id } => {
                if partner::revoke_key(db, *key_id).await? {
                    writeln!(report, "revoked")?;
                } else {
                    outcome = "not_found";
                    writeln!(report, "no such active key")?;
                }
            }
            Self::DlqList { queue, limit } => {
                let broker = Broker::new(&config.amqp, config.topology.clone(), 2)?;
                let channel = broker.connection().await?.create_channel().await?;
                let dead = dlq::list(&channel, queue, *limit).await?;
                for d in &dead {
                    writeln!(
                        report,
                        "{}\t{}\trequest {}\t{}\t{} bytes",
                        d.message_id.as_deref().unwrap_or("-"),
                        d.kind.as_deref().unwrap_or("-"),
                        d.request_id.as_deref().unwrap_or("-"),
                        d.reason.as_deref().unwrap_or("-"),
                        d.bytes
                    )?;
                }
                writeln!(report, "{} dead-lettered message(s) shown", dead.len())?;
            }
            Self::DlqReplay { queue, limit } => {
                let broker = Broker::new(&config.amqp, config.topology.clone(), 2)?;
                let channel = broker.connection().await?.create_channel().await?;
                let n = dlq::replay(&channel, &broker, db, queue, *limit).await?;
                writeln!(report, "replayed {n} message(s)")?;
            }
            Self::Webhook(command) => return command.run(admin, db).await,
            Self::Patient(command) => return command.run(db).await,
            Self::ResealPhi => {
                let count = reseal::reseal_patients(db, &config.keyring).await?;
                writeln!(report, "re-sealed {count} patient(s) under the current key")?;
                let count = reseal::reseal_webhook_secrets(db, &config.keyring).await?;
                writeln!(
                    report,
                    "re-sealed {count} webhook endpoint secret(s) under the current key"
                )?;
            }
        }
        Ok(Done { outcome, report })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_is_parsed_with_its_arguments() {
        let key_id = Uuid::new_v4();
        let key_id_text = key_id.to_string();
        let cases = [
            (
                vec!["partner", "create", "Acme"],
                Ok(Command::PartnerCreate {
                    name: "Acme".into(),
                }),
            ),
            (vec!["partner", "list"], Ok(Command::PartnerList)),
            (
                vec!["partner", "revoke", &key_id_text],
                Ok(Command::PartnerRevoke { key_id }),
            ),
            (
                vec!["dlq", "list", "q"],
                Ok(Command::DlqList {
                    queue: "q".into(),
                    limit: 100,
                }),
            ),
            (
                vec!["dlq", "replay", "q", "5"],
                Ok(Command::DlqReplay {
                    queue: "q".into(),
                    limit: 5,
                }),
            ),
            (vec!["reseal-phi"], Ok(Command::ResealPhi)),
        ];
        for (words, want) in cases {
            assert_eq!(Command::parse(&words), want, "{words:?}");
        }
    }

    #[test]
    fn bad_arguments_are_refused_before_anything_runs() {
        for words in [
            vec![],
            vec!["partner"],
            vec!["partner", "revoke", "not-a-uuid"],
            vec!["dlq", "list", "q", "many"],
            vec!["dlq", "list", "q", "1", "2"],
            vec!["reseal-phi", "now"],
        ] {
            assert!(Command::parse(&words).is_err(), "{words:?}");
        }
    }

    #[test]
    fn each_command_has_its_own_audit_action() {
        let commands = [
            Command::PartnerCreate { name: "a".into() },
            Command::PartnerList,
            Command::PartnerRevoke {
                key_id: Uuid::nil(),
            },
            Command::DlqList {
                queue: "q".into(),
                limit: 1,
            },
            Command::DlqReplay {
                queue: "q".into(),
                limit: 1,
            },
            Command::ResealPhi,
            Command::Patient(PatientCommand::Deactivate { id: Uuid::nil() }),
            Command::Patient(PatientCommand::Reactivate { id: Uuid::nil() }),
        ];
        let actions: Vec<Action> = commands.iter().map(Command::action).collect();
        for (i, action) in actions.iter().enumerate() {
            assert!(!actions[..i].contains(action), "{action:?} twice");
        }
    }
}
