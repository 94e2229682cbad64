//! The fast tier: intake-api's router driven in-process with `oneshot`,
//! no Postgres, RabbitMQ or SMTP (their pools point at a closed port and
//! connect lazily, so nothing here may need them). What it covers is the
//! HTTP edge: envelopes, 400/404/405/413/415/422, CORS, security headers,
//! authentication rejections and the OpenAPI document.

#![allow(clippy::unwrap_used)]

use std::{collections::HashMap, net::SocketAddr};

use axum::{
    body::Body,
    extract::connect_info::MockConnectInfo,
    http::{header, Method, Request, StatusCode},
    Router,
};
use http_body_util::BodyExt;
use intake_api::config::IntakeConfig;
use serde_json::{json, Value};
use shared::shutdown::Shutdown;
use tower::ServiceExt;

type Trail = std::sync::Arc<std::sync::Mutex<Vec<intake_api::Recorded>>>;

/// The router as intake-api serves it, with `env` over a test setting.
async fn app_with(env: &[(&str, &str)]) -> Router {
    app_and_trail(env).await.0
}

/// The router, and the audit rows it writes (kept in memory).
async fn app_and_trail(env: &[(&str, &str)]) -> (Router, Trail) {
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
    let config = IntakeConfig::from_env(&vars).unwrap();
    let (_trigger, shutdown) = Shutdown::new();
    let (trail, rows) = intake_api::AuditTrail::memory();
    let app = intake_api::app_with_audit_trail(config, shutdown, trail)
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

#[tokio::test]
async fn unknown_routes_and_methods_are_answered_in_the_envelope() {
    let app = app().await;
    let cases = [
        (
            Request::get("/nope").body(Body::empty()).unwrap(),
            404,
            "Route not found",
        ),
        (
            Request::get(REGISTER).body(Body::empty()).unwrap(),
            405,
            "Method not allowed",
        ),
        (
            Request::delete("/api/v1/patient/login")
                .body(Body::empty())
                .unwrap(),
            405,
            "Method not allowed",
        ),
    ];
    for (request, status, message) in cases {
        let answer = send(app.clone(), request).await;
        assert_error(&answer, status, message, &json!({}));
    }
}

#[tokio::test]
async fn bodies_that_are_not_json_are_refused_before_any_handler_runs() {
    let app = app().await;
    let too_large = format!("{{\"x\": \"{}\"}}", "a".repeat(65 * 1024));
    for route in JSON_ROUTES {
        let cases = [
            (
                post(route, None, "{}"),
                415,
                "Content-Type must be application/json",
            ),
            (
                post(route, Some("text/plain"), "{}"),
                415,
                "Content-Type must be application/json",
            ),
            (
                post(route, Some("application/json"), too_large.clone()),
                413,
                "Request body is too large (at most 64 KiB)",
            ),
            (
                post(route, Some("application/json"), "{\"a\":\n  ?}"),
                400,
                "Malformed JSON: expected value at line 2 column 3",
            ),
        ];
        for (request, status, message) in cases {
            let answer = send(app.clone(), request).await;
            assert_error(&answer, status, message, &json!({}));
        }
    }
}

#[tokio::test]
async fn small_bodies_name_every_missing_or_wrong_field() {
    let app = app().await;
    let cases = [
        (
            LOGIN,
            json!({}),
            json!({"email": ["Email is required"], "password": ["Password is required"]}),
        ),
        (
            LOGIN,
            json!({"email": 5, "password": "  "}),
            json!({"email": ["Email must be a string"], "password": ["Password is required"]}),
        ),
        (
            VERIFY,
            json!({"token": null}),
            json!({"token": ["Token is required"]}),
        ),
        (RESEND, json!({}), json!({"email": ["Email is required"]})),
        (
            RESEND,
            json!({"email": "not-an-email"}),
            json!({"email": ["Email is not a valid email address"]}),
        ),
        (
            LOGIN,
            json!(["a", "list"]),
            json!({"email": ["Email is required"], "password": ["Password is required"]}),
        ),
        (
            VERIFY,
            json!("a string"),
            json!({"token": ["Token is required"]}),
        ),
    ];
    for (route, body, errors) in cases {
        let answer = send(app.clone(), post_json(route, &body)).await;
        assert_error(&answer, 422, "Validation failed", &errors);
    }
}

#[tokio::test]
async fn a_registration_gets_every_field_error_at_once() {
    let mut body = shared::domain::registration_example();
    body["email"] = json!("nope");
    body["confirm_password"] = json!("Different123!");
    body["address"]["zip"] = json!("ABC");
    body["surprise"] = json!(true);
    let answer = send(app().await, post_json(REGISTER, &body)).await;
    assert_error(
        &answer,
        422,
        "Validation failed",
        &json!({
            "email": ["Email is not a valid email address"],
            "confirm_password": ["Passwords do not match"],
            "address.zip": ["ZIP code is not valid for US"],
            "surprise": ["Unknown field"],
        }),
    );
}

#[tokio::test]
async fn a_malformed_idempotency_key_is_refused() {
    let mut request = post_json(REGISTER, &shared::domain::registration_example());
    request
        .headers_mut()
        .insert("idempotency-key", "tab\there".parse().unwrap());
    let answer = send(app().await, request).await;
    assert_error(
        &answer,
        400,
        "Idempotency-Key must be 1 to 255 printable ASCII characters",
        &json!({}),
    );
}

#[tokio::test]
async fn a_missing_partner_key_is_refused_when_one_is_required() {
    let (app, rows) = app_and_trail(&[("REQUIRE_PARTNER_KEY", "true")]).await;
    let answer = send(
        app,
        post_json(REGISTER, &shared::domain::registration_example()),
    )
    .await;
    assert_error(&answer, 401, "An API key is required", &json!({}));
    assert_eq!(answer.headers[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(audited(&rows), [("partner_authentication", "key_required")]);
}

#[tokio::test]
async fn the_profile_needs_a_valid_access_token() {
    let (app, rows) = app_and_trail(&[]).await;
    let uri = "/api/v1/patient/profile/0b6f1c7e-8d1a-4a53-9d3e-2f1f5a9c7b10";
    let unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIwYjZmMWM3ZSJ9.";
    for authorization in [
        None,
        Some("Bearer"),
        Some("Bearer garbage"),
        Some("Basic x"),
        Some(unsigned),
    ] {
        let mut request = Request::get(uri);
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let answer = send(app.clone(), request.body(Body::empty()).unwrap()).await;
        assert_error(
            &answer,
            401,
            "Authentication required: a valid Bearer access token",
            &json!({}),
        );
        assert_eq!(answer.headers[header::WWW_AUTHENTICATE], "Bearer");
    }
    // Every refused read is audited.
    assert_eq!(audited(&rows), [("profile_read", "unauthenticated"); 5]);
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = app().await;
    let requests = [
        Request::get("/nope").body(Body::empty()).unwrap(),
        Request::get("/openapi.json").body(Body::empty()).unwrap(),
        post_json(LOGIN, &json!({})),
        post(REGISTER, None, ""),
    ];
    for request in requests {
        let answer = send(app.clone(), request).await;
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("cache-control", "no-store"),
            ("referrer-policy", "no-referrer"),
            ("x-frame-options", "DENY"),
        ] {
            assert_eq!(answer.headers[name], value, "{name} on {}", answer.status);
        }
    }
}

#[tokio::test]
async fn cors_lets_in_the_configured_origins_only() {
    let app = app().await;
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri(REGISTER)
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(Body::empty())
            .unwrap()
    };
    let allowed = send(app.clone(), preflight("https://app.example")).await;
    assert_eq!(allowed.status, StatusCode::NO_CONTENT);
    assert_eq!(
        allowed.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example"
    );
    let refused = send(app.clone(), preflight("https://evil.example")).await;
    assert!(!refused
        .headers
        .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
    let mut simple = post_json(LOGIN, &json!({}));
    simple
        .headers_mut()
        .insert(header::ORIGIN, "https://app.example".parse().unwrap());
    let answer = send(app, simple).await;
    assert_eq!(
        answer.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example"
    );
}

#[tokio::test]
async fn no_origin_is_let_in_unless_configured() {
    let app = app_with(&[("CORS_ALLOWED_ORIGINS", "")]).await;
    let preflight = Request::builder()
        .method(Method::OPTIONS)
        .uri(REGISTER)
        .header(header::ORIGIN, "https://app.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .body(Body::empty())
        .unwrap();
    let answer = send(app, preflight).await;
    let cors: Vec<_> = answer
        .headers
        .keys()
        .filter(|k| k.as_str().starts_with("access-control-"))
        .collect();
    assert!(cors.is_empty(), "{cors:?}");
}

#[tokio::test]
async fn the_router_refuses_to_serve_without_the_client_address() {
    let vars: HashMap<&str, &str> = HashMap::from([
        ("APP_ENV", "test"),
        ("DATABASE_URL", "postgres://nobody:x@127.0.0.1:9/none"),
        ("AMQP_URL", "amqp://nobody:x@127.0.0.1:9/none"),
        ("BCRYPT_ROUNDS", "4"),
    ]);
    let (_trigger, shutdown) = Shutdown::new();
    let app = intake_api::app(IntakeConfig::from_env(&vars).unwrap(), shutdown)
        .await
        .unwrap();
    let answer = send(app, post_json(LOGIN, &json!({}))).await;
    assert_error(&answer, 500, "Internal server error", &json!({}));
}

#[tokio::test]
async fn the_document_references_only_responses_it_declares() {
    let answer = send(
        app().await,
        Request::get("/openapi.json").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let spec = answer.body;
    let declared = spec["components"]["responses"].as_object().unwrap();
    for name in [
        "MalformedJson",
        "BearerRequired",
        "PayloadTooLarge",
        "UnsupportedMediaType",
        "RateLimited",
        "Unavailable",
        "Internal",
        "TimedOut",
    ] {
        let example = &declared[name]["content"]["application/json"]["examples"];
        let example = example.as_object().unwrap().values().next().unwrap();
        assert_eq!(example["value"]["success"], false, "{name}");
    }
    let text = spec.to_string();
    for reference in text.split("#/components/responses/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            declared.contains_key(name),
            "{name} is referenced, not declared"
        );
    }
    // The JSON routes document the answers their body extractor gives.
    for route in JSON_ROUTES {
        let responses = &spec["paths"][route]["post"]["responses"];
        for status in ["400", "413", "415", "422", "503"] {
            assert!(responses[status].is_object(), "{route} documents {status}");
        }
    }
}

/// A response, with a `$ref` to a shared one followed.
fn resolve<'a>(spec: &'a Value, response: &'a Value) -> &'a Value {
    match response["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/responses/");
            &spec["components"]["responses"][name]
        }
        None => response,
    }
}

#[tokio::test]
async fn the_document_lists_every_endpoint_with_its_answers() {
    let answer = send(
        app().await,
        Request::get("/openapi.json").body(Body::empty()).unwrap(),
    )
    .await;
    assert!(answer.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let spec = answer.body;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1."));
    let documented: [(&str, &str, &[&str]); 9] = [
        (
            REGISTER,
            "post",
            &[
                "201", "202", "400", "401", "408", "409", "413", "415", "422", "429", "500", "503",
            ],
        ),
        (
            "/api/v1/patient/registrations/{request_id}",
            "get",
            &["200", "404", "408", "500", "503"],
        ),
        (
            LOGIN,
            "post",
            &[
                "200", "400", "401", "403", "408", "413", "415", "422", "429", "500", "503",
            ],
        ),
        (
            VERIFY,
            "post",
            &["200", "400", "408", "413", "415", "422", "500", "503"],
        ),
        (
            RESEND,
            "post",
            &[
                "202", "400", "408", "413", "415", "422", "429", "500", "503",
            ],
        ),
        (
            "/api/v1/patient/profile/{patient_id}",
            "get",
            &["200", "401", "403", "404", "408", "500", "503"],
        ),
        ("/health/live", "get", &["200"]),
        ("/health/ready", "get", &["200", "503"]),
        ("/metrics", "get", &["200"]),
    ];
    for (path, method, statuses) in documented {
        let responses = spec["paths"][path][method]["responses"]
            .as_object()
            .unwrap();
        let mut listed: Vec<&str> = responses.keys().map(String::as_str).collect();
        listed.sort_unstable();
        assert_eq!(&listed, statuses, "{method} {path}");
    }
    let register = &spec["paths"][REGISTER]["post"];
    let responses = &register["responses"];
    let headers = &responses["202"]["headers"];
    assert!(headers["Location"].is_object() && headers["Retry-After"].is_object());
    assert!(headers["Idempotent-Replayed"].is_object());
    for status in ["409", "429", "503"] {
        let response = resolve(&spec, &responses[status]);
        assert!(
            response["headers"]["Retry-After"].is_object(),
            "register's {status} has no Retry-After"
        );
    }
    let header_parameter = |name: &str| {
        register["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == name && p["in"] == "header")
    };
    assert!(header_parameter("Prefer") && header_parameter("Idempotency-Key"));
    assert_eq!(
        register["requestBody"]["content"]["application/json"]["example"],
        shared::domain::registration_example()
    );

    // Partners' key is optional; the profile needs an access token.
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["api_key"]["in"], "header");
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    assert_eq!(schemes["bearer_auth"]["scheme"], "bearer");
    assert_eq!(register["security"], json!([{}, {"api_key": []}]));
    let profile = &spec["paths"]["/api/v1/patient/profile/{patient_id}"]["get"];
    assert_eq!(profile["security"], json!([{"bearer_auth": []}]));
    let profile_401 = resolve(&spec, &profile["responses"]["401"]);
    assert!(profile_401["headers"]["WWW-Authenticate"].is_object());
    let login = &spec["paths"][LOGIN]["post"]["responses"];
    assert!(login["401"]["headers"]["WWW-Authenticate"].is_object());
    assert!(login["429"]["headers"]["Retry-After"].is_object());
    let resend = &spec["paths"][RESEND]["post"]["responses"];
    assert!(resend["429"]["headers"]["Retry-After"].is_object());
    let gender = &spec["components"]["schemas"]["Gender"]["enum"];
    assert_eq!(
        gender,
        &json!(["male", "female", "other", "prefer_not_to_say"])
    );
}

#[tokio::test]
async fn the_request_schemas_state_the_rules_the_server_enforces() {
    let spec = send(
        app().await,
        Request::get("/openapi.json").body(Body::empty()).unwrap(),
    )
    .await
    .body;
    let schemas = &spec["components"]["schemas"];
    let body = &schemas["RegistrationBody"];
    assert_eq!(body["additionalProperties"], false);
    let property = |schema: &Value, name: &str| schema["properties"][name].clone();
    for (name, min, max) in [
        ("first_name", 2, 50),
        ("last_name", 2, 50),
        ("password", 8, 72),
    ] {
        let field = property(body, name);
        assert_eq!(
            (field["minLength"].as_u64(), field["maxLength"].as_u64()),
            (Some(min), Some(max)),
            "{name}"
        );
        assert!(field["pattern"].is_string(), "{name}");
    }
    assert_eq!(property(body, "email")["format"], "email");
    assert_eq!(property(body, "date_of_birth")["format"], "date");
    assert!(property(body, "phone_number")["pattern"].is_string());
    let address = &schemas["AddressBody"];
    assert_eq!(
        address["properties"]["country"]["enum"]
            .as_array()
            .map(Vec::len),
        Some(249)
    );
    assert!(address["allOf"]
        .as_array()
        .is_some_and(|rules| rules.len() == 8));
    // The small bodies: every field required, none blank.
    for (schema, fields) in [
        ("LoginRequest", &["email", "password"][..]),
        ("VerifyEmailRequest", &["token"]),
        ("ResendVerificationRequest", &["email"]),
    ] {
        let required = &schemas[schema]["required"];
        assert_eq!(required, &json!(fields), "{schema}");
        for field in fields {
            assert!(schemas[schema]["properties"][field]["minLength"].as_u64() >= Some(1));
        }
    }
}

/// Metric labels come from fixed sets: invented methods and paths add no
/// series after the first `other`/`unmatched` one.
#[tokio::test]
async fn invented_methods_and_paths_add_no_metric_series() {
    let app = app().await;
    let series = |app: Router| async move {
        let response = app
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        text.lines()
            .filter(|l| l.starts_with("http_request"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let weird = |n: usize| {
        let method = format!("X{}", "Y".repeat(900 + n));
        Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(format!("/x/{}", "z".repeat(n)))
            .body(Body::empty())
            .unwrap()
    };
    for n in 0..50 {
        let answer = send(app.clone(), weird(n)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
    }
    // The registry is the process's: other tests add their own series.
    let lines = series(app).await;
    assert!(lines
        .iter()
        .all(|l| !l.contains("YYYY") && !l.contains("zzz")));
    let other: Vec<_> = lines
        .iter()
        .filter(|l| l.starts_with("http_requests_total") && l.contains(r#"method="other""#))
        .collect();
    assert_eq!(other.len(), 1, "{other:?}");
    assert!(other[0].contains(r#"route="unmatched""#) && other[0].contains(r#"status="404""#));
}
