//! Configuration is read once, at start, from the environment into typed
//! structs. A missing or malformed value is a [`ConfigError`] naming the
//! variable, which the binaries print as one line before exiting.

use std::{collections::HashMap, fmt::Display, str::FromStr, time::Duration};

use crate::{
    broker::Topology,
    crypto::Keyring,
    transport::{read_ca_pem, AmqpTarget, PgTarget, PlaintextPolicy},
};

/// A variable that is missing or malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{name}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub reason: String,
}

impl ConfigError {
    pub fn new(name: &'static str, reason: impl Into<String>) -> Self {
        Self {
            name,
            reason: reason.into(),
        }
    }
}

/// Where variables come from: the process environment, or a map in tests.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Source for HashMap<&str, &str> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).map(|v| (*v).to_owned())
    }
}

/// Reads typed values from a [`Source`]; an empty value counts as unset.
pub struct Vars<'a>(pub &'a dyn Source);

impl Vars<'_> {
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|v| !v.trim().is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name)
            .ok_or_else(|| ConfigError::new(name, "is required but not set"))
    }

    pub fn string_or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_owned())
    }

    pub fn parse_or<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e| ConfigError::new(name, format!("cannot parse {raw:?}: {e}"))),
        }
    }

    /// A duration as plain seconds (`90`) or with a unit (`90s`, `15m`, `24h`, `7d`).
    pub fn duration_or(
        &self,
        name: &'static str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => parse_duration(&raw).ok_or_else(|| {
                ConfigError::new(
                    name,
                    format!("{raw:?} is not a duration like 30s, 15m, 24h or 7d"),
                )
            }),
        }
    }
}

fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let (digits, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => raw.split_at(i),
        None => (raw, "s"),
    };
    let n: u64 = digits.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// Which rules apply: production refuses weak settings that test and
/// development tolerate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Production,
    Development,
    Test,
}

impl AppEnv {
    pub fn from_vars(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        match vars.string_or("APP_ENV", "production").as_str() {
            "production" => Ok(Self::Production),
            "development" => Ok(Self::Development),
            "test" => Ok(Self::Test),
            other => Err(ConfigError::new(
                "APP_ENV",
                format!("{other:?} is not one of production, development, test"),
            )),
        }
    }

    pub fn is_production(self) -> bool {
        self == Self::Production
    }
}

/// What every service needs: where Postgres and RabbitMQ are (and how the
/// connections are protected), and the keys that seal PHI.
pub struct CommonConfig {
    pub app_env: AppEnv,
    /// `DATABASE_URL` (with `DATABASE_CA_CERT`): the services' connections,
    /// possibly through PgBouncer in transaction mode.
    pub database: PgTarget,
    /// `DATABASE_MIGRATION_URL`, default `DATABASE_URL`: the role that owns
    /// the schema and applies migrations, so that the services themselves
    /// can connect as a role that may not alter it (nor the audit trail).
    /// Migrations hold a session lock: through a pooler this must be direct.
    pub database_migration: PgTarget,
    /// `DATABASE_LISTEN_URL`, when set: a direct connection for LISTEN,
    /// which a pooler in transaction mode would break. Unset, LISTEN uses
    /// `DATABASE_URL`.
    pub database_listen: Option<PgTarget>,
    /// `AMQP_URL` (one or several nodes, with `AMQP_CA_CERT`).
    pub amqp: AmqpTarget,
    /// Whether plaintext to other hosts is refused (SMTP and SMS read it too).
    pub plaintext: PlaintextPolicy,
    pub keyring: Keyring,
    pub db_max_connections: u32,
    /// `SHUTDOWN_TIMEOUT`, default 30 s: how long in-flight work may take
    /// to finish after SIGTERM.
    pub shutdown_timeout: Duration,
    /// The broker topology every service declares alike.
    pub topology: Topology,
}

impl CommonConfig {
    pub fn from_vars(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let app_env = AppEnv::from_vars(vars)?;
        let plaintext = PlaintextPolicy::from_vars(vars, app_env)?;
        let database_ca = read_ca_pem(vars, "DATABASE_CA_CERT")?;
        let database_url = vars.string_or(
            "DATABASE_URL",
            "postgres://postgres:postgres@127.0.0.1:5432/patient_registration",
        );
        let postgres = |name: &'static str, url: &str| {
            PgTarget::from_url(name, url, database_ca.as_ref(), plaintext)
        };
        let database = postgres("DATABASE_URL", &database_url)?;
        let database_migration = postgres(
            "DATABASE_MIGRATION_URL",
            &vars.string_or("DATABASE_MIGRATION_URL", &database_url),
        )?;
        let database_listen = match vars.get("DATABASE_LISTEN_URL") {
            Some(url) => Some(postgres("DATABASE_LISTEN_URL", &url)?),
            None => None,
        };
        let amqp = AmqpTarget::from_list(
            "AMQP_URL",
            &vars.string_or("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            read_ca_pem(vars, "AMQP_CA_CERT")?,
            plaintext,
        )?;
        let mut topology = Topology::default();
        topology.request_queue_max_length = vars.parse_or(
            "REQUEST_QUEUE_MAX_LENGTH",
            topology.request_queue_max_length,
        )?;
        Ok(Self {
            app_env,
            database,
            database_migration,
            database_listen,
            amqp,
            plaintext,
            keyring: Keyring::from_vars(vars, app_env)?,
            db_max_connections: vars.parse_or("DATABASE_MAX_CONNECTIONS", 10)?,
            shutdown_timeout: vars.duration_or("SHUTDOWN_TIMEOUT", Duration::from_secs(30))?,
            topology,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_plain_seconds_and_units() {
        let cases = [
            ("90", Some(90)),
            ("90s", Some(90)),
            ("15m", Some(900)),
            ("24h", Some(86_400)),
            ("7d", Some(604_800)),
            ("0", None),
            ("h", None),
            ("5w", None),
            ("-5", None),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_duration(raw).map(|d| d.as_secs()), want, "{raw}");
        }
    }

    #[test]
    fn unknown_app_env_is_named() {
        let env = HashMap::from([("APP_ENV", "staging")]);
        let err = AppEnv::from_vars(&Vars(&env)).err();
        assert_eq!(err.map(|e| e.name), Some("APP_ENV"));
    }

    #[test]
    fn malformed_database_url_is_named() {
        let env = HashMap::from([("DATABASE_URL", "mysql://x"), ("APP_ENV", "test")]);
        let err = CommonConfig::from_vars(&Vars(&env)).err();
        assert_eq!(err.map(|e| e.name), Some("DATABASE_URL"));
    }

    /// The service role and the migration role that `vars` configure.
    fn database_urls(vars: &[(&'static str, &'static str)]) -> Result<(String, String), String> {
        let env: HashMap<&str, &str> = vars.iter().copied().collect();
        let config = CommonConfig::from_vars(&Vars(&env)).map_err(|e| e.to_string())?;
        let user = |t: &PgTarget| t.options().get_username().to_owned();
        Ok((user(&config.database), user(&config.database_migration)))
    }

    #[test]
    fn migrations_run_as_the_service_role_unless_told_otherwise() {
        let app = "postgres://app:a@127.0.0.1:5432/db";
        assert_eq!(
            database_urls(&[("APP_ENV", "test"), ("DATABASE_URL", app)]),
            Ok(("app".to_owned(), "app".to_owned()))
        );
    }

    #[test]
    fn migrations_run_as_the_owner_when_database_migration_url_is_set() {
        let app = "postgres://app:a@127.0.0.1:5432/db";
        let owner = "postgresql://owner:o@127.0.0.1:5432/db";
        assert_eq!(
            database_urls(&[
                ("APP_ENV", "test"),
                ("DATABASE_URL", app),
                ("DATABASE_MIGRATION_URL", owner),
            ]),
            Ok(("app".to_owned(), "owner".to_owned()))
        );
        // Blank counts as unset, as for every variable.
        assert_eq!(
            database_urls(&[
                ("APP_ENV", "test"),
                ("DATABASE_URL", app),
                ("DATABASE_MIGRATION_URL", " "),
            ]),
            Ok(("app".to_owned(), "app".to_owned()))
        );
    }

    #[test]
    fn malformed_database_migration_url_is_named() {
        let env = HashMap::from([
            ("APP_ENV", "test"),
            ("DATABASE_MIGRATION_URL", "mysql://owner@x/db"),
        ]);
        let err = CommonConfig::from_vars(&Vars(&env)).err();
        assert_eq!(err.map(|e| e.name), Some("DATABASE_MIGRATION_URL"));
    }
}
