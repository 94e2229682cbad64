//! The email change link, opened from the new address: a page with one
//! button, and the button's POST, which alone uses the token.

use askama::Template;
use axum::{
    extract::{rejection::FormRejection, Query, State},
    http::StatusCode,
    response::Response,
    Form,
};
use shared::token::hash_token;

use super::{failed, html, outcome, trouble, usable, Failure, Link, Posted, CSS};
use crate::{error::ApiError, extract::ClientAddr, routes::email_change, AppState};

const FAILED: Failure = Failure {
    title: "This email change link is invalid or has expired",
    hint: "It may have been used already, or a newer request replaced it. \
    Your email address has not changed. To change it, ask again from your account \
    and use the link in the newest email.",
};

const TAKEN: Failure = Failure {
    title: "This email address is already registered",
    hint: "Another account registered this address before you confirmed it, so your \
    email address has not changed. You can go on logging in with your current address.",
};

#[derive(Template)]
#[template(path = "confirm_email_change.html")]
struct ConfirmEmailChangePage<'a> {
    title: &'a str,
    tone: &'a str,
    css: &'a str,
    token: &'a str,
}

/// The email change page (HTML)
///
/// Where the link emailed to the new address leads: a page with one
/// button whose form posts the token to `POST /confirm-email-change`.
/// Opening it uses nothing (mail scanners open links). Without a token:
/// the failure page.
#[utoipa::path(
    get,
    path = "/confirm-email-change",
    tag = "pages",
    operation_id = "confirm_email_change_page",
    params(Link),
    responses(
        (status = 200, description = "The page with its button", content_type = "text/html", body = String),
        (status = 400, description = "No token: the failure page", content_type = "text/html", body = String),
    )
)]
#[tracing::instrument(name = "confirm_email_change_page", skip_all)]
pub async fn confirm_email_change_page(Query(link): Query<Link>) -> Response {
    match usable(link.token) {
        Some(token) => html(
            StatusCode::OK,
            ConfirmEmailChangePage {
                title: "Confirm your new email address",
                tone: "",
                css: CSS,
                token: &token,
            }
            .render(),
        ),
        None => failed(&FAILED),
    }
}

/// Confirm an email change (HTML form)
///
/// The page's button: uses the token (as
/// `POST /api/v1/patient/confirm-email-change` does) and answers a success
/// page; one failure page for an unknown, used, revoked or expired token;
/// another if the address was registered by another account meanwhile
/// (nothing changed).
#[utoipa::path(
    post,
    path = "/confirm-email-change",
    tag = "pages",
    operation_id = "confirm_email_change_form",
    request_body(content = Posted, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Changed: the success page", content_type = "text/html", body = String),
        (status = 400, description = "The failure page (an unusable link, or the address \
            taken meanwhile)", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts from this address: a page that says to wait",
            content_type = "text/html", body = String,
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
        (status = 503, description = "A dependency is down: a page that says to retry",
            content_type = "text/html", body = String),
    )
)]
#[tracing::instrument(name = "confirm_email_change_form", skip_all)]
pub async fn confirm_email_change_form(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    form: Result<Form<Posted>, FormRejection>,
) -> Response {
    let token = form.ok().and_then(|Form(posted)| usable(posted.token));
    let Some(token) = token else {
        return failed(&FAILED);
    };
    match email_change::confirm(&state, client, &hash_token(&token)).await {
        Ok(_) => outcome(
            StatusCode::OK,
            "Your email address has been changed",
            true,
            &[
                "From now on, log in with your new email address.",
                "You can close this page.",
            ],
        ),
        Err(ApiError::BadRequest(_)) => failed(&FAILED),
        Err(ApiError::Validation(_)) => failed(&TAKEN),
        Err(other) => trouble(other),
    }
}
