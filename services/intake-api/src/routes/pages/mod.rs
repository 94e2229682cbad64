//! The pages a person opens from an email, under `PUBLIC_BASE_URL`:
//! `GET /verify-email?token=…`, `GET /reset-password?token=…` and
//! `GET /confirm-email-change?token=…` show a form; only the form's POST uses the token, because mail scanners open
//! links. Server-rendered (askama), no JavaScript, no external assets, a
//! strict Content-Security-Policy (the one stylesheet is inline, allowed by
//! its hash); every answer is `no-store` and `no-referrer` (the token is in
//! the URL) through the router's hardening layer.

pub mod email_change;
pub mod reset;
pub mod verify;

use std::sync::LazyLock;

use askama::Template;
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

const CSS: &str = include_str!("../../../templates/page.css");

/// `default-src 'none'`: nothing loads but the inline stylesheet, by hash;
/// forms post only here; no framing, no `<base>`.
static CSP: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = STANDARD.encode(Sha256::digest(CSS.as_bytes()));
    HeaderValue::try_from(format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    ))
    .expect("a CSP of ASCII is a valid header value")
});

/// The query of a link from an email.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Link {
    /// The token from the email's link.
    #[param(required = true, min_length = 1, max_length = 512, pattern = r"\S")]
    pub(super) token: Option<String>,
}

/// What a page's form posts (`application/x-www-form-urlencoded`): the
/// token from the link, and on the reset page the new password twice.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Posted {
    #[schema(required = true, min_length = 1, max_length = 512, pattern = r"\S")]
    pub(super) token: Option<String>,
    #[schema(format = Password)]
    pub(super) password: Option<String>,
    #[schema(format = Password)]
    pub(super) confirm_password: Option<String>,
}

#[derive(Template)]
#[template(path = "outcome.html")]
struct OutcomePage<'a> {
    title: &'a str,
    tone: &'a str,
    css: &'a str,
    lines: &'a [&'a str],
}

/// A rendered page with its status and the page CSP.
pub(super) fn html(status: StatusCode, rendered: askama::Result<String>) -> Response {
    match rendered {
        Ok(body) => {
            let mut response = (status, body).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            headers.insert(header::CONTENT_SECURITY_POLICY, CSP.clone());
            response
        }
        Err(e) => {
            ApiError::Internal(anyhow::Error::new(e).context("rendering a page")).into_response()
        }
    }
}

pub(super) fn outcome(status: StatusCode, title: &str, ok: bool, lines: &[&str]) -> Response {
    let page = OutcomePage {
        title,
        tone: if ok { "ok" } else { "failed" },
        css: CSS,
        lines,
    };
    html(status, page.render())
}

/// The one failure page of a link: what it says, and what to do.
pub(super) struct Failure {
    pub title: &'static str,
    pub hint: &'static str,
}

/// 400 with the failure page.
pub(super) fn failed(failure: &Failure) -> Response {
    outcome(
        StatusCode::BAD_REQUEST,
        failure.title,
        false,
        &[failure.hint],
    )
}

/// A refusal other than the expected ones (throttled, busy, a dependency
/// down): the page says so with the API's message and status, and
/// `Retry-After` where the API gives one.
pub(super) fn trouble(error: ApiError) -> Response {
    let mut api = error.into_response();
    let status = api.status();
    let retry_after = api.headers_mut().remove(header::RETRY_AFTER);
    let message = match status {
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts. Please wait a little and try again.",
        StatusCode::SERVICE_UNAVAILABLE => {
            "We cannot complete this right now. Please try again in a moment."
        }
        _ => "Something went wrong on our side. Please try again later.",
    };
    let mut page = outcome(status, "Please try again", false, &[message]);
    if let Some(value) = retry_after {
        page.headers_mut().insert(header::RETRY_AFTER, value);
    }
    page
}

pub(super) fn usable(token: Option<String>) -> Option<String> {
    token
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty() && t.len() <= 512)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csp_allows_exactly_the_inline_stylesheet() {
        let csp = CSP.to_str().expect("ascii");
        assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"));
        assert!(!csp.contains("unsafe"));
        let page = OutcomePage {
            title: "t",
            tone: "ok",
            css: CSS,
            lines: &["<script>x</script>"],
        }
        .render()
        .expect("renders");
        assert!(page.contains(&format!("<style>{CSS}</style>")));
        assert!(page.contains("&#60;script&#62;") || page.contains("&lt;script&gt;"));
        assert!(page
            .contains(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#));
    }
}
