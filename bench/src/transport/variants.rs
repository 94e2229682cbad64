//! The transport phase's variants: where each one's services connect,
//! and a stack for each part of a variant.

use serde::Serialize;
use stack_kit::Servers;

use super::Measured;
use crate::{
    infra::{shown, var, Infra},
    stack::Stack,
};

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
pub(super) struct Variant {
    pub kind: Kind,
    pub servers: Servers,
    /// PgBouncer without a database name: the pools' `DATABASE_URL`.
    pub pgbouncer: Option<String>,
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

/// plain, tls, pgbouncer: in the order they run.
pub(super) fn variants(infra: &Infra) -> [Variant; 3] {
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

/// A stack for one part of a variant (`intake`, `e2e`), its services'
/// connections recorded in `m`.
pub(super) async fn stack_on<'a>(
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
    if m.database_url.is_empty() {
        m.database_url = shown("DATABASE_URL", &database_url);
        m.amqp_url = shown("AMQP_URL", &stack.amqp_url);
    }
    Ok(stack)
}
