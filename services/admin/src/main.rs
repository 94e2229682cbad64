//! admin: operator commands for the patient-registration system.
//!
//! ```text
//! admin partner create NAME     create a partner (if new) and an API key, shown once
//! admin partner list            list keys (id, partner, prefix, created, revoked)
//! admin partner revoke KEY_ID   revoke a key
//! admin dlq list QUEUE [N]      describe up to N dead-lettered messages of QUEUE (default 100)
//! admin dlq replay QUEUE [N]    republish up to N of them where they came from
//! admin reseal-phi              re-seal PHI still sealed with a retired key
//! ```
//! QUEUE is `registration.requests` or `notification.patient-created`.

#![allow(clippy::print_stdout)] // a command's answer goes to stdout

use std::time::Duration;

use admin::{dlq, reseal};
use anyhow::Context;
use shared::{
    broker::Broker,
    config::{CommonConfig, ProcessEnv, Vars},
    partner,
};

const USAGE: &str = "usage: admin partner create NAME | partner list | partner revoke KEY_ID \
                     | dlq list QUEUE [N] | dlq replay QUEUE [N] | reseal-phi";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = match CommonConfig::from_vars(&Vars(&ProcessEnv)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("admin: configuration error: {e}");
            std::process::exit(2);
        }
    };
    shared::telemetry::init_cli("admin");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let db = shared::db::pool(&config.database_url, 2)?;
    shared::db::migrate(&db, Duration::from_secs(30)).await?;
    match words.as_slice() {
        ["partner", "create", name] => {
            let key = partner::create_key(&db, name).await?;
            println!(
                "partner: {name}\nkey id: {}\napi key (shown once, store it now): {}",
                key.id, key.key
            );
        }
        ["partner", "list"] => {
            for k in partner::list_keys(&db).await? {
                let revoked = k
                    .revoked_at
                    .map_or_else(|| "active".to_owned(), |t| format!("revoked {t}"));
                println!(
                    "{}\t{}\t{}…\t{}\t{revoked}",
                    k.id, k.partner, k.prefix, k.created_at
                );
            }
        }
        ["partner", "revoke", id] => {
            let id = id
                .parse()
                .context("KEY_ID must be a key id from `admin partner list`")?;
            let done = partner::revoke_key(&db, id).await?;
            println!(
                "{}",
                if done {
                    "revoked"
                } else {
                    "no such active key"
                }
            );
        }
        ["dlq", verb @ ("list" | "replay"), queue, rest @ ..] => {
            let limit = rest
                .first()
                .map_or(Ok(100), |n| n.parse())
                .context("N must be a number")?;
            let broker = Broker::new(&config.amqp_url, config.topology.clone(), 2)?;
            let conn = broker.connection().await?;
            let channel = conn.create_channel().await?;
            if *verb == "list" {
                let dead = dlq::list(&channel, queue, limit).await?;
                for d in &dead {
                    println!(
                        "{}\t{}\trequest {}\t{}\t{} bytes",
                        d.message_id.as_deref().unwrap_or("-"),
                        d.kind.as_deref().unwrap_or("-"),
                        d.request_id.as_deref().unwrap_or("-"),
                        d.reason.as_deref().unwrap_or("-"),
                        d.bytes
                    );
                }
                println!("{} dead-lettered message(s) shown", dead.len());
            } else {
                let n = dlq::replay(&channel, &broker, &db, queue, limit).await?;
                println!("replayed {n} message(s)");
            }
        }
        ["reseal-phi"] => {
            let count = reseal::reseal_patients(&db, &config.keyring).await?;
            println!("re-sealed {count} patient(s) under the current key");
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
    Ok(())
}
