//! That a transport variant is what it says: over TLS, every connection the
//! running services hold to their database (`pg_stat_ssl`) and to their
//! vhost (the management API) is encrypted; through PgBouncer, it carried
//! the database's transactions (its admin console's `SHOW STATS`).

use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use sqlx::{Connection, PgConnection, Row};
use stack_kit::{Management, Servers};
use tokio::time::Instant;

use crate::stack::Stack;

/// The services' connections, and how many of them are TLS.
#[derive(Debug, Clone, Serialize)]
pub struct Tls {
    pub postgres: i64,
    pub postgres_tls: i64,
    /// The Postgres connections' TLS version and cipher (the highest, by
    /// name, when they differ).
    pub version: Option<String>,
    pub cipher: Option<String>,
    pub amqp: usize,
    pub amqp_tls: usize,
    /// The AMQP connections' TLS protocol, as RabbitMQ names it.
    pub amqp_protocol: Option<String>,
}

impl Tls {
    /// Every connection encrypted, and some of each kind seen.
    pub fn all_encrypted(&self) -> bool {
        self.postgres >= 2
            && self.postgres_tls == self.postgres
            && self.amqp >= 1
            && self.amqp_tls == self.amqp
    }
}

/// What PgBouncer carried for one database (its counters since the
/// database was first used through it).
#[derive(Debug, Clone, Serialize)]
pub struct Pooled {
    pub transactions: u64,
    pub queries: u64,
    /// Time clients spent waiting for a server connection, in all.
    pub wait_ms: f64,
}

/// The connections of `stack`'s running services.
pub async fn tls(stack: &Stack<'_>, servers: &Servers) -> anyhow::Result<Tls> {
    let (postgres, postgres_tls, version, cipher): (i64, i64, Option<String>, Option<String>) =
        sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE s.ssl), max(s.version), max(s.cipher)
               FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
              WHERE a.datname = $1 AND a.application_name = 'patient-registration'",
        )
        .bind(&stack.name)
        .fetch_one(&stack.db)
        .await
        .context("reading pg_stat_ssl")?;
    // The management API lists a connection once the broker has emitted its
    // statistics (every 5 s by default).
    let management = Management::new(servers);
    let t0 = Instant::now();
    let amqp = loop {
        let listed = management
            .get(&format!("vhosts/{}/connections", stack.name))
            .await?;
        let listed = listed.as_array().cloned().unwrap_or_default();
        if !listed.is_empty() || t0.elapsed() > Duration::from_secs(10) {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let amqp_tls = amqp.iter().filter(|c| c["ssl"] == true).count();
    let amqp_protocol = amqp
        .iter()
        .find_map(|c| c["ssl_protocol"].as_str().map(str::to_owned));
    Ok(Tls {
        postgres,
        postgres_tls,
        version,
        cipher,
        amqp: amqp.len(),
        amqp_tls,
        amqp_protocol,
    })
}

/// PgBouncer's counters for `database`, from its admin console at
/// `pgbouncer` (its URL without a database).
pub async fn pooled(pgbouncer: &str, database: &str) -> anyhow::Result<Pooled> {
    let mut console = PgConnection::connect(&format!("{pgbouncer}/pgbouncer"))
        .await
        .context("connecting to PgBouncer's admin console")?;
    let rows = sqlx::raw_sql("SHOW STATS").fetch_all(&mut console).await;
    console.close().await.ok();
    // The console's counters are labelled numeric: read their text.
    let number = |row: &sqlx::postgres::PgRow, name: &str| -> anyhow::Result<u64> {
        let text: String = row.try_get_unchecked(name)?;
        Ok(text.parse()?)
    };
    for row in rows? {
        if row.try_get::<String, _>("database")? == database {
            return Ok(Pooled {
                transactions: number(&row, "total_xact_count")?,
                queries: number(&row, "total_query_count")?,
                wait_ms: number(&row, "total_wait_time")? as f64 / 1000.0,
            });
        }
    }
    anyhow::bail!("PgBouncer has no statistics for database {database}")
}
