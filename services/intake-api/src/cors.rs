//! CORS for browser clients on the origins listed in `CORS_ALLOWED_ORIGINS`
//! (none by default). An allowed origin's preflight gets the allowed
//! methods and headers, and its requests get `Access-Control-Allow-Origin`
//! and the exposed headers; any other origin gets no `Access-Control-*`
//! header at all, so browsers refuse to share the answer with it.
//! Hand-written rather than tower-http's `CorsLayer`, which answers every
//! `OPTIONS` and sends the allowed methods and headers to any origin.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// Wider than today's routes so that new ones need no change here; the
/// router still answers 405 to a method a route does not serve.
const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOW_HEADERS: &str =
    "content-type, authorization, prefer, idempotency-key, x-api-key, if-match";
const EXPOSE_HEADERS: &str = "location, retry-after, preference-applied, etag";
/// How long a browser may cache a preflight, in seconds.
const MAX_AGE: &str = "600";

/// The origins allowed to read answers from a browser.
#[derive(Clone, Default)]
pub struct Cors {
    origins: Arc<[HeaderValue]>,
}

impl Cors {
    pub fn new(origins: Vec<HeaderValue>) -> Self {
        Self {
            origins: origins.into(),
        }
    }

    /// The request's `Origin`, when it is one of ours.
    fn allowed<'a>(&self, headers: &'a HeaderMap) -> Option<&'a HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        self.origins
            .iter()
            .any(|o| o.as_bytes().eq_ignore_ascii_case(origin.as_bytes()))
            .then_some(origin)
    }
}

/// Answers preflights itself (204) and decorates every other answer.
pub async fn cors(State(cors): State<Cors>, request: Request, next: Next) -> Response {
    let origin = cors.allowed(request.headers()).cloned();
    let is_preflight = request.method() == Method::OPTIONS
        && request.headers().contains_key(header::ORIGIN)
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if is_preflight {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::VARY,
            HeaderValue::from_static(
                "origin, access-control-request-method, access-control-request-headers",
            ),
        );
        if let Some(origin) = origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOW_METHODS),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(MAX_AGE),
            );
        }
        return response;
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
    response
}

/// Parses `CORS_ALLOWED_ORIGINS`: comma-separated `scheme://host[:port]`
/// origins, http or https, without path; a trailing `/` is tolerated.
pub fn parse_origins(raw: &str) -> Result<Vec<HeaderValue>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(parse_origin)
        .collect()
}

fn parse_origin(item: &str) -> Result<HeaderValue, String> {
    let bad = |why: &str| format!("{item:?} is not an origin ({why})");
    if item == "*" {
        return Err(bad("a wildcard is not allowed: list each origin"));
    }
    let origin = item.strip_suffix('/').unwrap_or(item).to_ascii_lowercase();
    let (scheme, authority) = origin
        .split_once("://")
        .ok_or_else(|| bad("expected scheme://host[:port]"))?;
    if scheme != "http" && scheme != "https" {
        return Err(bad("the scheme must be http or https"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && !port.ends_with(']') => (host, Some(port)),
        _ => (authority, None),
    };
    let host_ok = if let Some(v6) = host.strip_prefix('[') {
        v6.strip_suffix(']')
            .is_some_and(|a| !a.is_empty() && a.chars().all(|c| c.is_ascii_hexdigit() || c == ':'))
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    if !host_ok {
        return Err(bad("expected scheme://host[:port], without path"));
    }
    if port.is_some_and(|p| p.parse::<u16>().map_or(true, |n| n == 0)) {
        return Err(bad("the port must be a number from 1 to 65535"));
    }
    HeaderValue::from_str(&origin).map_err(|_| bad("not a valid header value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_parsed_and_normalised() {
        let parsed =
            parse_origins(" https://Partner.example , http://localhost:3000/,,http://[::1]:8080");
        let parsed: Vec<String> = parsed
            .expect("valid origins")
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        assert_eq!(
            parsed,
            [
                "https://partner.example",
                "http://localhost:3000",
                "http://[::1]:8080"
            ]
        );
        assert_eq!(parse_origins("").map(|v| v.len()), Ok(0));
    }

    #[test]
    fn malformed_origins_are_refused() {
        for bad in [
            "*",
            "null",
            "partner.example",
            "ftp://partner.example",
            "https://partner.example/path",
            "https://user@partner.example",
            "https://partner.example:99999",
            "https://partner.example:0",
            "https://",
            "https://a b",
        ] {
            assert!(parse_origins(bad).is_err(), "{bad}");
        }
    }
}
