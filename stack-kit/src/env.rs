//! The environment every service is started with: its sandbox, the shared
//! SMTP sink, its address, its secrets, quiet logs and no rate limit. A
//! caller overrides or adds what it needs (`set`, `extend`) before it
//! starts a service; later changes apply to services started after them.

use std::collections::BTreeMap;

use crate::{Sandbox, Servers};

/// The JWT secret every stack signs with (long enough for the check).
pub const JWT_SECRET: &str = "stack-kit-jwt-secret-that-is-long-enough-to-pass";
/// A rate limit no stack reaches: the limits have their own tests, and
/// must never shape what is measured.
pub const NO_RATE_LIMIT: &str = "100000000";
/// The webhook retry schedule of every stack: a test sees every retry and
/// the final failure within seconds.
pub const WEBHOOK_RETRY_SCHEDULE: &str = "1s,1s,1s";

#[derive(Debug, Clone)]
pub struct ServiceEnv {
    port: u16,
    vars: BTreeMap<String, String>,
}

impl ServiceEnv {
    /// What every service needs to run against `sandbox`, with intake-api
    /// on `127.0.0.1:port` and PHI sealed with `phi_key` (base64).
    pub fn new(servers: &Servers, sandbox: &Sandbox, port: u16, phi_key: &str) -> Self {
        let base_url = format!("http://127.0.0.1:{port}");
        let vars = [
            ("APP_ENV", "test"),
            ("DATABASE_URL", &sandbox.database_url),
            ("AMQP_URL", &sandbox.amqp_url),
            ("SMTP_HOST", &servers.smtp_host),
            ("SMTP_PORT", &servers.smtp_port),
            ("SMTP_TLS", "none"),
            ("SMTP_FROM", "Patient Registration <no-reply@example.com>"),
            ("PUBLIC_BASE_URL", &base_url),
            ("BIND_ADDR", &format!("127.0.0.1:{port}")),
            ("PHI_ENCRYPTION_KEY", phi_key),
            ("JWT_SECRET", JWT_SECRET),
            ("RUST_LOG", "warn"),
            ("REGISTER_RATE_LIMIT_PER_CLIENT", NO_RATE_LIMIT),
            ("REGISTER_RATE_LIMIT_PER_PARTNER", NO_RATE_LIMIT),
            ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
            ("WEBHOOK_RETRY_SCHEDULE", WEBHOOK_RETRY_SCHEDULE),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect::<BTreeMap<_, _>>();
        let mut env = Self { port, vars };
        if let Some(ca) = &servers.ca_cert {
            let ca = ca.display().to_string();
            env.set("DATABASE_CA_CERT", &ca).set("AMQP_CA_CERT", ca);
        }
        env
    }

    /// intake-api's base URL (`http://127.0.0.1:<port>`).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sets (or overrides) one variable.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// Sets (or overrides) several.
    pub fn extend<K: Into<String>, V: Into<String>>(
        &mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> &mut Self {
        self.vars
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}
