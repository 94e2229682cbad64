//! Where a webhook may go, checked when it is sent: an `http(s)` URL
//! (`https` only in production), and unless private targets are allowed,
//! a host that is a public address or resolves only to public addresses
//! (see [`crate::address`]). Names are resolved by [`PublicOnly`], the
//! HTTP client's own resolver, so the connection goes only to addresses
//! that were checked (no second lookup a DNS rebinding could answer
//! differently); an IP-literal host never reaches a resolver and is
//! checked here.

use std::net::{IpAddr, SocketAddr};

use reqwest::{
    dns::{Addrs, Name, Resolve, Resolving},
    Url,
};

use crate::address::is_public;

/// What endpoints may be.
#[derive(Debug, Clone, Copy)]
pub struct TargetPolicy {
    pub https_only: bool,
    pub allow_private: bool,
}

/// Why a URL was not sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    InvalidUrl,
    ForbiddenAddress,
}

impl TargetPolicy {
    /// The URL to POST to, if this endpoint's may be.
    pub fn check(&self, raw: &str) -> Result<Url, Refusal> {
        let url = Url::parse(raw).map_err(|_| Refusal::InvalidUrl)?;
        match url.scheme() {
            "https" => {}
            "http" if !self.https_only => {}
            _ => return Err(Refusal::InvalidUrl),
        }
        // The parser has normalised an IP literal (`0x7f.1` is 127.0.0.1);
        // an IPv6 one is bracketed.
        let host = url.host_str().ok_or(Refusal::InvalidUrl)?;
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        match literal {
            Some(ip) if !self.allow_private && !is_public(ip) => Err(Refusal::ForbiddenAddress),
            _ => Ok(url),
        }
    }
}

/// A host resolved to an address that is not public.
#[derive(Debug, thiserror::Error)]
#[error("the host resolves to an address that is not public")]
pub struct ForbiddenAddress;

/// Resolves with the system resolver and refuses a name unless every
/// address it resolves to is public.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if addrs.is_empty() || addrs.iter().any(|a| !is_public(a.ip())) {
                return Err(Box::new(ForbiddenAddress) as _);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Whether an error was (or was caused by) a refused address.
pub fn is_forbidden_address(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<ForbiddenAddress>() {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_against_the_policy() {
        let strict = TargetPolicy {
            https_only: true,
            allow_private: false,
        };
        let lax = TargetPolicy {
            https_only: false,
            allow_private: true,
        };
        let (invalid, forbidden) = (Err(Refusal::InvalidUrl), Err(Refusal::ForbiddenAddress));
        let cases = [
            ("https://hooks.example.com/in", Ok(()), Ok(())),
            ("http://hooks.example.com/in", invalid, Ok(())),
            ("ftp://hooks.example.com/in", invalid, invalid),
            ("not a url", invalid, invalid),
            ("https://127.0.0.1/in", forbidden, Ok(())),
            (
                "https://169.254.169.254/latest/meta-data",
                forbidden,
                Ok(()),
            ),
            ("https://[::1]:8443/in", forbidden, Ok(())),
            ("https://[::ffff:10.0.0.1]/in", forbidden, Ok(())),
            ("https://0x7f.1/in", forbidden, Ok(())),
            ("https://8.8.8.8/in", Ok(()), Ok(())),
        ];
        for (url, want_strict, want_lax) in cases {
            assert_eq!(strict.check(url).map(drop), want_strict, "{url} (strict)");
            assert_eq!(lax.check(url).map(drop), want_lax, "{url} (lax)");
        }
    }

    #[tokio::test]
    async fn names_that_resolve_to_loopback_are_refused() {
        let name: Name = "localhost".parse().expect("a name");
        let resolved = PublicOnly.resolve(name).await;
        let error = resolved.err().expect("refused");
        assert!(is_forbidden_address(error.as_ref()), "{error}");
    }
}
