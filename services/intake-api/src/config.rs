//! intake-api's configuration, parsed once at start.

use std::net::SocketAddr;

use secrecy::{ExposeSecret, SecretString};
use shared::config::{CommonConfig, ConfigError, Source, Vars};

pub struct IntakeConfig {
    pub common: CommonConfig,
    /// `BIND_ADDR`, default `127.0.0.1:8000`.
    pub bind_addr: SocketAddr,
    /// `JWT_SECRET`: required in production, at least 32 bytes.
    pub jwt_secret: SecretString,
    /// `PUBLIC_BASE_URL`: where clients reach this API.
    pub public_base_url: String,
    /// `PUBLISH_CHANNELS`: how many publishes may await their confirm at once.
    pub publish_channels: usize,
}

const DEVELOPMENT_JWT_SECRET: &str = "development-only-jwt-secret-never-in-production";

impl IntakeConfig {
    pub fn from_env(source: &dyn Source) -> Result<Self, ConfigError> {
        let vars = Vars(source);
        let common = CommonConfig::from_vars(&vars)?;
        let jwt_secret = match vars.get("JWT_SECRET") {
            Some(s) => s,
            None if !common.app_env.is_production() => DEVELOPMENT_JWT_SECRET.to_owned(),
            None => return Err(ConfigError::new("JWT_SECRET", "is required in production")),
        };
        if jwt_secret.len() < 32 {
            return Err(ConfigError::new("JWT_SECRET", "must be at least 32 bytes"));
        }
        let jwt_secret = SecretString::from(jwt_secret);
        Ok(Self {
            bind_addr: vars.parse_or("BIND_ADDR", SocketAddr::from(([127, 0, 0, 1], 8000)))?,
            public_base_url: vars
                .string_or("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
                .trim_end_matches('/')
                .to_owned(),
            publish_channels: vars.parse_or("PUBLISH_CHANNELS", 64)?,
            jwt_secret,
            common,
        })
    }

    pub fn jwt_secret(&self) -> &str {
        self.jwt_secret.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn production_refuses_to_start_without_secrets() {
        let env = HashMap::from([(
            "PHI_ENCRYPTION_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        )]);
        let err = IntakeConfig::from_env(&env).err();
        assert_eq!(err.map(|e| e.name), Some("JWT_SECRET"));
    }

    #[test]
    fn short_jwt_secrets_are_refused() {
        let env = HashMap::from([("APP_ENV", "test"), ("JWT_SECRET", "short")]);
        let err = IntakeConfig::from_env(&env).err();
        assert_eq!(
            err.map(|e| e.reason),
            Some("must be at least 32 bytes".into())
        );
    }

    #[test]
    fn defaults_bind_to_loopback() {
        let env = HashMap::from([("APP_ENV", "development")]);
        let config = IntakeConfig::from_env(&env).expect("config");
        assert_eq!(config.bind_addr.to_string(), "127.0.0.1:8000");
    }

    #[test]
    fn malformed_bind_addr_is_named() {
        let env = HashMap::from([("APP_ENV", "test"), ("BIND_ADDR", "nowhere")]);
        let err = IntakeConfig::from_env(&env).err();
        assert_eq!(err.map(|e| e.name), Some("BIND_ADDR"));
    }
}
