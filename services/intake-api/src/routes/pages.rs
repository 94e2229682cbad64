//! The pages a person opens from an email, under `PUBLIC_BASE_URL`:
//! `GET /verify-email?token=…` and `GET /reset-password?token=…` show a
//! form; only the form's POST uses the token, because mail scanners open
//! links. Server-rendered (askama), no JavaScript, no external assets, a
//! strict Content-Security-Policy (the one stylesheet is inline, allowed by
//! its hash); every answer is `no-store` and `no-referrer` (the token is in
//! the URL) through the router's hardening layer.

use std::sync::LazyLock;

use askama::Template;
use axum::{
    extract::{rejection::FormRejection, Query, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Form,
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use shared::{token::hash_token, validation::FieldErrors};

use crate::{
    error::ApiError,
    extract::{ClientAddr, Text},
    passwords,
    routes::verification,
    AppState,
};

const CSS: &str = include_str!("../../templates/page.css");

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
    token: Option<String>,
}

/// What a page's form posts (`application/x-www-form-urlencoded`): the
/// token from the link, and on the reset page the new password twice.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Posted {
    #[schema(required = true, min_length = 1, max_length = 512, pattern = r"\S")]
    token: Option<String>,
    #[schema(format = Password)]
    password: Option<String>,
    #[schema(format = Password)]
    confirm_password: Option<String>,
}

#[derive(Template)]
#[template(path = "verify_email.html")]
struct VerifyEmailPage<'a> {
    title: &'a str,
    tone: &'a str,
    css: &'a str,
    token: &'a str,
}

#[derive(Template)]
#[template(path = "reset_password.html")]
struct ResetPasswordPage<'a> {
    title: &'a str,
    tone: &'a str,
    css: &'a str,
    token: &'a str,
    password_errors: &'a [String],
    confirm_errors: &'a [String],
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
fn html(status: StatusCode, rendered: askama::Result<String>) -> Response {
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

fn outcome(status: StatusCode, title: &str, ok: bool, lines: &[&str]) -> Response {
    let page = OutcomePage {
        title,
        tone: if ok { "ok" } else { "failed" },
        css: CSS,
        lines,
    };
    html(status, page.render())
}

const VERIFY_FAILED: &str = "This verification link is invalid or has expired";
const VERIFY_FAILED_HINT: &str = "It may have been used already, or a newer email replaced it. \
    If your email is not verified yet, ask for a new verification email and use the link in it.";
const RESET_FAILED: &str = "This password reset link is invalid or has expired";
const RESET_FAILED_HINT: &str = "Reset links work once, for a limited time, and only the newest \
    one works. Ask for a new password reset email and use the link in it.";

/// A refusal other than the expected ones (throttled, busy, a dependency
/// down): the page says so with the API's message and status, and
/// `Retry-After` where the API gives one.
fn trouble(error: ApiError) -> Response {
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

fn usable(token: Option<String>) -> Option<String> {
    token
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty() && t.len() <= 512)
}

/// The verification page (HTML)
///
/// Where the verification email's link leads: a page with one button
/// whose form posts the token to `POST /verify-email`. Opening it uses
/// nothing (mail scanners open links). Without a token: the failure page.
#[utoipa::path(
    get,
    path = "/verify-email",
    tag = "pages",
    operation_id = "verify_email_page",
    params(Link),
    responses(
        (status = 200, description = "The page with its button", content_type = "text/html", body = String),
        (status = 400, description = "No token: the failure page", content_type = "text/html", body = String),
    )
)]
#[tracing::instrument(name = "verify_email_page", skip_all)]
pub async fn verify_email_page(Query(link): Query<Link>) -> Response {
    match usable(link.token) {
        Some(token) => html(
            StatusCode::OK,
            VerifyEmailPage {
                title: "Confirm your email address",
                tone: "",
                css: CSS,
                token: &token,
            }
            .render(),
        ),
        None => outcome(
            StatusCode::BAD_REQUEST,
            VERIFY_FAILED,
            false,
            &[VERIFY_FAILED_HINT],
        ),
    }
}

/// Verify an email address (HTML form)
///
/// The verification page's button: uses the token (as
/// `POST /api/v1/patient/verify-email` does) and answers a success page, or
/// one plain failure page for an unknown, used, revoked or expired token.
#[utoipa::path(
    post,
    path = "/verify-email",
    tag = "pages",
    operation_id = "verify_email_form",
    request_body(content = Posted, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Verified: the success page", content_type = "text/html", body = String),
        (status = 400, description = "The failure page", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts from this address: a page that says to wait",
            content_type = "text/html", body = String,
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
        (status = 503, description = "A dependency is down: a page that says to retry",
            content_type = "text/html", body = String),
    )
)]
#[tracing::instrument(name = "verify_email_form", skip_all)]
pub async fn verify_email_form(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    form: Result<Form<Posted>, FormRejection>,
) -> Response {
    let token = form.ok().and_then(|Form(posted)| usable(posted.token));
    let Some(token) = token else {
        return outcome(
            StatusCode::BAD_REQUEST,
            VERIFY_FAILED,
            false,
            &[VERIFY_FAILED_HINT],
        );
    };
    match verification::verify(&state, client, &hash_token(&token)).await {
        Ok(_) => outcome(
            StatusCode::OK,
            "Your email address is verified",
            true,
            &["Thank you. You can close this page and log in to your account."],
        ),
        Err(ApiError::BadRequest(_)) => outcome(
            StatusCode::BAD_REQUEST,
            VERIFY_FAILED,
            false,
            &[VERIFY_FAILED_HINT],
        ),
        Err(other) => trouble(other),
    }
}

fn reset_form(status: StatusCode, token: &str, errors: &FieldErrors) -> Response {
    let field = |key: &str| errors.get(key).map(<[String]>::to_vec).unwrap_or_default();
    let (password_errors, confirm_errors) = (field("password"), field("confirm_password"));
    html(
        status,
        ResetPasswordPage {
            title: "Choose a new password",
            tone: "",
            css: CSS,
            token,
            password_errors: &password_errors,
            confirm_errors: &confirm_errors,
        }
        .render(),
    )
}

/// The password reset page (HTML)
///
/// Where the reset email's link leads: a form for the new password and its
/// confirmation, posted to `POST /reset-password`. Opening it uses nothing.
#[utoipa::path(
    get,
    path = "/reset-password",
    tag = "pages",
    operation_id = "reset_password_page",
    params(Link),
    responses(
        (status = 200, description = "The form", content_type = "text/html", body = String),
        (status = 400, description = "No token: the failure page", content_type = "text/html", body = String),
    )
)]
#[tracing::instrument(name = "reset_password_page", skip_all)]
pub async fn reset_password_page(Query(link): Query<Link>) -> Response {
    match usable(link.token) {
        Some(token) => reset_form(StatusCode::OK, &token, &FieldErrors::new()),
        None => outcome(
            StatusCode::BAD_REQUEST,
            RESET_FAILED,
            false,
            &[RESET_FAILED_HINT],
        ),
    }
}

/// Reset a forgotten password (HTML form)
///
/// The reset page's form: the API's rule messages next to the fields
/// (422), the one failure page for an unusable token (400), or the success
/// page; throttled like `POST /api/v1/patient/reset-password`.
#[utoipa::path(
    post,
    path = "/reset-password",
    tag = "pages",
    operation_id = "reset_password_form",
    request_body(content = Posted, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The password is changed: the success page",
            content_type = "text/html", body = String),
        (status = 400, description = "The failure page", content_type = "text/html", body = String),
        (status = 422, description = "The form again, each rule's message next to its field",
            content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts from this address: a page that says to wait",
            content_type = "text/html", body = String,
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
        (status = 503, description = "Too busy, or a dependency is down: a page that says to retry",
            content_type = "text/html", body = String,
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
    )
)]
#[tracing::instrument(name = "reset_password_form", skip_all)]
pub async fn reset_password_form(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    form: Result<Form<Posted>, FormRejection>,
) -> Response {
    let Ok(Form(posted)) = form else {
        return outcome(
            StatusCode::BAD_REQUEST,
            RESET_FAILED,
            false,
            &[RESET_FAILED_HINT],
        );
    };
    let Some(token) = usable(posted.token) else {
        return outcome(
            StatusCode::BAD_REQUEST,
            RESET_FAILED,
            false,
            &[RESET_FAILED_HINT],
        );
    };
    let text = |value: Option<String>| value.map_or(Text::Missing, Text::Given);
    let mut errors = FieldErrors::new();
    let password = passwords::new_password(
        text(posted.password),
        text(posted.confirm_password),
        "password",
        "Password",
        &mut errors,
    );
    let password = match password {
        Some(password) if errors.is_empty() => password,
        _ => return reset_form(StatusCode::UNPROCESSABLE_ENTITY, &token, &errors),
    };
    match passwords::reset(&state, client, &token, &password).await {
        Ok(_) => outcome(
            StatusCode::OK,
            "Your password has been changed",
            true,
            &[
                "You can now log in with your new password.",
                "For your security, you have been signed out everywhere else.",
            ],
        ),
        Err(ApiError::BadRequest(_)) => outcome(
            StatusCode::BAD_REQUEST,
            RESET_FAILED,
            false,
            &[RESET_FAILED_HINT],
        ),
        Err(other) => trouble(other),
    }
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

    #[test]
    fn the_reset_form_puts_each_message_next_to_its_field() {
        let mut errors = FieldErrors::new();
        errors.add("password", "Password must contain a number");
        errors.add("confirm_password", "Passwords do not match");
        let response = reset_form(StatusCode::UNPROCESSABLE_ENTITY, "tok\"en", &errors);
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}
