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

use serde::Serialize;
use stack_kit::Servers;

use crate::{
    e2e::{self, Drain},
    infra::{shown, var, Infra},
    intake::{self, Accepted},
    say,
    stack::Stack,
};

pub use self::evidence::{Pooled, Tls};

pub struct Settings {
    pub intake: intake::Settings,
    /// The backlog of each drain, and the registration workers of each
    /// drain in turn.
    pub backlog: usize,
    pub workers: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Plain,
    Tls,
    Pgbouncer,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Plain => "plain",
            Kind::Tls => "tls",
            Kind::Pgbouncer => "pgbouncer",
        }
    }
}

/// Where one variant's services connect.
struct Variant {
    kind: Kind,
    servers: Servers,
    /// PgBouncer without a database name: the pools' `DATABASE_URL`.
    pgbouncer: Option<String>,
}

/// The TLS set as `scripts/services` runs it, unless `BENCH_TLS_*` say
/// otherwise; the SMTP sink is the plain one.
fn tls_servers(plain: &Servers) -> Servers {
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/../.data/tls/ca.crt");
    Servers {
        admin_database_url: var(
            "BENCH_TLS_DATABASE_URL",
            "postgres://postgres:postgres@127.0.0.1:5433/postgres?sslmode=verify-full",
        ),
        amqp_url: var("BENCH_TLS_AMQP_URL", "amqps://guest:guest@127.0.0.1:5671")
            .trim_end_matches('/')
            .to_owned(),
        rabbitmq_api: var("BENCH_TLS_RABBITMQ_API", "https://127.0.0.1:15671")
            .trim_end_matches('/')
            .to_owned(),
        ca_cert: Some(var("BENCH_TLS_CA_CERT", ca).into()),
        ..plain.clone()
    }
}

fn variants(infra: &Infra) -> [Variant; 3] {
    let pgbouncer = var(
        "BENCH_PGBOUNCER_URL",
        "postgres://postgres:postgres@127.0.0.1:6432",
    );
    [
        Variant {
            kind: Kind::Plain,
            servers: infra.servers.clone(),
            pgbouncer: None,
        },
        Variant {
            kind: Kind::Tls,
            servers: tls_servers(&infra.servers),
            pgbouncer: None,
        },
        Variant {
            kind: Kind::Pgbouncer,
            servers: infra.servers.clone(),
            pgbouncer: Some(pgbouncer.trim_end_matches('/').to_owned()),
        },
    ]
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

/// A stack for one part of a variant (`intake`, `e2e`), its services'
/// connections recorded in `m`.
async fn stack_on<'a>(
    infra: &'a Infra,
    v: &Variant,
    part: &str,
    m: &mut Measured,
) -> anyhow::Result<Stack<'a>> {
    let phase = format!("transport_{}_{part}", v.kind.name());
    let mut stack = Stack::create_on(infra, &v.servers, &phase).await?;
    let mut database_url = stack.database_url().to_owned();
    if let Some(pgbouncer) = &v.pgbouncer {
        // The pools through PgBouncer; LISTEN and the migrations need a
        // session of their own, so they stay direct.
        let pooled = format!("{pgbouncer}/{}", stack.name);
        stack
            .set_env("DATABASE_URL", pooled.clone())
            .set_env("DATABASE_LISTEN_URL", database_url.clone())
            .set_env("DATABASE_MIGRATION_URL", database_url);
        database_url = pooled;
    }
    m.database_url = shown("DATABASE_URL", &database_url);
    m.amqp_url = shown("AMQP_URL", &stack.amqp_url);
    Ok(stack)
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
