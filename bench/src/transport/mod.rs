//! Transport: what TLS and a connection pooler cost. The intake load (as
//! the intake phase sends it) and end-to-end drains (as the e2e phase times
//! them) for three variants of the same services, one after another in one
//! run:
//!
//! - `plain`: the plain servers, as every other phase.
//! - `tls`: a stack on the TLS set (`SERVICES_TLS=1 scripts/services up`):
//!   every Postgres and RabbitMQ connection of the services is verified TLS
//!   (`BENCH_TLS_DATABASE_URL`, `BENCH_TLS_AMQP_URL`,
//!   `BENCH_TLS_RABBITMQ_API`, `BENCH_TLS_CA_CERT`).
//! - `pgbouncer`: the plain servers, with the services' pools through
//!   PgBouncer in transaction mode (`PGBOUNCER=1`; `BENCH_PGBOUNCER_URL`);
//!   intake-api's LISTEN and the migrations connect directly, as they must.
//!
//! Each variant's intake run and drains have a stack of their own (a drain
//! needs no request pending before it). Beside the figures, evidence that
//! each variant is what it says ([`evidence`]), and its rates over the
//! plain variant's: informational, without a target.

mod evidence;
mod rows;
mod variants;

use serde::Serialize;

use crate::{
    e2e::{self, Drain},
    infra::Infra,
    intake::{self, Accepted},
    say,
};

use self::variants::{stack_on, variants, Variant};
pub use self::{
    evidence::{Pooled, Tls},
    variants::Kind,
};

pub struct Settings {
    pub intake: intake::Settings,
    /// The backlog of each drain, and the registration workers of each
    /// drain in turn.
    pub backlog: usize,
    pub workers: Vec<usize>,
}

/// One variant's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub kind: Kind,
    /// What the services were given, credentials left out.
    pub database_url: String,
    pub amqp_url: String,
    pub intake: Option<Accepted>,
    pub drains: Vec<Drain>,
    /// The tls variant: the services' connections, and how many are TLS.
    pub tls: Option<Tls>,
    /// The pgbouncer variant: what PgBouncer carried for the intake run's
    /// database, and for the drains'.
    pub pooled_intake: Option<Pooled>,
    pub pooled_drains: Option<Pooled>,
    /// Why the variant was not measured in full.
    pub error: Option<String>,
}

/// A variant's figures over the plain variant's.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    pub kind: Kind,
    /// Accepted/s, and p99 latency, over plain's.
    pub intake: f64,
    pub intake_p99: f64,
    /// The CPU a 202 cost the services, servers and load generator (all
    /// but `other`: what else ran on the machine meanwhile) over plain's.
    pub cpu_per_202: f64,
    /// Registrations/s of each drain over plain's with as many workers.
    pub drains: Vec<DrainRatio>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DrainRatio {
    pub workers: usize,
    pub ratio: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Transport {
    pub variants: Vec<Measured>,
    pub ratios: Vec<Ratio>,
}

impl Transport {
    /// The variants that could not be measured, with why.
    pub fn failed(&self) -> Option<String> {
        let failed: Vec<String> = self
            .variants
            .iter()
            .filter_map(|m| Some(format!("{}: {}", m.kind.name(), m.error.as_ref()?)))
            .collect();
        (!failed.is_empty()).then(|| failed.join("; "))
    }
}

/// Measures each variant in turn; one that fails is recorded and the
/// others go on.
pub async fn run(infra: &Infra, s: &Settings, t_hash_ms: f64, bound: f64) -> Transport {
    let mut measured = Vec::new();
    for v in variants(infra) {
        say(&format!("transport: the {} variant", v.kind.name()));
        let mut m = Measured {
            kind: v.kind,
            database_url: String::new(),
            amqp_url: String::new(),
            intake: None,
            drains: Vec::new(),
            tls: None,
            pooled_intake: None,
            pooled_drains: None,
            error: None,
        };
        if let Err(e) = measure(infra, &v, s, t_hash_ms, bound, &mut m).await {
            m.error = Some(format!("{e:#}"));
        }
        measured.push(m);
    }
    Transport {
        ratios: ratios(&measured),
        variants: measured,
    }
}

async fn measure(
    infra: &Infra,
    v: &Variant,
    s: &Settings,
    t_hash_ms: f64,
    bound: f64,
    m: &mut Measured,
) -> anyhow::Result<()> {
    let prefix = format!("{}tr.", infra.email_prefix());
    let mut stack = stack_on(infra, v, "intake", m).await?;
    let result = async {
        let accepted = intake::accepted(&mut stack, &prefix, &s.intake).await?;
        let tls = match v.kind {
            Kind::Tls => Some(evidence::tls(&stack, &v.servers).await?),
            _ => None,
        };
        let pooled = match &v.pgbouncer {
            Some(url) => Some(evidence::pooled(url, &stack.name).await?),
            None => None,
        };
        anyhow::Ok((accepted, tls, pooled))
    }
    .await;
    stack.destroy().await?;
    (m.intake, m.tls, m.pooled_intake) = result.map(|(a, t, p)| (Some(a), t, p))?;

    let mut stack = stack_on(infra, v, "e2e", m).await?;
    let drains = e2e::drains(infra, &mut stack, s.backlog, &s.workers, t_hash_ms, bound).await;
    let pooled = match (&v.pgbouncer, &drains) {
        (Some(url), Ok(_)) => Some(evidence::pooled(url, &stack.name).await),
        _ => None,
    };
    stack.destroy().await?;
    m.drains = drains?;
    m.pooled_drains = pooled.transpose()?;
    Ok(())
}

/// CPU µs per 202 of every group but `other`.
pub fn own_cpu_per_202(a: &Accepted) -> f64 {
    a.cpu
        .per_op_us(a.load.total_ok)
        .iter()
        .filter(|(group, _)| **group != "other")
        .map(|(_, us)| us)
        .sum()
}

fn ratios(variants: &[Measured]) -> Vec<Ratio> {
    let Some(plain) = variants.iter().find(|m| m.kind == Kind::Plain) else {
        return Vec::new();
    };
    let Some(base) = &plain.intake else {
        return Vec::new();
    };
    let over = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    variants
        .iter()
        .filter(|m| m.kind != Kind::Plain)
        .filter_map(|m| {
            let intake = m.intake.as_ref()?;
            Some(Ratio {
                kind: m.kind,
                intake: over(intake.load.per_s, base.load.per_s),
                intake_p99: over(intake.load.latency.p99_ms, base.load.latency.p99_ms),
                cpu_per_202: over(own_cpu_per_202(intake), own_cpu_per_202(base)),
                drains: m
                    .drains
                    .iter()
                    .filter_map(|d| {
                        let p = plain.drains.iter().find(|p| p.workers == d.workers)?;
                        Some(DrainRatio {
                            workers: d.workers,
                            ratio: over(d.per_s, p.per_s),
                        })
                    })
                    .collect(),
            })
        })
        .collect()
}
