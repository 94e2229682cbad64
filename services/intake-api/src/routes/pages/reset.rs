//! The reset email's link: a form for the new password, and its POST,
//! which shows the API's rule messages next to each field or sets it.

use askama::Template;
use axum::{
    extract::{rejection::FormRejection, Query, State},
    http::StatusCode,
    response::Response,
    Form,
};
use shared::validation::FieldErrors;

use super::{failed, html, outcome, trouble, usable, Failure, Link, Posted, CSS};
use crate::{
    error::ApiError,
    extract::{ClientAddr, Text},
    passwords, AppState,
};

const FAILED: Failure = Failure {
    title: "This password reset link is invalid or has expired",
    hint: "Reset links work once, for a limited time, and only the newest \
    one works. Ask for a new password reset email and use the link in it.",
};

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
        None => failed(&FAILED),
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
        return failed(&FAILED);
    };
    let Some(token) = usable(posted.token) else {
        return failed(&FAILED);
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
        Err(ApiError::BadRequest(_)) => failed(&FAILED),
        Err(other) => trouble(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reset_form_puts_each_message_next_to_its_field() {
        let page = ResetPasswordPage {
            title: "t",
            tone: "",
            css: CSS,
            token: "tok\"en",
            password_errors: &["Password must contain a number".to_owned()],
            confirm_errors: &["Passwords do not match".to_owned()],
        }
        .render()
        .expect("renders");
        let after = |id: &str| {
            page.split(&format!("id=\"{id}\">"))
                .nth(1)
                .unwrap_or_default()
                .to_owned()
        };
        assert!(
            after("password-errors").starts_with("<li>Password must contain a number</li>"),
            "{page}"
        );
        assert!(
            after("confirm-errors").starts_with("<li>Passwords do not match</li>"),
            "{page}"
        );
        assert!(
            !page.contains("tok\"en"),
            "the token is escaped in its attribute"
        );
        let response = reset_form(StatusCode::UNPROCESSABLE_ENTITY, "t", &FieldErrors::new());
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}
