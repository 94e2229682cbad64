//! intake-api: checks a registration's shape, records it, hands it to
//! RabbitMQ with a publisher confirm and answers 202 with a status URL.

mod accept;
mod accounts;
mod admission;
mod audit_trail;
mod auth;
mod batches;
pub mod config;
mod cors;
mod deactivation;
mod email_change;
mod error;
mod extract;
mod idempotency;
mod openapi;
mod outbox;
mod outcomes;
mod passwords;
mod phone_verification;
mod prefer;
mod profile;
mod profile_changes;
mod ratelimit;
mod recorder;
mod requests;
mod routes;
mod server;
mod sessions;
mod wire;

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use shared::{broker::Broker, crypto::Keyring, db, shutdown::Shutdown};
use sqlx::PgPool;

use crate::config::IntakeConfig;

/// What every handler shares: one reference count to bump per extractor
/// (axum clones the state for each `State` and each extractor that reads
/// it), not one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The fields of [`AppState`].
pub struct Shared {
    pub db: PgPool,
    pub broker: Broker,
    pub keyring: Arc<Keyring>,
    recorder: recorder::Recorder,
    full_queue: Arc<accept::FullQueue>,
    outcomes: outcomes::Outcomes,
    shutdown: Shutdown,
    cors: cors::Cors,
    accounts: Arc<Accounts>,
    partners: Arc<config::PartnersConfig>,
    limits: Arc<admission::RegisterLimits>,
    /// The key of the Idempotency-Key fingerprints.
    idempotency_secret: Arc<secrecy::SecretString>,
    audit: AuditTrail,
}

pub use audit_trail::{AuditTrail, Recorded};

/// Deletes expired idempotency keys, ended sessions, expired reset
/// tokens, old phone codes and old email changes every ten minutes until
/// shutdown.
fn spawn_sweeper(db: PgPool, ttl: std::time::Duration, shutdown: Shutdown) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            tokio::select! {
                _ = every.tick() => {},
                () = shutdown.clone().wait() => return,
            }
            match idempotency::sweep(&db, ttl).await {
                Ok(n) if n > 0 => tracing::info!(deleted = n, "expired idempotency keys swept"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not sweep idempotency keys"),
            }
            match sessions::sweep(&db).await {
                Ok(n) if n > 0 => {
                    tracing::info!(deleted = n, "ended sessions and reset tokens swept")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not sweep sessions"),
            }
            match phone_verification::sweep(&db).await {
                Ok(n) if n > 0 => tracing::info!(deleted = n, "old phone codes swept"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not sweep phone codes"),
            }
            match email_change::sweep(&db).await {
                Ok(n) if n > 0 => tracing::info!(deleted = n, "old email changes swept"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not sweep email changes"),
            }
        }
    });
}

/// What the account endpoints share.
pub(crate) struct Accounts {
    jwt: auth::Jwt,
    /// Verifies passwords at `BCRYPT_ROUNDS`, against a dummy hash of the
    /// same cost when the email is unknown.
    passwords: shared::password::PasswordHasher,
    config: config::AccountsConfig,
    /// Keyed by the SHA-256 of the email: no address is kept in memory.
    resend_per_email: Arc<ratelimit::RateLimiter<[u8; 32]>>,
    resend_per_client: Arc<ratelimit::RateLimiter<std::net::IpAddr>>,
    /// forgot-password requests, like resend's.
    reset_per_email: Arc<ratelimit::RateLimiter<[u8; 32]>>,
    reset_per_client: Arc<ratelimit::RateLimiter<std::net::IpAddr>>,
    /// Refresh and email-verification attempts per client address.
    token_per_client: Arc<ratelimit::RateLimiter<std::net::IpAddr>>,
    /// Attempts per client address at anything that checks or hashes a
    /// password (login, change and reset password), before any hashing.
    login_per_client: Arc<ratelimit::RateLimiter<std::net::IpAddr>>,
    /// Password checks in progress: at most `PASSWORD_VERIFY_MAX_CONCURRENT`.
    verifications: Arc<tokio::sync::Semaphore>,
}

impl Accounts {
    async fn new(
        jwt_secret: secrecy::SecretString,
        config: config::AccountsConfig,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            jwt: auth::Jwt::new(jwt_secret, config.jwt_ttl),
            passwords: shared::password::PasswordHasher::verifier(config.bcrypt_cost).await?,
            resend_per_email: Arc::new(ratelimit::RateLimiter::new(
                config.resend_per_email,
                config.resend_window,
            )),
            resend_per_client: Arc::new(ratelimit::RateLimiter::new(
                config.resend_per_client,
                config.resend_window,
            )),
            reset_per_email: Arc::new(ratelimit::RateLimiter::new(
                config.reset_per_email,
                config.reset_window,
            )),
            reset_per_client: Arc::new(ratelimit::RateLimiter::new(
                config.reset_per_client,
                config.reset_window,
            )),
            token_per_client: Arc::new(ratelimit::RateLimiter::new(
                config.token_per_client,
                Duration::from_secs(60),
            )),
            login_per_client: Arc::new(ratelimit::RateLimiter::new(
                config.login_per_client,
                Duration::from_secs(60),
            )),
            verifications: Arc::new(tokio::sync::Semaphore::new(
                config.password_verify_max_concurrent,
            )),
            config,
        })
    }
}

/// The whole HTTP application, without touching the network: the pools
/// connect lazily, so the router answers what needs neither Postgres nor
/// RabbitMQ (the fast test tier runs it in-process). Background tasks (the
/// outcome listener, the idempotency sweeper, the group-commit writer)
/// start here and stop with `shutdown`.
pub async fn app(config: IntakeConfig, shutdown: Shutdown) -> anyhow::Result<axum::Router> {
    build(config, shutdown, None).await
}

/// [`app`] with its audit rows going to `trail` (the in-process tests keep
/// them in memory).
pub async fn app_with_audit_trail(
    config: IntakeConfig,
    shutdown: Shutdown,
    trail: AuditTrail,
) -> anyhow::Result<axum::Router> {
    build(config, shutdown, Some(trail)).await
}

async fn build(
    config: IntakeConfig,
    shutdown: Shutdown,
    trail: Option<AuditTrail>,
) -> anyhow::Result<axum::Router> {
    let request_timeout = config.http.request_timeout;
    let db = db::pool(&config.common.database, config.common.db_max_connections);
    let broker = Broker::new(
        &config.common.amqp,
        config.common.topology.clone(),
        config.publish_channels,
    )?;
    let outcomes = outcomes::Outcomes::default();
    // LISTEN needs a session of its own: through PgBouncer in transaction
    // mode, DATABASE_LISTEN_URL names a direct connection.
    let listen = match &config.common.database_listen {
        Some(direct) => db::pool(direct, 1),
        None => db.clone(),
    };
    outcomes.clone().spawn_listener(listen, shutdown.clone());
    let audit = trail.unwrap_or_else(|| AuditTrail::postgres(db.clone()));
    let state = AppState(Arc::new(Shared {
        recorder: recorder::Recorder::spawn(db.clone()),
        full_queue: Arc::default(),
        db,
        broker,
        keyring: Arc::new(config.common.keyring),
        outcomes,
        shutdown: shutdown.clone(),
        cors: cors::Cors::new(config.cors_allowed_origins),
        limits: Arc::new(admission::RegisterLimits::new(&config.partners)),
        idempotency_secret: Arc::new(config.idempotency_secret),
        audit,
        partners: Arc::new(config.partners),
        accounts: Arc::new(Accounts::new(config.jwt_secret, config.accounts).await?),
    }));
    outbox::spawn_relay(state.db.clone(), state.broker.clone(), shutdown.clone());
    spawn_sweeper(
        state.db.clone(),
        state.partners.idempotency_ttl,
        shutdown.clone(),
    );
    ratelimit::spawn_sweeper(
        vec![
            state.accounts.resend_per_email.clone(),
            state.accounts.resend_per_client.clone(),
            state.accounts.login_per_client.clone(),
            state.accounts.reset_per_email.clone(),
            state.accounts.reset_per_client.clone(),
            state.accounts.token_per_client.clone(),
            state.limits.per_partner.clone(),
            state.limits.per_client.clone(),
        ],
        shutdown,
    );
    Ok(routes::router(state, request_timeout))
}

/// Migrates, binds and serves until `shutdown`; in-flight requests finish
/// before it returns.
pub async fn run(config: IntakeConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    let bind_addr = config.bind_addr;
    let limits = config.http.clone();
    let migrations = db::pool(&config.common.database_migration, 1);
    db::migrate(&migrations, Duration::from_secs(60))
        .await
        .context("applying migrations")?;
    migrations.close().await;
    let app = app(config, shutdown.clone()).await?;
    let listener = tokio::net::TcpListener::bind(bind_addr)
        .await
        .with_context(|| format!("binding {bind_addr}"))?;
    tracing::info!(addr = %bind_addr, "intake-api listening");
    server::serve(listener, app, &limits, shutdown).await;
    tracing::info!("intake-api stopped");
    Ok(())
}

/// The OpenAPI document this build serves at `/openapi.json`.
pub fn openapi_document() -> &'static str {
    openapi::document()
}
