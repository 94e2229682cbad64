//! The servers a run uses (Postgres, RabbitMQ, MailDev, all on loopback, as
//! `scripts/services up` starts them; `BENCH_*`, read by the stack kit) and
//! what a run keeps about them: the PHI key and keyring its services seal
//! with, `BENCH_SERVICE_ENV`, the WARN/ERROR lines each phase's services
//! logged, and the emails its registrations produced, deleted from the sink
//! at exit. Each phase's database and vhost are a [`stack_kit::Sandbox`]
//! (see `stack.rs`): removed at the end of the phase or, after an error or
//! Ctrl-C, when the phase's stack is dropped.

use std::{collections::BTreeMap, sync::Mutex, time::Duration};

use anyhow::Context;
use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use rand::RngCore;
use serde::Serialize;
use serde_json::{json, Value};
use shared::{
    config::{AppEnv, Vars},
    crypto::Keyring,
};
use stack_kit::{Binaries, Management, Servers};

/// `name`'s value, or `default` when it is unset or blank.
pub fn var(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// `NAME=value`, but not a secret's value (by its name: `*SECRET*`, `*KEY*`,
/// `*PASSWORD*`, `*TOKEN*`) nor the credentials in a URL.
pub fn shown(name: &str, value: &str) -> String {
    let upper = name.to_ascii_uppercase();
    if ["SECRET", "KEY", "PASSWORD", "TOKEN"]
        .iter()
        .any(|s| upper.contains(s))
    {
        return format!("{name}=<redacted>");
    }
    let credentials = value
        .split_once("://")
        .and_then(|(scheme, rest)| Some((scheme, rest.split_once('@')?)))
        .filter(|(_, (userinfo, _))| !userinfo.contains('/'));
    match credentials {
        Some((scheme, (_, host))) => format!("{name}={scheme}://<redacted>@{host}"),
        None => format!("{name}={value}"),
    }
}

pub struct Infra {
    /// Where Postgres, RabbitMQ (and its management API) and MailDev are.
    pub servers: Servers,
    management: Management,
    /// The release binaries (beside this one).
    pub binaries: Binaries,
    /// Where the services' output goes.
    pub log_dir: std::path::PathBuf,
    /// Short and random: in every name and email address this run makes.
    pub run_id: String,
    /// The PHI key given to the services, and the keyring sealing with it.
    pub phi_key: String,
    pub keyring: Keyring,
    pub http: reqwest::Client,
    /// `BENCH_SERVICE_ENV`: extra `NAME=value` words for every service, to
    /// try a setting (e.g. `DATABASE_MAX_CONNECTIONS=50`) without editing.
    pub service_env: Vec<(String, String)>,
    problems: Mutex<BTreeMap<String, LogProblems>>,
}

/// WARN/ERROR lines the services logged during one phase.
#[derive(Debug, Clone, Serialize)]
pub struct LogProblems {
    pub lines: usize,
    pub first: Option<String>,
}

impl Infra {
    pub fn from_env(log_dir: std::path::PathBuf) -> anyhow::Result<Self> {
        let binaries = Binaries::beside_exe("`cargo build --release --bins`, as bench/run does")?;
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        let phi_key = B64.encode(key);
        let keyring = {
            let map = std::collections::HashMap::from([("PHI_ENCRYPTION_KEY", phi_key.as_str())]);
            Keyring::from_vars(&Vars(&map), AppEnv::Test).context("building the keyring")?
        };
        let service_env = var("BENCH_SERVICE_ENV", "")
            .split_whitespace()
            .map(|word| {
                word.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .with_context(|| format!("BENCH_SERVICE_ENV: {word:?} is not NAME=value"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        let servers = Servers::from_env("BENCH");
        Ok(Self {
            management: Management::new(&servers),
            servers,
            binaries,
            log_dir,
            run_id,
            phi_key,
            keyring,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
            service_env,
            problems: Mutex::new(BTreeMap::new()),
        })
    }

    /// `BENCH_SERVICE_ENV` as the report keeps it, secrets left out.
    pub fn service_env_shown(&self) -> Vec<String> {
        self.service_env.iter().map(|(k, v)| shown(k, v)).collect()
    }

    /// The prefix of every email address this run registers.
    pub fn email_prefix(&self) -> String {
        format!("bench.{}.", self.run_id)
    }

    pub fn record_problems(&self, phase: &str, lines: usize, first: Option<String>) {
        if lines > 0 {
            let mut map = self.problems.lock().unwrap_or_else(|e| e.into_inner());
            map.insert(phase.to_owned(), LogProblems { lines, first });
        }
    }

    pub fn problems(&self) -> BTreeMap<String, LogProblems> {
        self.problems
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// RabbitMQ's alarms in effect (memory, disk), from its health check:
    /// `None` when there are none.
    pub async fn broker_alarms(&self) -> anyhow::Result<Option<String>> {
        Ok(self.management.alarms().await?)
    }

    /// Removes this run's emails from the SMTP sink (only ours: others may
    /// be testing).
    pub async fn cleanup(&self) {
        if let Err(e) = self.delete_emails().await {
            eprintln!("bench: could not delete this run's emails from MailDev: {e:#}");
        }
    }

    async fn delete_emails(&self) -> anyhow::Result<()> {
        let prefix = self.email_prefix();
        let maildev = &self.servers.maildev_url;
        let all: Vec<Value> = self
            .http
            .get(format!("{maildev}/api/email"))
            .send()
            .await?
            .json()
            .await?;
        let ids: Vec<&str> = all
            .iter()
            .filter(|m| {
                m["to"].as_array().is_some_and(|to| {
                    to.iter().any(|a| {
                        a["address"]
                            .as_str()
                            .is_some_and(|s| s.starts_with(&prefix))
                    })
                })
            })
            .filter_map(|m| m["id"].as_str())
            .collect();
        for chunk in ids.chunks(500) {
            self.http
                .post(format!("{maildev}/api/email/delete"))
                .json(&json!({ "ids": chunk }))
                .send()
                .await?
                .error_for_status()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn secrets_are_not_shown() {
        assert_eq!(
            shown("DATABASE_MAX_CONNECTIONS", "50"),
            "DATABASE_MAX_CONNECTIONS=50"
        );
        assert_eq!(shown("JWT_SECRET", "s3cret"), "JWT_SECRET=<redacted>");
        assert_eq!(
            shown("PHI_ENCRYPTION_KEY", "AAAA"),
            "PHI_ENCRYPTION_KEY=<redacted>"
        );
        assert_eq!(
            shown("AMQP_URL", "amqp://u:p@127.0.0.1:5672/v"),
            "AMQP_URL=amqp://<redacted>@127.0.0.1:5672/v"
        );
        assert_eq!(
            shown("PUBLIC_BASE_URL", "http://h/a@b"),
            "PUBLIC_BASE_URL=http://h/a@b"
        );
    }
}
