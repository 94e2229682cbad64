//! What every worker reads from the environment besides
//! [`crate::config::CommonConfig`]: where it answers health checks, how
//! many messages it holds, and how many deliveries a message gets.

use std::net::SocketAddr;

use crate::config::{ConfigError, Vars};

pub struct ConsumerConfig {
    /// `HEALTH_ADDR`: health checks and metrics.
    pub health_addr: SocketAddr,
    /// `WORKER_PREFETCH`: unacked messages in hand, at least 1.
    pub prefetch: u16,
    /// `MAX_DELIVERIES`, default 5: a message delivered this many times
    /// before is dead-lettered.
    pub max_deliveries: u64,
}

impl ConsumerConfig {
    /// Reads the variables, with this worker's defaults for the first two.
    pub fn from_vars(
        vars: &Vars<'_>,
        health_addr: SocketAddr,
        prefetch: u16,
    ) -> Result<Self, ConfigError> {
        let prefetch = vars.parse_or("WORKER_PREFETCH", prefetch)?;
        if prefetch == 0 {
            return Err(ConfigError::new("WORKER_PREFETCH", "must be at least 1"));
        }
        Ok(Self {
            health_addr: vars.parse_or("HEALTH_ADDR", health_addr)?,
            prefetch,
            max_deliveries: vars.parse_or("MAX_DELIVERIES", 5)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Variables set, and the prefetch and delivery limit or the variable
    /// named in the error.
    type Case = (
        &'static [(&'static str, &'static str)],
        Result<(u16, u64), &'static str>,
    );

    #[test]
    fn defaults_apply_and_malformed_values_are_named() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 8009));
        let cases: [Case; 5] = [
            (&[], Ok((3, 5))),
            (
                &[("WORKER_PREFETCH", "8"), ("MAX_DELIVERIES", "2")],
                Ok((8, 2)),
            ),
            (&[("WORKER_PREFETCH", "0")], Err("WORKER_PREFETCH")),
            (&[("MAX_DELIVERIES", "many")], Err("MAX_DELIVERIES")),
            (&[("HEALTH_ADDR", "localhost")], Err("HEALTH_ADDR")),
        ];
        for (pairs, want) in cases {
            let env: HashMap<&str, &str> = pairs.iter().copied().collect();
            let got = ConsumerConfig::from_vars(&Vars(&env), addr, 3)
                .map(|c| (c.prefetch, c.max_deliveries))
                .map_err(|e| e.name);
            assert_eq!(got, want, "{pairs:?}");
        }
    }
}
