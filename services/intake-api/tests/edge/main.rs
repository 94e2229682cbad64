//! The fast tier: intake-api's router driven in-process with `oneshot`,
//! no Postgres, RabbitMQ or SMTP (their pools point at a closed port and
//! connect lazily, and audit rows go to memory, so nothing here may need
//! them). What it covers is the HTTP edge:
//!
//! - `bodies`: envelopes, 400/404/405/413/415/422;
//! - `access`: authentication rejections and their audit rows, security
//!   headers, CORS, the client address, bounded metric labels;
//! - `document`: the OpenAPI document.

#![allow(clippy::unwrap_used)]

mod access;
mod bodies;
mod document;

use std::{collections::HashMap, net::SocketAddr};

use axum::{
    body::Body,
    extract::connect_info::MockConnectInfo,
    http::{header, Request, StatusCode},
    Router,
};
use http_body_util::BodyExt;
use intake_api::config::IntakeConfig;
use serde_json::{json, Value};
use shared::shutdown::Shutdown;
use tower::ServiceExt;

type Trail = std::sync::Arc<std::sync::Mutex<Vec<intake_api::Recorded>>>;

/// The configuration of a test router, with `env` over the test settings.
fn config(env: &[(&str, &str)]) -> IntakeConfig {
    let mut vars: HashMap<&str, &str> = HashMap::from([
        ("APP_ENV", "test"),
        // Closed ports: anything that reaches for them fails the test.
        ("DATABASE_URL", "postgres://nobody:x@127.0.0.1:9/none"),
        ("AMQP_URL", "amqp://nobody:x@127.0.0.1:9/none"),
        ("BCRYPT_ROUNDS", "4"),
        (
            "JWT_SECRET",
            "edge-tests-jwt-secret-long-enough-for-the-check",
        ),
        ("CORS_ALLOWED_ORIGINS", "https://app.example"),
    ]);
    vars.extend(env.iter().copied());
    IntakeConfig::from_env(&vars).unwrap()
}

/// The router as intake-api serves it, with `env` over a test setting.
async fn app_with(env: &[(&str, &str)]) -> Router {
    app_and_trail(env).await.0
}

/// The router, and the audit rows it writes (kept in memory).
async fn app_and_trail(env: &[(&str, &str)]) -> (Router, Trail) {
    let (_trigger, shutdown) = Shutdown::new();
    let (trail, rows) = intake_api::AuditTrail::memory();
    let app = intake_api::app_with_audit_trail(config(env), shutdown, trail)
        .await
        .unwrap()
        .layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 9], 40000))));
    (app, rows)
}

/// The audit rows written so far, as (action, outcome).
fn audited(rows: &Trail) -> Vec<(&'static str, &'static str)> {
    rows.lock()
        .unwrap()
        .iter()
        .map(|r| (r.action, r.outcome))
        .collect()
}

async fn app() -> Router {
    app_with(&[]).await
}

/// The OpenAPI document the router serves.
async fn spec() -> Answer {
    send(
        app().await,
        Request::get("/openapi.json").body(Body::empty()).unwrap(),
    )
    .await
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

async fn send(app: Router, request: Request<Body>) -> Answer {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

fn post(uri: &str, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut request = Request::post(uri);
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    request.body(body.into()).unwrap()
}

fn post_json(uri: &str, body: &Value) -> Request<Body> {
    post(uri, Some("application/json"), body.to_string())
}

/// The error envelope, exactly: `success`, `message`, `errors` and nothing else.
fn assert_error(answer: &Answer, status: u16, message: &str, errors: &Value) {
    assert_eq!(answer.status.as_u16(), status, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({"success": false, "message": message, "errors": errors})
    );
}

const REGISTER: &str = "/api/v1/patient/register";
const LOGIN: &str = "/api/v1/patient/login";
const VERIFY: &str = "/api/v1/patient/verify-email";
const RESEND: &str = "/api/v1/patient/resend-verification";
const JSON_ROUTES: [&str; 4] = [REGISTER, LOGIN, VERIFY, RESEND];
