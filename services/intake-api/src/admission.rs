//! Who may register: any [`Caller`], within its rate limit (partners per
//! key, `REGISTER_RATE_LIMIT_PER_PARTNER`; others per address,
//! `REGISTER_RATE_LIMIT_PER_CLIENT`), checked before the body is read.

use std::{sync::Arc, time::Instant};

use axum::{extract::FromRequestParts, http::request::Parts};

use crate::{
    error::ApiError,
    extract::{Caller, RATE_LIMITED},
    ratelimit::RateLimiter,
    AppState,
};

/// Registration rate limits: per partner key, and per address for callers
/// without a key.
pub struct RegisterLimits {
    pub per_partner: Arc<RateLimiter<uuid::Uuid>>,
    pub per_client: Arc<RateLimiter<std::net::IpAddr>>,
}

impl RegisterLimits {
    pub fn new(config: &crate::config::PartnersConfig) -> Self {
        Self {
            per_partner: Arc::new(RateLimiter::new(config.per_partner, config.window)),
            per_client: Arc::new(RateLimiter::new(config.per_client, config.window)),
        }
    }
}

/// A caller let in to register.
pub struct Admitted(pub Caller);

impl FromRequestParts<AppState> for Admitted {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let now = Instant::now();
        let limited = match caller.partner {
            Some(p) => state.limits.per_partner.check(p.0, now),
            None => state.limits.per_client.check(caller.client, now),
        };
        limited.map_err(|retry_after| ApiError::TooManyRequests {
            message: RATE_LIMITED,
            retry_after,
        })?;
        Ok(Self(caller))
    }
}
