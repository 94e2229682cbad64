//! registration-worker's configuration, parsed once at start.

use std::net::SocketAddr;

use shared::config::{AppEnv, CommonConfig, ConfigError, Source, Vars};

/// The lowest bcrypt cost allowed outside `APP_ENV=test`.
pub const MIN_BCRYPT_COST: u32 = 12;

pub struct WorkerConfig {
    pub common: CommonConfig,
    /// `BCRYPT_ROUNDS`, default 12.
    pub bcrypt_cost: u32,
    /// `HEALTH_ADDR`, default `127.0.0.1:8001`.
    pub health_addr: SocketAddr,
    /// `WORKER_PREFETCH`: unacked messages in hand (and hashes in flight).
    pub prefetch: u16,
    /// `MAX_DELIVERIES`: after this many deliveries a message is dead-lettered
    /// and its request marked failed.
    pub max_deliveries: u64,
}

impl WorkerConfig {
    pub fn from_env(source: &dyn Source) -> Result<Self, ConfigError> {
        let vars = Vars(source);
        let common = CommonConfig::from_vars(&vars)?;
        let bcrypt_cost: u32 = vars.parse_or("BCRYPT_ROUNDS", MIN_BCRYPT_COST)?;
        if !(4..=31).contains(&bcrypt_cost) {
            return Err(ConfigError::new(
                "BCRYPT_ROUNDS",
                "must be between 4 and 31",
            ));
        }
        if bcrypt_cost < MIN_BCRYPT_COST && common.app_env != AppEnv::Test {
            return Err(ConfigError::new(
                "BCRYPT_ROUNDS",
                format!("must be at least {MIN_BCRYPT_COST} (lower values are allowed only with APP_ENV=test)"),
            ));
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let prefetch = vars.parse_or("WORKER_PREFETCH", u16::try_from(cores * 2).unwrap_or(4))?;
        if prefetch == 0 {
            return Err(ConfigError::new("WORKER_PREFETCH", "must be at least 1"));
        }
        Ok(Self {
            bcrypt_cost,
            health_addr: vars.parse_or("HEALTH_ADDR", SocketAddr::from(([127, 0, 0, 1], 8001)))?,
            prefetch,
            max_deliveries: vars.parse_or("MAX_DELIVERIES", 5)?,
            common,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn bcrypt_cost_below_twelve_needs_the_test_environment() {
        let cases = [
            ("development", "11", Some("BCRYPT_ROUNDS")),
            ("test", "4", None),
            ("development", "12", None),
            ("test", "3", Some("BCRYPT_ROUNDS")),
            ("test", "twelve", Some("BCRYPT_ROUNDS")),
        ];
        for (app_env, rounds, want) in cases {
            let env = HashMap::from([("APP_ENV", app_env), ("BCRYPT_ROUNDS", rounds)]);
            let got = WorkerConfig::from_env(&env).err().map(|e| e.name);
            assert_eq!(got, want, "{app_env} {rounds}");
        }
    }

    #[test]
    fn default_cost_is_twelve() {
        let env = HashMap::from([("APP_ENV", "development")]);
        assert_eq!(
            WorkerConfig::from_env(&env).map(|c| c.bcrypt_cost).ok(),
            Some(12)
        );
    }
}
