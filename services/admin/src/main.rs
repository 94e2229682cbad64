//! admin: operator commands for the patient-registration system.
//!
//! ```text
//! admin partner create NAME     create a partner (if new) and an API key, shown once
//! admin partner list            list keys (id, partner, prefix, created, revoked)
//! admin partner revoke KEY_ID   revoke a key
//! admin dlq list QUEUE [N]      describe up to N dead-lettered messages of QUEUE (default 100)
//! admin dlq replay QUEUE [N]    republish up to N of them where they came from
//! admin reseal-phi              re-seal PHI still sealed with a retired key
//! admin webhook create --partner P --url URL --events a,b
//!                               add a partner's webhook endpoint; its secret is shown once
//! admin webhook list [--partner P]
//! admin webhook delete ENDPOINT_ID
//! admin webhook rotate-secret ENDPOINT_ID
//! admin webhook deliveries [--status S] [--partner P] [--limit N]
//! admin webhook retry DELIVERY_ID
//! admin patient deactivate PATIENT_ID   inactive (record kept), every session ended
//! admin patient reactivate PATIENT_ID   active again
//! ```
//! QUEUE is `registration.requests` or `notification.patient-created`; P a
//! partner's id or name; S `pending`, `delivered` or `failed`. The webhook
//! commands follow intake-api's rules (`WEBHOOK_MAX_ENDPOINTS`,
//! `WEBHOOK_SECRET_GRACE`, https only in production).
//!
//! Every command is audited with the operator's OS account and host
//! (`trail.rs`); if the audit trail cannot be written, the command fails
//! with one line on stderr and a non-zero exit. Migrations are applied as
//! `DATABASE_MIGRATION_URL`, the command runs as `DATABASE_URL`.

#![allow(clippy::print_stdout)] // a command's answer goes to stdout

use std::{process::ExitCode, time::Duration};

use admin::{command::Command, config::AdminConfig, operator, trail::Trail};
use anyhow::Context;
use shared::config::{ProcessEnv, Vars};

#[tokio::main]
async fn main() -> ExitCode {
    let config = match AdminConfig::from_vars(&Vars(&ProcessEnv)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("admin: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    shared::telemetry::init_cli("admin");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let command = match Command::parse(&words) {
        Ok(command) => command,
        Err(usage) => {
            eprintln!("admin: {usage}");
            return ExitCode::from(2);
        }
    };
    match run(&config, &command).await {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("admin: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// What failed and why, without the layers between (sqlx repeats its
/// source in its own message).
fn one_line(e: &anyhow::Error) -> String {
    match e.chain().nth(1) {
        Some(_) => format!("{e}: {}", e.root_cause()),
        None => e.to_string(),
    }
}

/// Migrates, then runs `command` between its two audit rows; returns its
/// report, to be shown only once its outcome is audited.
async fn run(admin: &AdminConfig, command: &Command) -> anyhow::Result<String> {
    let config = &admin.common;
    let migrations = shared::db::pool(&config.database_migration, 1);
    shared::db::migrate(&migrations, Duration::from_secs(30))
        .await
        .context("applying migrations")?;
    migrations.close().await;
    let db = shared::db::pool(&config.database, 2);
    let trail = Trail::start(
        &db,
        command.action(),
        command.patient_id(),
        operator::current(),
    )
    .await
    .context("nothing was done: the audit trail cannot be written")?;
    let done = command.run(admin, &db).await;
    let audited = trail
        .finish(done.as_ref().map_or("failed", |d| d.outcome))
        .await;
    let done = done?;
    audited.context("the command ran, but its outcome cannot be written to the audit trail")?;
    Ok(done.report)
}
