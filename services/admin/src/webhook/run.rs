//! Running an `admin webhook` command: the partner named, the store's
//! answer, and what the operator is shown (a secret once, never again).

use std::fmt::Write as _;

use shared::{
    broker::Broker,
    partner::PartnerId,
    webhook::message_id,
    webhook_endpoints::{
        self as store, Created, DeliveryQuery, DeliveryStatus, EndpointUrl, EventTypes, Retried,
        Scope,
    },
};
use sqlx::PgPool;
use uuid::Uuid;

use super::{PartnerRef, WebhookCommand};
use crate::{command::Done, config::AdminConfig};

impl WebhookCommand {
    pub async fn run(&self, config: &AdminConfig, db: &PgPool) -> anyhow::Result<Done> {
        let settings = config.webhooks;
        let keyring = &config.common.keyring;
        match self {
            Self::Create {
                partner,
                url,
                events,
            } => create(config, db, partner, url, events).await,
            Self::List { partner } => list(db, partner.as_ref()).await,
            Self::Delete { id } => Ok(if store::delete(db, Scope::Operator, *id).await? {
                done("success", "deleted".into())
            } else {
                done("not_found", "no such live endpoint".into())
            }),
            Self::RotateSecret { id } => {
                let rotated =
                    store::rotate_secret(db, keyring, Scope::Operator, *id, settings.secret_grace)
                        .await?;
                Ok(match rotated {
                    Some(r) => done(
                        "success",
                        format!(
                            "endpoint id: {id}\nsecret (shown once, store it now): {}\n\
                             the previous secret also signs until {}",
                            r.secret.expose(),
                            r.previous_secret_expires_at
                        ),
                    ),
                    None => done("not_found", "no such live endpoint".into()),
                })
            }
            Self::Deliveries {
                status,
                partner,
                limit,
            } => deliveries(db, *status, partner.as_ref(), *limit).await,
            Self::Retry { delivery_id } => {
                let common = &config.common;
                let broker = Broker::new(&common.amqp, common.topology.clone(), 1)?;
                Ok(
                    match store::retry(db, &broker, Scope::Operator, *delivery_id).await? {
                        Retried::Scheduled { attempt } => {
                            done("success", format!("retry scheduled: attempt {attempt}"))
                        }
                        Retried::NotFound => done("not_found", "no such delivery".into()),
                        Retried::EndpointGone => done(
                            "endpoint_gone",
                            "its endpoint was deleted or disabled: nothing to retry to".into(),
                        ),
                        Retried::NotFailed(status) => done(
                            "not_failed",
                            format!(
                                "only a failed delivery can be retried: this one is {}",
                                status.as_str()
                            ),
                        ),
                    },
                )
            }
        }
    }
}

fn done(outcome: &'static str, mut report: String) -> Done {
    report.push('\n');
    Done { outcome, report }
}

async fn create(
    config: &AdminConfig,
    db: &PgPool,
    partner: &PartnerRef,
    url: &EndpointUrl,
    events: &EventTypes,
) -> anyhow::Result<Done> {
    let settings = config.webhooks;
    let Some((partner, name)) = find_partner(db, partner).await? else {
        return Ok(no_partner(partner));
    };
    // Parsed without knowing the environment: production wants https.
    let url = match EndpointUrl::parse(url.as_str(), settings.https_only) {
        Ok(url) => url,
        Err(problems) => return Ok(done("invalid", problems.join("; "))),
    };
    let keyring = &config.common.keyring;
    let created = store::create(db, keyring, settings.max_endpoints, partner, &url, events).await?;
    Ok(match created {
        Created::Endpoint(e, secret) => done(
            "success",
            format!(
                "endpoint id: {}\npartner: {name}\nurl: {}\nevents: {}\n\
                 secret (shown once, store it now): {}",
                e.id,
                e.url,
                e.event_types.join(","),
                secret.expose()
            ),
        ),
        Created::LimitReached => done(
            "limit_reached",
            format!(
                "{name} has {} live endpoints (WEBHOOK_MAX_ENDPOINTS): delete one first",
                settings.max_endpoints
            ),
        ),
    })
}

async fn list(db: &PgPool, partner: Option<&PartnerRef>) -> anyhow::Result<Done> {
    let scope = match scope(db, partner).await? {
        Ok(scope) => scope,
        Err(done) => return Ok(done),
    };
    let names: Vec<(Uuid, String)> = sqlx::query_as("SELECT id, name FROM partners")
        .fetch_all(db)
        .await?;
    let name_of = |id: Uuid| {
        names
            .iter()
            .find(|(i, _)| *i == id)
            .map_or("?", |(_, name)| name.as_str())
    };
    let mut report = String::new();
    let endpoints = store::list(db, scope).await?;
    for e in &endpoints {
        let state = match (e.disabled_at, e.failing_since) {
            (Some(t), _) => format!("disabled {t}"),
            (None, Some(t)) => format!("failing since {t}"),
            (None, None) => "active".to_owned(),
        };
        let grace = e
            .previous_secret_expires_at
            .map_or_else(String::new, |t| format!("\tprevious secret until {t}"));
        writeln!(
            report,
            "{}\t{}\t{}\t{}\tcreated {}\t{state}{grace}",
            e.id,
            name_of(e.partner_id),
            e.url,
            e.event_types.join(","),
            e.created_at
        )?;
    }
    writeln!(report, "{} live endpoint(s)", endpoints.len())?;
    Ok(Done {
        outcome: "success",
        report,
    })
}

async fn deliveries(
    db: &PgPool,
    status: Option<DeliveryStatus>,
    partner: Option<&PartnerRef>,
    limit: u32,
) -> anyhow::Result<Done> {
    let scope = match scope(db, partner).await? {
        Ok(scope) => scope,
        Err(done) => return Ok(done),
    };
    let query = DeliveryQuery {
        scope,
        status,
        after: None,
        limit,
    };
    let page = store::list_deliveries(db, query).await?;
    let mut report = String::new();
    for d in &page.deliveries {
        writeln!(
            report,
            "{}\t{}\tendpoint {}\t{}\t{}\t{} attempt(s)\tcreated {}\tlast {} {}",
            d.id,
            message_id(d.id),
            d.endpoint_id,
            d.event_type,
            d.status.as_str(),
            d.attempts,
            d.created_at,
            d.last_status_code.map_or("-".to_owned(), |c| c.to_string()),
            d.last_error.as_deref().unwrap_or("-"),
        )?;
    }
    let more = if page.next.is_some() {
        " (more: raise --limit)"
    } else {
        ""
    };
    writeln!(
        report,
        "{} delivery(ies) shown{more}",
        page.deliveries.len()
    )?;
    Ok(Done {
        outcome: "success",
        report,
    })
}

fn no_partner(partner: &PartnerRef) -> Done {
    done(
        "not_found",
        format!("no partner with id or name {:?}", partner.0),
    )
}

/// The partner `partner` names: by id if it is one, else by name.
async fn find_partner(
    db: &PgPool,
    partner: &PartnerRef,
) -> sqlx::Result<Option<(PartnerId, String)>> {
    let found: Option<(Uuid, String)> = sqlx::query_as(
        "SELECT id, name FROM partners WHERE id::text = $1 OR name = $1 \
         ORDER BY (id::text = $1) DESC LIMIT 1",
    )
    .bind(partner.0.trim())
    .fetch_optional(db)
    .await?;
    Ok(found.map(|(id, name)| (PartnerId(id), name)))
}

/// Everyone's, or one partner's; what to answer when there is no such
/// partner.
async fn scope(db: &PgPool, partner: Option<&PartnerRef>) -> sqlx::Result<Result<Scope, Done>> {
    let Some(partner) = partner else {
        return Ok(Ok(Scope::Operator));
    };
    Ok(match find_partner(db, partner).await? {
        Some((id, _)) => Ok(Scope::Partner(id)),
        None => Err(no_partner(partner)),
    })
}
