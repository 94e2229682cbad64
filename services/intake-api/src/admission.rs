//! Who may register: a partner with a valid API key (`X-API-Key` or
//! `Authorization: Bearer`), or, unless `REQUIRE_PARTNER_KEY=true`, anyone.
//! Each caller is rate limited: partners per key, others per address.

use std::{net::IpAddr, time::Instant};

use axum::http::HeaderMap;
use shared::partner::{self, PartnerId};

use crate::{error::ApiError, AppState};

/// The caller of a registration.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub partner: Option<PartnerId>,
    pub client: IpAddr,
}

impl Caller {
    /// What idempotency keys are scoped to.
    pub fn scope(&self) -> String {
        self.partner.map(|p| p.0.to_string()).unwrap_or_default()
    }
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(key.trim());
    }
    crate::auth::bearer(headers)
}

pub async fn admit(
    state: &AppState,
    headers: &HeaderMap,
    client: IpAddr,
) -> Result<Caller, ApiError> {
    let config = &state.partners;
    let partner = match presented_key(headers) {
        Some(key) => Some(
            partner::authenticate(&state.db, key)
                .await
                .map_err(|e| ApiError::Unavailable(e.into()))?
                .ok_or(ApiError::Unauthorized("Invalid API key"))?,
        ),
        None if config.require_key => return Err(ApiError::Unauthorized("An API key is required")),
        None => None,
    };
    let now = Instant::now();
    let limited = match partner {
        Some(p) => state.limits.per_partner.check(p.0, now),
        None => state.limits.per_client.check(client, now),
    };
    limited.map_err(|retry_after| ApiError::TooManyRequests {
        message: "Too many requests. Please slow down.",
        retry_after,
    })?;
    Ok(Caller { partner, client })
}
