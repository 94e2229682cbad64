//! intake-api's configuration, parsed once at start.

use std::{net::SocketAddr, time::Duration};

use axum::http::HeaderValue;
use secrecy::SecretString;
use shared::config::{AppEnv, CommonConfig, ConfigError, Source, Vars};

pub struct IntakeConfig {
    pub common: CommonConfig,
    /// `BIND_ADDR`, default `127.0.0.1:8000`.
    pub bind_addr: SocketAddr,
    /// `JWT_SECRET`: required in production, at least 32 bytes.
    pub jwt_secret: SecretString,
    /// `PUBLIC_BASE_URL`: where clients reach this API.
    pub public_base_url: String,
    /// `PUBLISH_CHANNELS`: confirm-mode channels publishes are spread over;
    /// each carries many publishes awaiting their confirms at once.
    pub publish_channels: usize,
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins (`https://app.example`)
    /// whose pages may call this API from a browser; unset allows none.
    pub cors_allowed_origins: Vec<HeaderValue>,
    pub accounts: AccountsConfig,
    pub partners: PartnersConfig,
    pub http: HttpLimits,
    /// `IDEMPOTENCY_SECRET` (at least 32 bytes): the key of the
    /// Idempotency-Key fingerprints. Unset, one is derived from
    /// `JWT_SECRET` (HMAC with its own label), so it is never empty.
    pub idempotency_secret: SecretString,
}

/// Partner intake settings.
pub struct PartnersConfig {
    /// `REQUIRE_PARTNER_KEY`, default false: patients may register themselves.
    pub require_key: bool,
    /// `REGISTER_RATE_LIMIT_PER_PARTNER` per `RATE_LIMIT_WINDOW` (default 6000 per minute).
    pub per_partner: usize,
    /// `REGISTER_RATE_LIMIT_PER_CLIENT` per `RATE_LIMIT_WINDOW` for callers without a key (default 600 per minute).
    pub per_client: usize,
    pub window: Duration,
    /// `IDEMPOTENCY_KEY_TTL`, default 24 h (the least the contract allows).
    pub idempotency_ttl: Duration,
    /// `STATUS_CONTACT_TTL`, default 24 h: how long after a request settled
    /// its status answer still carries the patient's email and phone.
    pub status_contact_ttl: Duration,
    /// Partners' webhook endpoints: `WEBHOOK_MAX_ENDPOINTS` (default 10
    /// live ones per partner), `WEBHOOK_SECRET_GRACE` (default 24 h: how
    /// long a rotated-out secret still signs), https only in production.
    pub webhooks: shared::webhook_endpoints::Settings,
}

impl PartnersConfig {
    fn from_vars(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let idempotency_ttl =
            vars.duration_or("IDEMPOTENCY_KEY_TTL", Duration::from_secs(24 * 3600))?;
        if idempotency_ttl < Duration::from_secs(24 * 3600) {
            return Err(ConfigError::new(
                "IDEMPOTENCY_KEY_TTL",
                "must be at least 24h",
            ));
        }
        Ok(Self {
            require_key: vars.parse_or("REQUIRE_PARTNER_KEY", false)?,
            per_partner: vars.parse_or("REGISTER_RATE_LIMIT_PER_PARTNER", 6000)?,
            per_client: vars.parse_or("REGISTER_RATE_LIMIT_PER_CLIENT", 600)?,
            window: vars.duration_or("RATE_LIMIT_WINDOW", Duration::from_secs(60))?,
            idempotency_ttl,
            status_contact_ttl: vars
                .duration_or("STATUS_CONTACT_TTL", Duration::from_secs(24 * 3600))?,
            webhooks: shared::webhook_endpoints::Settings::from_vars(
                vars,
                AppEnv::from_vars(vars)?,
            )?,
        })
    }
}

/// Login and verification settings.
pub struct AccountsConfig {
    /// `BCRYPT_ROUNDS`, the cost the registration worker hashes at: login's
    /// dummy hash is made at it, so unknown emails take as long as wrong
    /// passwords.
    pub bcrypt_cost: u32,
    /// `JWT_TTL`, default 15 minutes.
    pub jwt_ttl: Duration,
    /// `LOGIN_MAX_FAILURES` within `LOGIN_LOCKOUT_WINDOW` lock one client
    /// address out of one account (default 5).
    pub login_max_failures: u32,
    /// `LOGIN_MAX_FAILURES_PER_ACCOUNT` per hour from all addresses lock the
    /// account (default 100, NIST SP 800-63B 5.2.2).
    pub login_max_failures_per_account: u32,
    /// `LOGIN_RATE_LIMIT_PER_CLIENT` login attempts per minute from one
    /// address (default 20), checked before any hashing.
    pub login_per_client: usize,
    /// `PASSWORD_VERIFY_MAX_CONCURRENT`: bcrypt verifications at once in this
    /// process (default: the number of cores); past it, 503 at once.
    pub password_verify_max_concurrent: usize,
    /// `LOGIN_LOCKOUT_WINDOW`, default 15 minutes.
    pub login_lockout_window: Duration,
    /// `RESEND_LIMIT_PER_EMAIL` per `RESEND_LIMIT_WINDOW` (default 3 per hour).
    pub resend_per_email: usize,
    /// `RESEND_LIMIT_PER_CLIENT` per `RESEND_LIMIT_WINDOW` (default 20 per hour).
    pub resend_per_client: usize,
    pub resend_window: Duration,
    /// `REFRESH_TOKEN_TTL`, default 30 days: how long a refresh token (and
    /// so an idle session) lasts; each exchange starts it again.
    pub refresh_ttl: Duration,
    /// `PASSWORD_RESET_LIMIT_PER_EMAIL` forgot-password requests per
    /// `PASSWORD_RESET_LIMIT_WINDOW` (default 3 per hour).
    pub reset_per_email: usize,
    /// `PASSWORD_RESET_LIMIT_PER_CLIENT` per `PASSWORD_RESET_LIMIT_WINDOW`
    /// (default 20 per hour).
    pub reset_per_client: usize,
    pub reset_window: Duration,
    /// `TOKEN_RATE_LIMIT_PER_CLIENT` per minute from one address (default
    /// 60) at the routes that take a token without a password: refresh and
    /// email verification (API and page). Each attempt is audited, so an
    /// anonymous flood of made-up tokens is bounded before it is stored.
    pub token_per_client: usize,
}

impl AccountsConfig {
    /// The lockout every password check is counted against.
    pub fn lockout(&self) -> crate::accounts::Lockout {
        crate::accounts::Lockout {
            per_address: self.login_max_failures,
            window: self.login_lockout_window,
            per_account: self.login_max_failures_per_account,
        }
    }

    fn from_vars(vars: &Vars<'_>, app_env: AppEnv) -> Result<Self, ConfigError> {
        Ok(Self {
            bcrypt_cost: shared::password::bcrypt_cost(vars, app_env)?,
            jwt_ttl: vars.duration_or("JWT_TTL", Duration::from_secs(15 * 60))?,
            login_max_failures: vars.parse_or("LOGIN_MAX_FAILURES", 5)?,
            login_max_failures_per_account: vars.parse_or("LOGIN_MAX_FAILURES_PER_ACCOUNT", 100)?,
            login_per_client: vars.parse_or("LOGIN_RATE_LIMIT_PER_CLIENT", 20)?,
            password_verify_max_concurrent: match vars
                .parse_or("PASSWORD_VERIFY_MAX_CONCURRENT", cores())?
            {
                0 => {
                    return Err(ConfigError::new(
                        "PASSWORD_VERIFY_MAX_CONCURRENT",
                        "must be at least 1",
                    ))
                }
                n => n,
            },
            login_lockout_window: vars
                .duration_or("LOGIN_LOCKOUT_WINDOW", Duration::from_secs(15 * 60))?,
            resend_per_email: vars.parse_or("RESEND_LIMIT_PER_EMAIL", 3)?,
            resend_per_client: vars.parse_or("RESEND_LIMIT_PER_CLIENT", 20)?,
            resend_window: vars.duration_or("RESEND_LIMIT_WINDOW", Duration::from_secs(3600))?,
            refresh_ttl: vars
                .duration_or("REFRESH_TOKEN_TTL", Duration::from_secs(30 * 24 * 3600))?,
            reset_per_email: vars.parse_or("PASSWORD_RESET_LIMIT_PER_EMAIL", 3)?,
            reset_per_client: vars.parse_or("PASSWORD_RESET_LIMIT_PER_CLIENT", 20)?,
            reset_window: vars
                .duration_or("PASSWORD_RESET_LIMIT_WINDOW", Duration::from_secs(3600))?,
            token_per_client: vars.parse_or("TOKEN_RATE_LIMIT_PER_CLIENT", 60)?,
        })
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
}

/// The HTTP server's own limits: slow or idle clients cannot hold it.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// `HTTP_MAX_CONNECTIONS`, default 4096: open connections at once;
    /// further ones wait in the listen backlog.
    pub max_connections: usize,
    /// `HTTP_HEADER_READ_TIMEOUT`, default 10 s: a connection that has not
    /// sent a whole request head by then is closed.
    pub header_read_timeout: Duration,
    /// `HTTP_REQUEST_TIMEOUT`, default 45 s (above `Prefer: wait`'s 30):
    /// a request not answered by then gets 408.
    pub request_timeout: Duration,
}

impl HttpLimits {
    fn from_vars(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let max_connections = vars.parse_or("HTTP_MAX_CONNECTIONS", 4096)?;
        if max_connections == 0 {
            return Err(ConfigError::new(
                "HTTP_MAX_CONNECTIONS",
                "must be at least 1",
            ));
        }
        Ok(Self {
            max_connections,
            header_read_timeout: vars
                .duration_or("HTTP_HEADER_READ_TIMEOUT", Duration::from_secs(10))?,
            request_timeout: vars.duration_or("HTTP_REQUEST_TIMEOUT", Duration::from_secs(45))?,
        })
    }
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
        let idempotency_secret = match vars.get("IDEMPOTENCY_SECRET") {
            Some(s) if s.len() < 32 => {
                return Err(ConfigError::new(
                    "IDEMPOTENCY_SECRET",
                    "must be at least 32 bytes",
                ))
            }
            Some(s) => s,
            None => crate::idempotency::derive_secret(&jwt_secret),
        };
        let jwt_secret = SecretString::from(jwt_secret);
        Ok(Self {
            bind_addr: vars.parse_or("BIND_ADDR", SocketAddr::from(([127, 0, 0, 1], 8000)))?,
            public_base_url: vars
                .string_or("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
                .trim_end_matches('/')
                .to_owned(),
            publish_channels: vars.parse_or("PUBLISH_CHANNELS", 4)?,
            cors_allowed_origins: crate::cors::parse_origins(
                &vars.string_or("CORS_ALLOWED_ORIGINS", ""),
            )
            .map_err(|reason| ConfigError::new("CORS_ALLOWED_ORIGINS", reason))?,
            accounts: AccountsConfig::from_vars(&vars, common.app_env)?,
            partners: PartnersConfig::from_vars(&vars)?,
            http: HttpLimits::from_vars(&vars)?,
            idempotency_secret: SecretString::from(idempotency_secret),

            jwt_secret,
            common,
        })
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

    #[test]
    fn cors_origins_are_listed_and_checked() {
        let env = HashMap::from([("APP_ENV", "test")]);
        let config = IntakeConfig::from_env(&env).expect("config");
        assert!(config.cors_allowed_origins.is_empty());
        let env = HashMap::from([
            ("APP_ENV", "test"),
            (
                "CORS_ALLOWED_ORIGINS",
                "https://a.example, http://localhost:3000",
            ),
        ]);
        let config = IntakeConfig::from_env(&env).expect("config");
        assert_eq!(config.cors_allowed_origins.len(), 2);
        let env = HashMap::from([
            ("APP_ENV", "test"),
            ("CORS_ALLOWED_ORIGINS", "https://a.example/app"),
        ]);
        let err = IntakeConfig::from_env(&env).err();
        assert_eq!(err.map(|e| e.name), Some("CORS_ALLOWED_ORIGINS"));
    }
}
