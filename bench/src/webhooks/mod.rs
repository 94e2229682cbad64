//! Webhooks (issue 13 part 4): how fast one webhook-worker delivers, and
//! how soon a partner hears of an outcome on a system at rest.
//!
//! - **Backlog** ([`backlog`]): 10,000 `registration.completed` outcomes
//!   (quick: 2,000) queued for requests of one partner whose one endpoint
//!   is a [`Receiver`] in the bench process answering 204; then one
//!   webhook-worker started, and deliveries per second timed from the
//!   first arrival to the last.
//! - **Idle settle → delivered** ([`settle`]): single registrations with
//!   the partner's key, one at a time, against the whole stack; from the
//!   request's `settled_at` in Postgres to its webhook's arrival.

mod backlog;
mod receiver;
mod settle;

use anyhow::{anyhow, bail, Context};
use serde::Serialize;
use shared::{
    partner::PartnerId,
    webhook_endpoints::{self, Created, EndpointUrl, EventTypes},
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    infra::Infra,
    report::{check, row, Row},
};

pub use self::{backlog::Backlog, receiver::Receiver, settle::Settle};

pub struct Settings {
    /// Outcomes queued before the worker starts.
    pub backlog: usize,
    /// Registrations timed one at a time.
    pub settle: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Webhooks {
    pub backlog: Backlog,
    pub settle: Settle,
}

pub async fn run(infra: &Infra, settings: &Settings) -> anyhow::Result<Webhooks> {
    Ok(Webhooks {
        backlog: backlog::run(infra, settings.backlog).await?,
        settle: settle::run(infra, settings.settle).await?,
    })
}

/// A partner of this run with one endpoint at `url`, subscribed to every
/// settling outcome: its key and its id.
async fn partner_with_endpoint(
    infra: &Infra,
    db: &PgPool,
    url: &str,
) -> anyhow::Result<(String, Uuid)> {
    let key = shared::partner::create_key(db, &format!("bench {}", infra.run_id))
        .await?
        .key;
    let partner = shared::partner::authenticate(db, &key)
        .await?
        .context("the partner's new key does not authenticate")?;
    let url = EndpointUrl::parse(url, false).map_err(|e| anyhow!("endpoint URL: {e:?}"))?;
    let kinds = [
        "registration.completed",
        "registration.rejected",
        "registration.failed",
    ];
    let kinds = EventTypes::parse(&kinds).map_err(|e| anyhow!("event types: {e:?}"))?;
    let created = webhook_endpoints::create(db, &infra.keyring, 1, partner, &url, &kinds).await?;
    let PartnerId(id) = partner;
    match created {
        Created::Endpoint(..) => Ok((key, id)),
        Created::LimitReached => bail!("the partner already has an endpoint"),
    }
}

impl Webhooks {
    pub fn rows(&self) -> Vec<Row> {
        let (b, s) = (&self.backlog, &self.settle);
        let mut dupes = String::new();
        if b.arrived > b.distinct {
            dupes = format!(", {} duplicate arrivals", b.arrived - b.distinct);
        }
        let (c, r) = (&s.settled_to_delivered, &s.registered_to_delivered);
        let mut failed = String::new();
        if s.failures > 0 {
            failed = format!(", {} never delivered", s.failures);
        }
        vec![
            check(
                format!("webhooks: backlog of {} delivered, 1 worker", b.n),
                format!(
                    "{:.0}/s first -> last arrival ({:.1} s); {:.0}/s from the worker's readiness",
                    b.per_s, b.first_to_last_s, b.per_s_from_ready
                ),
                ">= 1000/s".into(),
                b.per_s >= 1000.0,
            ),
            check(
                "  deliveries recorded delivered".into(),
                format!("{} of {}{dupes}", b.delivered_rows, b.n),
                "all".into(),
                b.delivered_rows == b.n as i64,
            ),
            row(
                "  CPU per delivery, by process".into(),
                b.cpu.per_op_text(b.n as u64),
            ),
            check(
                format!("webhooks: idle settled -> delivered p50 / p99, n={}", s.n),
                format!("{:.1} / {:.1} ms{failed}", c.p50_ms, c.p99_ms),
                "p50 < 100 ms".into(),
                c.p50_ms < 100.0 && c.count > 0,
            ),
            row(
                "  idle registered (202) -> delivered p50 / p99".into(),
                format!("{:.0} / {:.0} ms", r.p50_ms, r.p99_ms),
            ),
        ]
    }
}
