//! The HTTP surface: routes, fallbacks in the error envelope, and the
//! middleware every response passes through.

pub(crate) mod batches;
pub(crate) mod deactivation;
mod docs;
pub(crate) mod email_change;
pub(crate) mod login;
pub(crate) mod pages;
pub(crate) mod partner;
pub(crate) mod password;
pub(crate) mod phone;
pub(crate) mod profile;
pub(crate) mod profile_update;
pub(crate) mod register;
pub(crate) mod session;
pub(crate) mod status;
pub(crate) mod verification;
pub(crate) mod webhooks;

use std::time::Instant;

use axum::{
    extract::{DefaultBodyLimit, MatchedPath, Request},
    http::{header, HeaderValue},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
    Router,
};
use shared::{
    health::{self, Probes},
    metrics::{HttpLabels, RouteLabels},
};

use crate::{error::ApiError, AppState};

/// Bodies above this are refused with 413 before they are read whole
/// (registration batches: [`batches::MAX_BATCH_BODY_BYTES`]).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn router(state: AppState, request_timeout: std::time::Duration) -> Router {
    let probes = Probes {
        db: state.db.clone(),
        broker: state.broker.clone(),
    };
    let cors = state.cors.clone();
    Router::new()
        .route("/api/v1/patient/register", post(register::register))
        .route(
            "/api/v1/patient/registrations/{request_id}",
            get(status::status),
        )
        .route(
            "/api/v1/patient/registration-batches",
            post(batches::submit::submit)
                .layer(DefaultBodyLimit::max(batches::MAX_BATCH_BODY_BYTES)),
        )
        .route(
            "/api/v1/patient/registration-batches/{batch_id}",
            get(batches::read::read),
        )
        .route(
            "/api/v1/patient/verify-email",
            post(verification::verify_email),
        )
        .route(
            "/api/v1/patient/resend-verification",
            post(verification::resend_verification),
        )
        .route(
            "/verify-email",
            get(pages::verify::verify_email_page).post(pages::verify::verify_email_form),
        )
        .route(
            "/reset-password",
            get(pages::reset::reset_password_page).post(pages::reset::reset_password_form),
        )
        .route(
            "/confirm-email-change",
            get(pages::email_change::confirm_email_change_page)
                .post(pages::email_change::confirm_email_change_form),
        )
        .route("/api/v1/partner/registrations", get(partner::registrations))
        .route("/api/v1/patient/login", post(login::login))
        .route("/api/v1/patient/token/refresh", post(session::refresh))
        .route("/api/v1/patient/logout", post(session::logout))
        .route(
            "/api/v1/patient/forgot-password",
            post(password::forgot_password),
        )
        .route(
            "/api/v1/patient/reset-password",
            post(password::reset_password),
        )
        .route(
            "/api/v1/patient/change-password",
            post(password::change_password),
        )
        .route(
            "/api/v1/patient/change-email",
            post(email_change::change_email),
        )
        .route(
            "/api/v1/patient/confirm-email-change",
            post(email_change::confirm_email_change),
        )
        .route(
            "/api/v1/patient/profile/{patient_id}",
            get(profile::profile)
                .patch(profile_update::update)
                .delete(deactivation::deactivate),
        )
        .route("/api/v1/patient/phone/verification", post(phone::request))
        .route(
            "/api/v1/patient/phone/verification/confirm",
            post(phone::confirm),
        )
        .route(
            "/api/v1/partner/webhook-endpoints",
            post(webhooks::endpoints::create).get(webhooks::endpoints::list),
        )
        .route(
            "/api/v1/partner/webhook-endpoints/{endpoint_id}",
            delete(webhooks::endpoints::delete),
        )
        .route(
            "/api/v1/partner/webhook-endpoints/{endpoint_id}/rotate-secret",
            post(webhooks::endpoints::rotate_secret),
        )
        .route(
            "/api/v1/partner/webhook-deliveries",
            get(webhooks::deliveries::list),
        )
        .route(
            "/api/v1/partner/webhook-deliveries/{delivery_id}/retry",
            post(webhooks::deliveries::retry),
        )
        .with_state(state)
        .merge(health::router(probes))
        .merge(docs::router())
        .fallback(|| async { ApiError::NotFound("Route not found") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            within(request_timeout, request, next)
        }))
        .layer(middleware::from_fn_with_state(cors, crate::cors::cors))
        .layer(middleware::from_fn(log_and_harden))
}

/// Answers 408 for a request not done within `HTTP_REQUEST_TIMEOUT`
/// (reading a slow body included); its handler is dropped.
async fn within(limit: std::time::Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::RequestTimeout.into_response(),
    }
}

/// Logs each request (method, route template, status, latency: never a
/// body or a raw path, which could carry a token) and adds the security
/// headers every answer needs. Nothing served here may be cached: answers
/// carry PHI or tokens.
async fn log_and_harden(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    let m = shared::metrics::metrics();
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let labels = RouteLabels {
        method: method.to_owned(),
        route,
    };
    m.http_duration
        .get_or_create(&labels)
        .observe(elapsed.as_secs_f64());
    tracing::info!(
        method,
        route = labels.route,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    m.http_requests
        .get_or_create(&HttpLabels {
            method: labels.method,
            route: labels.route,
            status: status.to_string(),
        })
        .inc();
    response
}

/// A method as metrics and logs name it: one of a fixed set, so a client
/// inventing methods cannot grow the label space (or the logs) at will.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    #[test]
    fn only_known_methods_are_named() {
        let cases = [
            ("GET", "GET"),
            ("HEAD", "HEAD"),
            ("POST", "POST"),
            ("PUT", "PUT"),
            ("PATCH", "PATCH"),
            ("DELETE", "DELETE"),
            ("OPTIONS", "OPTIONS"),
            ("TRACE", "other"),
            ("CONNECT", "other"),
            ("get", "other"),
            ("XYZZYXYZZYXYZZY", "other"),
        ];
        for (raw, want) in cases {
            let method = Method::from_bytes(raw.as_bytes()).expect("a method");
            assert_eq!(super::method_label(&method), want, "{raw}");
        }
    }
}
