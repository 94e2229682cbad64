//! A partner's webhook endpoints in Postgres, for intake-api's partner
//! routes and `admin webhook` alike: created (at most
//! `WEBHOOK_MAX_ENDPOINTS` live ones per partner) with a fresh secret that
//! is sealed at rest, listed without secrets, deleted (softly: their
//! deliveries stay listed) and given a new secret while the previous one
//! keeps signing for `WEBHOOK_SECRET_GRACE`. Deliveries are in
//! [`deliveries`]; what a subscription may say is in [`subscription`].

mod deliveries;
mod subscription;

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{types::Json, PgPool};
use uuid::Uuid;

pub use deliveries::{
    list as list_deliveries, retry, Cursor, Delivery, DeliveryQuery, DeliveryStatus, Page, Retried,
    RetryError,
};
pub use subscription::{allowed_event_types, EndpointUrl, EventTypes, MAX_URL_CHARS};

use crate::{
    config::{AppEnv, ConfigError, Vars},
    crypto::Keyring,
    partner::PartnerId,
    webhook::Secret,
};

/// The rules both intake-api and admin apply.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// `WEBHOOK_MAX_ENDPOINTS`, default 10: live (not deleted) endpoints
    /// per partner.
    pub max_endpoints: u32,
    /// `WEBHOOK_SECRET_GRACE`, default 24 h: how long a rotated-out secret
    /// still signs deliveries beside the new one.
    pub secret_grace: Duration,
    /// In production (`APP_ENV=production`) endpoints must be `https`.
    pub https_only: bool,
}

impl Settings {
    pub fn from_vars(vars: &Vars<'_>, app_env: AppEnv) -> Result<Self, ConfigError> {
        let max_endpoints = vars.parse_or("WEBHOOK_MAX_ENDPOINTS", 10)?;
        if max_endpoints == 0 {
            return Err(ConfigError::new(
                "WEBHOOK_MAX_ENDPOINTS",
                "must be at least 1",
            ));
        }
        let secret_grace =
            vars.duration_or("WEBHOOK_SECRET_GRACE", Duration::from_secs(24 * 3600))?;
        if secret_grace > Duration::from_secs(30 * 24 * 3600) {
            return Err(ConfigError::new(
                "WEBHOOK_SECRET_GRACE",
                "must be at most 30 days",
            ));
        }
        Ok(Self {
            max_endpoints,
            secret_grace,
            https_only: app_env.is_production(),
        })
    }
}

/// Whose endpoints and deliveries a call may see: a partner's own, or (an
/// operator's `admin webhook`) everyone's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Partner(PartnerId),
    Operator,
}

impl Scope {
    /// The partner to filter on (`NULL` in SQL: everyone).
    fn partner(self) -> Option<Uuid> {
        match self {
            Self::Partner(PartnerId(id)) => Some(id),
            Self::Operator => None,
        }
    }
}

/// An endpoint as listed: never its secrets.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Endpoint {
    pub id: Uuid,
    pub partner_id: Uuid,
    pub url: String,
    pub event_types: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the previous secret still signs (only while it does).
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

const ENDPOINT_COLUMNS: &str = "id, partner_id, url, event_types, created_at, disabled_at, \
    failing_since, CASE WHEN previous_secret_expires_at > now() \
    THEN previous_secret_expires_at END AS previous_secret_expires_at";

/// What creating an endpoint did.
#[derive(Debug)]
pub enum Created {
    /// The endpoint, and its secret: the only time it is shown.
    Endpoint(Endpoint, Secret),
    /// The partner has `max_endpoints` live ones already.
    LimitReached,
}

/// Creates an endpoint with a new secret, sealed with `keyring` and bound
/// to the endpoint's id. The count and the insert are one step per partner
/// (a transaction-scoped advisory lock on the partner), so concurrent
/// requests cannot pass the limit together.
pub async fn create(
    db: &PgPool,
    keyring: &Keyring,
    max_endpoints: u32,
    partner: PartnerId,
    url: &EndpointUrl,
    event_types: &EventTypes,
) -> sqlx::Result<Created> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('webhook_endpoints:' || $1::text, 0))",
    )
    .bind(partner.0)
    .execute(&mut *tx)
    .await?;
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_endpoints WHERE partner_id = $1 AND deleted_at IS NULL",
    )
    .bind(partner.0)
    .fetch_one(&mut *tx)
    .await?;
    if live >= i64::from(max_endpoints) {
        return Ok(Created::LimitReached);
    }
    let id = Uuid::new_v4();
    let secret = Secret::generate();
    let endpoint: Endpoint = sqlx::query_as(&format!(
        "INSERT INTO webhook_endpoints (id, partner_id, url, event_types, secret) \
         VALUES ($1, $2, $3, $4, $5) RETURNING {ENDPOINT_COLUMNS}"
    ))
    .bind(id)
    .bind(partner.0)
    .bind(url.as_str())
    .bind(event_types.as_slice())
    .bind(Json(secret.seal(keyring, id)))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Created::Endpoint(endpoint, secret))
}

/// The live endpoints in `scope`, oldest first.
pub async fn list(db: &PgPool, scope: Scope) -> sqlx::Result<Vec<Endpoint>> {
    sqlx::query_as(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
         WHERE ($1::uuid IS NULL OR partner_id = $1) AND deleted_at IS NULL \
         ORDER BY partner_id, created_at, id"
    ))
    .bind(scope.partner())
    .fetch_all(db)
    .await
}

/// Deletes a live endpoint (softly); false when there is none in `scope`.
/// Its pending deliveries are failed by the webhook worker.
pub async fn delete(db: &PgPool, scope: Scope, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE webhook_endpoints SET deleted_at = now() \
         WHERE id = $1 AND ($2::uuid IS NULL OR partner_id = $2) AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(scope.partner())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A new secret, and until when the one it replaced still signs.
#[derive(Debug)]
pub struct Rotated {
    pub secret: Secret,
    pub previous_secret_expires_at: DateTime<Utc>,
}

/// Gives a live endpoint a new secret in one statement: the current one
/// becomes the previous one for `grace` (a previous one still in its grace
/// stops signing at once). `None` when there is no such endpoint in `scope`.
pub async fn rotate_secret(
    db: &PgPool,
    keyring: &Keyring,
    scope: Scope,
    id: Uuid,
    grace: Duration,
) -> sqlx::Result<Option<Rotated>> {
    let secret = Secret::generate();
    let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    let expires: Option<DateTime<Utc>> = sqlx::query_scalar(
        "UPDATE webhook_endpoints SET previous_secret = secret, \
             previous_secret_expires_at = now() + $3 * interval '1 millisecond', secret = $4 \
         WHERE id = $1 AND ($2::uuid IS NULL OR partner_id = $2) AND deleted_at IS NULL \
         RETURNING previous_secret_expires_at",
    )
    .bind(id)
    .bind(scope.partner())
    .bind(grace_ms)
    .bind(Json(secret.seal(keyring, id)))
    .fetch_optional(db)
    .await?;
    Ok(expires.map(|previous_secret_expires_at| Rotated {
        secret,
        previous_secret_expires_at,
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn settings_default_and_refuse_nonsense() {
        let vars: HashMap<&str, &str> = HashMap::new();
        let settings = Settings::from_vars(&Vars(&vars), AppEnv::Test).expect("defaults");
        assert_eq!(settings.max_endpoints, 10);
        assert_eq!(settings.secret_grace, Duration::from_secs(86_400));
        assert!(!settings.https_only);
        let production = Settings::from_vars(&Vars(&vars), AppEnv::Production).expect("defaults");
        assert!(production.https_only);
        for (name, value) in [
            ("WEBHOOK_MAX_ENDPOINTS", "0"),
            ("WEBHOOK_MAX_ENDPOINTS", "many"),
            ("WEBHOOK_SECRET_GRACE", "60d"),
            ("WEBHOOK_SECRET_GRACE", "soon"),
        ] {
            let vars = HashMap::from([(name, value)]);
            let err = Settings::from_vars(&Vars(&vars), AppEnv::Test).err();
            assert_eq!(err.map(|e| e.name), Some(name), "{name}={value}");
        }
    }
}
