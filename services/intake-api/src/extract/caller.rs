//! Who is calling: a partner with a valid API key (`X-API-Key` or
//! `Authorization: Bearer`), or, unless `REQUIRE_PARTNER_KEY=true`, anyone;
//! and from which address. A refused key is audited.

use std::net::IpAddr;

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{request::Parts, HeaderMap},
};
use shared::{
    audit::{Action, Entry},
    partner::{self, PartnerId},
};

use crate::{error::ApiError, AppState};

/// The client's address, as the connection shows it, as one client: an
/// IPv4-mapped address is its IPv4 address, and an IPv6 address is its /64
/// (one host holds a whole /64, so per-address limits and lockouts count
/// the prefix). Served without connection info, the router fails closed
/// (500) rather than putting every client in one rate-limit bucket.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        ConnectInfo::<std::net::SocketAddr>::from_request_parts(parts, state)
            .await
            .map(|ConnectInfo(addr)| Self(one_client(addr.ip())))
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("no client address: {e}")))
    }
}

/// The address that stands for one client (see [`ClientAddr`]).
fn one_client(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !u128::from(u64::MAX),
            )),
        },
    }
}

/// The caller of a partner route.
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

/// Who a read comes from: the partner of a presented key, or `None` when
/// no key came (whatever `REQUIRE_PARTNER_KEY` says: it is about
/// registering). A key that is presented must be valid: 401, audited.
#[derive(Debug, Clone, Copy)]
pub struct MaybePartner(pub Option<PartnerId>);

impl FromRequestParts<AppState> for MaybePartner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ClientAddr(client) = ClientAddr::from_request_parts(parts, state).await?;
        identify(parts, state, client, false).await.map(Self)
    }
}

/// The partner of a partner-only route: a valid key is required (401,
/// audited, otherwise).
#[derive(Debug, Clone, Copy)]
pub struct Partner(pub PartnerId);

impl FromRequestParts<AppState> for Partner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ClientAddr(client) = ClientAddr::from_request_parts(parts, state).await?;
        identify(parts, state, client, true)
            .await?
            .map(Self)
            .ok_or_else(|| ApiError::Unauthorized("An API key is required"))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ClientAddr(client) = ClientAddr::from_request_parts(parts, state).await?;
        let partner = identify(parts, state, client, state.partners.require_key).await?;
        Ok(Self { partner, client })
    }
}

/// The partner whose key came with the request; `None` without a key
/// unless `required`. A refusal is audited.
async fn identify(
    parts: &Parts,
    state: &AppState,
    client: IpAddr,
    required: bool,
) -> Result<Option<PartnerId>, ApiError> {
    let (partner, refused) = match presented_key(&parts.headers) {
        Some(key) => match partner::authenticate(&state.db, key).await? {
            Some(partner) => (Some(partner), None),
            None => (None, Some(("invalid_key", "Invalid API key"))),
        },
        None if required => (None, Some(("key_required", "An API key is required"))),
        None => (None, None),
    };
    if let Some((outcome, message)) = refused {
        let client = client.to_string();
        let entry = Entry {
            action: Action::PartnerAuthentication,
            outcome,
            patient_id: None,
            request_id: None,
            client_addr: Some(&client),
        };
        state.audit.record(&entry).await?;
        return Err(ApiError::Unauthorized(message));
    }
    Ok(partner)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    #[test]
    fn an_ipv6_host_is_its_prefix() {
        let cases = [
            ("127.0.0.9", "127.0.0.9"),
            ("::ffff:10.1.2.3", "10.1.2.3"),
            ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::"),
            ("2001:db8:1:2::1", "2001:db8:1:2::"),
            ("2001:db8:1:3::1", "2001:db8:1:3::"),
            ("::1", "::"),
        ];
        for (raw, want) in cases {
            let ip: IpAddr = raw.parse().expect("an address");
            assert_eq!(super::one_client(ip).to_string(), want, "{raw}");
        }
    }
}
