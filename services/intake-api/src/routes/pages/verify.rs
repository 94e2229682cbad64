//! The verification email's link: a page with one button, and the
//! button's POST, which alone uses the token.

use askama::Template;
use axum::{
    extract::{rejection::FormRejection, Query, State},
    http::StatusCode,
    response::Response,
    Form,
};
use shared::token::hash_token;

use super::{failed, html, outcome, trouble, usable, Failure, Link, Posted, CSS};
use crate::{error::ApiError, extract::ClientAddr, routes::verification, AppState};

const FAILED: Failure = Failure {
    title: "This verification link is invalid or has expired",
    hint: "It may have been used already, or a newer email replaced it. \
    If your email is not verified yet, ask for a new verification email and use the link in it.",
};

#[derive(Template)]
#[template(path = "verify_email.html")]
struct VerifyEmailPage<'a> {
    title: &'a str,
    tone: &'a str,
    css: &'a str,
    token: &'a str,
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
        None => failed(&FAILED),
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
        return failed(&FAILED);
    };
    match verification::verify(&state, client, &hash_token(&token)).await {
        Ok(_) => outcome(
            StatusCode::OK,
            "Your email address is verified",
            true,
            &["Thank you. You can close this page and log in to your account."],
        ),
        Err(ApiError::BadRequest(_)) => failed(&FAILED),
        Err(other) => trouble(other),
    }
}
