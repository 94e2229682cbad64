//! `admin webhook ...`: a partner's webhook endpoints and deliveries, as
//! the partner API has them (the same rules and the same SQL,
//! `shared::webhook_endpoints`), for any partner.
//!
//! ```text
//! webhook create --partner P --url URL --events a,b   prints the id and the secret, once
//! webhook list [--partner P]                          live endpoints, never a secret
//! webhook delete ENDPOINT_ID                          soft delete
//! webhook rotate-secret ENDPOINT_ID                   prints the new secret, once
//! webhook deliveries [--status S] [--partner P] [--limit N]   newest first (N: 100)
//! webhook retry DELIVERY_ID                           a failed delivery, once more
//! ```
//! P is a partner's id or name.

mod run;

use shared::{
    audit::Action,
    webhook_endpoints::{DeliveryStatus, EndpointUrl, EventTypes},
};
use uuid::Uuid;

pub const USAGE: &str =
    "webhook create --partner P --url URL --events a,b | webhook list [--partner P] \
     | webhook delete ENDPOINT_ID | webhook rotate-secret ENDPOINT_ID \
     | webhook deliveries [--status pending|delivered|failed] [--partner P] [--limit N] \
     | webhook retry DELIVERY_ID";

/// A partner as the operator names it: by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerRef(String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookCommand {
    Create {
        partner: PartnerRef,
        url: EndpointUrl,
        events: EventTypes,
    },
    List {
        partner: Option<PartnerRef>,
    },
    Delete {
        id: Uuid,
    },
    RotateSecret {
        id: Uuid,
    },
    Deliveries {
        status: Option<DeliveryStatus>,
        partner: Option<PartnerRef>,
        limit: u32,
    },
    Retry {
        delivery_id: Uuid,
    },
}

/// `--name value` (or `--name=value`) pairs, each of `allowed` at most once.
fn flags<'a>(mut words: &[&'a str], allowed: &[&str]) -> Result<Vec<(&'a str, &'a str)>, String> {
    let mut found: Vec<(&str, &str)> = Vec::new();
    while let [word, rest @ ..] = words {
        let name = word
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected {word:?}"))?;
        let (name, value, rest) = match name.split_once('=') {
            Some((name, value)) => (name, value, rest),
            None => match rest {
                [value, rest @ ..] => (name, *value, rest),
                [] => return Err(format!("--{name} needs a value")),
            },
        };
        if !allowed.contains(&name) || found.iter().any(|(n, _)| *n == name) {
            return Err(format!("--{name} is not expected here"));
        }
        found.push((name, value));
        words = rest;
    }
    Ok(found)
}

fn flag<'a>(found: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    found.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fn id(raw: &str, what: &str) -> Result<Uuid, String> {
    raw.parse()
        .map_err(|_| format!("{what} must be an id from `admin webhook list` or `deliveries`"))
}

impl WebhookCommand {
    /// The command the words after `webhook` name, or what is wrong with them.
    pub fn parse(words: &[&str]) -> Result<Self, String> {
        let partner =
            |found: &[(&str, &str)]| flag(found, "partner").map(|p| PartnerRef(p.to_owned()));
        match words {
            ["create", rest @ ..] => {
                let found = flags(rest, &["partner", "url", "events"])?;
                let (Some(partner), Some(url), Some(events)) =
                    (partner(&found), flag(&found, "url"), flag(&found, "events"))
                else {
                    return Err("webhook create needs --partner, --url and --events".into());
                };
                // https-only (production) is checked when it runs.
                let url = EndpointUrl::parse(url, false).map_err(|p| p.join("; "))?;
                let names: Vec<&str> = events.split(',').filter(|e| !e.trim().is_empty()).collect();
                let events = EventTypes::parse(&names).map_err(|p| p.join("; "))?;
                Ok(Self::Create {
                    partner,
                    url,
                    events,
                })
            }
            ["list", rest @ ..] => Ok(Self::List {
                partner: partner(&flags(rest, &["partner"])?),
            }),
            ["delete", raw] => Ok(Self::Delete {
                id: id(raw, "ENDPOINT_ID")?,
            }),
            ["rotate-secret", raw] => Ok(Self::RotateSecret {
                id: id(raw, "ENDPOINT_ID")?,
            }),
            ["deliveries", rest @ ..] => {
                let found = flags(rest, &["status", "partner", "limit"])?;
                let status = flag(&found, "status")
                    .map(|s| {
                        DeliveryStatus::parse(s)
                            .ok_or("--status must be pending, delivered or failed")
                    })
                    .transpose()?;
                let limit = flag(&found, "limit")
                    .map_or(Ok(100), str::parse)
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or("--limit must be a number from 1 to 10000")?;
                Ok(Self::Deliveries {
                    status,
                    partner: partner(&found),
                    limit,
                })
            }
            ["retry", raw] => Ok(Self::Retry {
                delivery_id: id(raw, "DELIVERY_ID")?,
            }),
            _ => Err(USAGE.to_owned()),
        }
    }

    /// The audit trail's name for this command (listing endpoints and
    /// deliveries are both `admin_webhook_list`).
    pub fn action(&self) -> Action {
        match self {
            Self::Create { .. } => Action::AdminWebhookCreate,
            Self::List { .. } | Self::Deliveries { .. } => Action::AdminWebhookList,
            Self::Delete { .. } => Action::AdminWebhookDelete,
            Self::RotateSecret { .. } => Action::AdminWebhookRotate,
            Self::Retry { .. } => Action::AdminWebhookRetry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_commands_are_parsed_with_their_flags() {
        let id = Uuid::new_v4();
        let id_text = id.to_string();
        let created = WebhookCommand::parse(&[
            "create",
            "--events=registration.completed,batch.completed",
            "--partner",
            "Acme Health",
            "--url",
            "https://acme.example/hooks",
        ])
        .expect("create");
        let WebhookCommand::Create {
            partner,
            url,
            events,
        } = created
        else {
            panic!("{created:?}")
        };
        assert_eq!(partner, PartnerRef("Acme Health".into()));
        assert_eq!(url.as_str(), "https://acme.example/hooks");
        assert_eq!(
            events.as_slice(),
            ["registration.completed", "batch.completed"]
        );
        let cases = [
            (vec!["list"], WebhookCommand::List { partner: None }),
            (
                vec!["list", "--partner", "Acme"],
                WebhookCommand::List {
                    partner: Some(PartnerRef("Acme".into())),
                },
            ),
            (vec!["delete", &id_text], WebhookCommand::Delete { id }),
            (
                vec!["rotate-secret", &id_text],
                WebhookCommand::RotateSecret { id },
            ),
            (
                vec!["deliveries", "--status", "failed", "--limit", "5"],
                WebhookCommand::Deliveries {
                    status: Some(DeliveryStatus::Failed),
                    partner: None,
                    limit: 5,
                },
            ),
            (
                vec!["retry", &id_text],
                WebhookCommand::Retry { delivery_id: id },
            ),
        ];
        for (words, want) in cases {
            assert_eq!(WebhookCommand::parse(&words), Ok(want), "{words:?}");
        }
    }

    #[test]
    fn bad_webhook_arguments_are_refused_before_anything_runs() {
        for words in [
            vec![],
            vec!["create", "--partner", "A", "--url", "https://a.example"],
            vec![
                "create",
                "--partner",
                "A",
                "--url",
                "ftp://a.example",
                "--events",
                "batch.completed",
            ],
            vec![
                "create",
                "--partner",
                "A",
                "--url",
                "https://a.example",
                "--events",
                "nope",
            ],
            vec![
                "create",
                "--partner",
                "A",
                "--url",
                "https://a.example",
                "--events",
                "",
            ],
            vec!["list", "--partner"],
            vec!["list", "--partner", "A", "--partner", "B"],
            vec!["list", "--url", "x"],
            vec!["delete", "not-a-uuid"],
            vec!["deliveries", "--status", "lost"],
            vec!["deliveries", "--limit", "0"],
            vec!["retry"],
        ] {
            assert!(WebhookCommand::parse(&words).is_err(), "{words:?}");
        }
    }
}
