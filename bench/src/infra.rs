//! The servers a run uses (Postgres, RabbitMQ, MailDev, all on loopback, as
//! `scripts/services up` starts them) and what a run makes on them: one
//! database and one vhost per phase, removed at the end of the phase or,
//! after an error or Ctrl-C, by [`Infra::cleanup`] at exit; and the emails
//! the run's registrations produced, deleted from the sink at exit.

use std::{collections::BTreeMap, path::PathBuf, sync::Mutex, time::Duration};

use anyhow::{bail, Context};
use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use rand::RngCore;
use serde::Serialize;
use serde_json::{json, Value};
use shared::{
    config::{AppEnv, Vars},
    crypto::Keyring,
};
use sqlx::{Connection, PgConnection};

fn var(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// `NAME=value`, but not a secret's value (by its name: `*SECRET*`, `*KEY*`,
/// `*PASSWORD*`, `*TOKEN*`) nor the credentials in a URL.
fn shown(name: &str, value: &str) -> String {
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
    /// Postgres admin URL: one database per phase is made under it.
    pub admin_db_url: String,
    /// RabbitMQ without a vhost: one vhost per phase is appended.
    pub amqp_base: String,
    /// RabbitMQ's management API, used to add and delete vhosts.
    pub rabbit_api: String,
    pub maildev_url: String,
    pub smtp_host: String,
    pub smtp_port: String,
    /// Where the release binaries are (beside this one).
    pub bin_dir: PathBuf,
    /// Where the services' output goes.
    pub log_dir: PathBuf,
    /// Short and random: in every name and email address this run makes.
    pub run_id: String,
    /// The PHI key given to the services, and the keyring sealing with it.
    pub phi_key: String,
    pub keyring: Keyring,
    pub http: reqwest::Client,
    /// `BENCH_SERVICE_ENV`: extra `NAME=value` words for every service, to
    /// try a setting (e.g. `DATABASE_MAX_CONNECTIONS=50`) without editing.
    pub service_env: Vec<(String, String)>,
    leftovers: Mutex<Vec<String>>,
    problems: Mutex<BTreeMap<String, LogProblems>>,
}

/// WARN/ERROR lines the services logged during one phase.
#[derive(Debug, Clone, Serialize)]
pub struct LogProblems {
    pub lines: usize,
    pub first: Option<String>,
}

impl Infra {
    pub fn from_env(log_dir: PathBuf) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating the bench binary")?;
        let bin_dir = exe
            .parent()
            .context("the bench binary has no directory")?
            .to_path_buf();
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
        Ok(Self {
            admin_db_url: var(
                "BENCH_DATABASE_URL",
                "postgres://postgres:postgres@127.0.0.1:5432/postgres",
            ),
            amqp_base: var("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672")
                .trim_end_matches('/')
                .to_owned(),
            rabbit_api: var("BENCH_RABBITMQ_API", "http://127.0.0.1:15672"),
            maildev_url: var("BENCH_MAILDEV_URL", "http://127.0.0.1:1080"),
            smtp_host: var("BENCH_SMTP_HOST", "127.0.0.1"),
            smtp_port: var("BENCH_SMTP_PORT", "1025"),
            bin_dir,
            log_dir,
            run_id,
            phi_key,
            keyring,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
            service_env,
            leftovers: Mutex::new(Vec::new()),
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

    fn remember(&self, name: &str, keep: bool) {
        let mut list = self.leftovers.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|n| n != name);
        if keep {
            list.push(name.to_owned());
        }
    }

    /// A fresh database and vhost named `bench_<run>_<phase>`; returns the
    /// name, the database URL and the AMQP URL.
    pub async fn create(&self, phase: &str) -> anyhow::Result<(String, String, String)> {
        let name = format!("bench_{}_{phase}", self.run_id);
        self.remember(&name, true);
        let mut conn = PgConnection::connect(&self.admin_db_url)
            .await
            .context("connecting to Postgres (is `scripts/services up` done?)")?;
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating database {name}"))?;
        conn.close().await.ok();
        let (base, _) = self
            .admin_db_url
            .rsplit_once('/')
            .context("BENCH_DATABASE_URL has no database name")?;
        let vhost_url = format!("{}/api/vhosts/{name}", self.rabbit_api);
        self.api(self.http.put(&vhost_url)).await?;
        let perms = format!("{}/api/permissions/{name}/guest", self.rabbit_api);
        let body = json!({"configure": ".*", "write": ".*", "read": ".*"});
        self.api(self.http.put(&perms).json(&body)).await?;
        Ok((
            name.clone(),
            format!("{base}/{name}"),
            format!("{}/{name}", self.amqp_base),
        ))
    }

    /// One management API call; a 5xx (seen now and then while RabbitMQ is
    /// busy deleting a large vhost) is retried twice, a second apart.
    async fn api(&self, request: reqwest::RequestBuilder) -> anyhow::Result<()> {
        let mut tries = 0;
        loop {
            tries += 1;
            let attempt = request.try_clone().context("a management API request")?;
            let response = attempt
                .basic_auth("guest", Some("guest"))
                .timeout(Duration::from_secs(30))
                .send()
                .await
                .context("RabbitMQ's management API (scripts/services enables it on 15672)")?;
            let status = response.status();
            if status.is_success() || status == 404 {
                return Ok(());
            }
            if !status.is_server_error() || tries == 3 {
                bail!("RabbitMQ management API answered {status}");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// RabbitMQ's alarms in effect (memory, disk), from its health check:
    /// `None` when there are none.
    pub async fn broker_alarms(&self) -> anyhow::Result<Option<String>> {
        let response = self
            .http
            .get(format!("{}/api/health/checks/alarms", self.rabbit_api))
            .basic_auth("guest", Some("guest"))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .context("RabbitMQ's management API (alarms)")?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Ok(if status.is_success() {
            None
        } else {
            Some(format!("HTTP {}: {text}", status.as_u16()))
        })
    }

    /// Drops a phase's database and vhost (its services must be stopped).
    pub async fn destroy(&self, name: &str) -> anyhow::Result<()> {
        let mut conn = PgConnection::connect(&self.admin_db_url).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut conn)
            .await
            .with_context(|| format!("dropping database {name}"))?;
        conn.close().await.ok();
        let url = format!("{}/api/vhosts/{name}", self.rabbit_api);
        self.api(self.http.delete(&url)).await?;
        self.remember(name, false);
        Ok(())
    }

    /// Removes whatever a failed or interrupted phase left, and this run's
    /// emails from the SMTP sink (only ours: others may be testing).
    pub async fn cleanup(&self) {
        let names = self
            .leftovers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for name in names {
            if let Err(e) = self.destroy(&name).await {
                eprintln!("bench: could not remove {name}: {e:#}");
            }
        }
        if let Err(e) = self.delete_emails().await {
            eprintln!("bench: could not delete this run's emails from MailDev: {e:#}");
        }
    }

    async fn delete_emails(&self) -> anyhow::Result<()> {
        let prefix = self.email_prefix();
        let all: Vec<Value> = self
            .http
            .get(format!("{}/api/email", self.maildev_url))
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
                .post(format!("{}/api/email/delete", self.maildev_url))
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
