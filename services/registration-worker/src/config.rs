//! registration-worker's configuration, parsed once at start.

use std::net::SocketAddr;

use shared::{
    config::{CommonConfig, ConfigError, Source, Vars},
    password::bcrypt_cost,
    worker::ConsumerConfig,
};

pub struct WorkerConfig {
    pub common: CommonConfig,
    /// `BCRYPT_ROUNDS`, default 12 (see [`bcrypt_cost`]).
    pub bcrypt_cost: u32,
    /// `HEALTH_ADDR` (default `127.0.0.1:8001`), `WORKER_PREFETCH` (unacked
    /// messages in hand, and so hashes in flight: default 2 × cores) and
    /// `MAX_DELIVERIES` (then the message is dead-lettered and its request
    /// marked failed).
    pub consumer: ConsumerConfig,
}

impl WorkerConfig {
    pub fn from_env(source: &dyn Source) -> Result<Self, ConfigError> {
        let vars = Vars(source);
        let common = CommonConfig::from_vars(&vars)?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let prefetch = u16::try_from(cores * 2).unwrap_or(4);
        Ok(Self {
            bcrypt_cost: bcrypt_cost(&vars, common.app_env)?,
            consumer: ConsumerConfig::from_vars(
                &vars,
                SocketAddr::from(([127, 0, 0, 1], 8001)),
                prefetch,
            )?,
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
