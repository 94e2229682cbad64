//! webhook-worker's configuration, parsed once at start.

use std::{net::SocketAddr, time::Duration};

use shared::{
    config::{CommonConfig, ConfigError, Source, Vars},
    worker::ConsumerConfig,
};

use crate::schedule::RetrySchedule;

pub struct WebhookConfig {
    pub common: CommonConfig,
    /// `HEALTH_ADDR` (default `127.0.0.1:8003`), `WORKER_PREFETCH`
    /// (default 64: attempts in flight at once) and `MAX_DELIVERIES`.
    pub consumer: ConsumerConfig,
    pub delivery: DeliveryConfig,
}

/// How deliveries are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// `WEBHOOK_TIMEOUT`, default 10 s: an answer later than this is a
    /// failed attempt.
    pub timeout: Duration,
    /// `WEBHOOK_RETRY_SCHEDULE`, default `5s,5m,30m,2h,5h,10h,10h`: the
    /// delay before each retry; one attempt more than delays in all.
    pub schedule: RetrySchedule,
    /// `WEBHOOK_DISABLE_AFTER`, default 5 days: an endpoint whose every
    /// attempt failed for this long is disabled.
    pub disable_after: Duration,
    /// `WEBHOOK_ALLOW_PRIVATE_TARGETS`, default false: whether endpoints
    /// may resolve to loopback, private, link-local and other non-public
    /// addresses (development and tests only).
    pub allow_private_targets: bool,
    /// `APP_ENV=production`: endpoints must be `https://`.
    pub https_only: bool,
}

const DEFAULT_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

impl WebhookConfig {
    pub fn from_env(source: &dyn Source) -> Result<Self, ConfigError> {
        let vars = Vars(source);
        let common = CommonConfig::from_vars(&vars)?;
        let schedule = vars.string_or("WEBHOOK_RETRY_SCHEDULE", DEFAULT_SCHEDULE);
        let delivery = DeliveryConfig {
            timeout: vars.duration_or("WEBHOOK_TIMEOUT", Duration::from_secs(10))?,
            schedule: RetrySchedule::parse(&schedule)
                .map_err(|reason| ConfigError::new("WEBHOOK_RETRY_SCHEDULE", reason))?,
            disable_after: vars
                .duration_or("WEBHOOK_DISABLE_AFTER", Duration::from_secs(5 * 86_400))?,
            allow_private_targets: vars.parse_or("WEBHOOK_ALLOW_PRIVATE_TARGETS", false)?,
            https_only: common.app_env.is_production(),
        };
        if delivery.allow_private_targets && common.app_env.is_production() {
            // An SSRF hole by configuration: refused, not warned about.
            return Err(ConfigError::new(
                "WEBHOOK_ALLOW_PRIVATE_TARGETS",
                "must not be true with APP_ENV=production (it is for development and tests)",
            ));
        }
        Ok(Self {
            consumer: ConsumerConfig::from_vars(
                &vars,
                SocketAddr::from(([127, 0, 0, 1], 8003)),
                64,
            )?,
            delivery,
            common,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&'static str, &'static str)]) -> Result<WebhookConfig, &'static str> {
        let mut env: HashMap<&str, &str> = pairs.iter().copied().collect();
        env.entry("APP_ENV").or_insert("test");
        WebhookConfig::from_env(&env).map_err(|e| e.name)
    }

    #[test]
    fn defaults_hold_for_a_worker_left_alone() {
        let c = config(&[]).expect("defaults");
        assert_eq!(c.delivery.timeout, Duration::from_secs(10));
        assert_eq!(c.delivery.disable_after, Duration::from_secs(5 * 86_400));
        assert_eq!(c.delivery.schedule.retries(), 7);
        assert!(!c.delivery.allow_private_targets);
        assert!(!c.delivery.https_only);
        assert_eq!(c.consumer.prefetch, 64);
        assert_eq!(c.consumer.health_addr.port(), 8003);
    }

    #[test]
    fn malformed_values_are_named() {
        let cases: [(&[(&str, &str)], &str); 5] = [
            (&[("WEBHOOK_TIMEOUT", "soon")], "WEBHOOK_TIMEOUT"),
            (
                &[("WEBHOOK_RETRY_SCHEDULE", "5s,,5m")],
                "WEBHOOK_RETRY_SCHEDULE",
            ),
            (
                &[("WEBHOOK_RETRY_SCHEDULE", "5x")],
                "WEBHOOK_RETRY_SCHEDULE",
            ),
            (&[("WEBHOOK_DISABLE_AFTER", "0")], "WEBHOOK_DISABLE_AFTER"),
            (
                &[("WEBHOOK_ALLOW_PRIVATE_TARGETS", "yes")],
                "WEBHOOK_ALLOW_PRIVATE_TARGETS",
            ),
        ];
        for (pairs, name) in cases {
            assert_eq!(config(pairs).err(), Some(name), "{pairs:?}");
        }
    }

    #[test]
    fn tests_shorten_the_schedule_and_production_wants_https() {
        let c = config(&[
            ("WEBHOOK_RETRY_SCHEDULE", "1s,1s,1s"),
            ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
        ])
        .expect("config");
        assert_eq!(c.delivery.schedule.retries(), 3);
        assert!(c.delivery.allow_private_targets);
        let production = config(&[
            ("APP_ENV", "production"),
            (
                "PHI_ENCRYPTION_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            ),
            ("JWT_SECRET", "a-secret-long-enough-for-production-use-0123"),
        ])
        .expect("production config");
        assert!(production.delivery.https_only);
        let refused = config(&[
            ("APP_ENV", "production"),
            (
                "PHI_ENCRYPTION_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            ),
            ("JWT_SECRET", "a-secret-long-enough-for-production-use-0123"),
            ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
        ]);
        assert_eq!(refused.err(), Some("WEBHOOK_ALLOW_PRIVATE_TARGETS"));
    }
}
