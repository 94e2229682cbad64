//! Who may call, from where, and what each call leaves behind: auth
//! rejections and their audit rows, security headers, CORS, the client
//! address, bounded metric labels.

use axum::http::Method;

use super::*;

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
async fn deactivation_needs_a_valid_access_token_before_its_body_is_judged() {
    let (app, rows) = app_and_trail(&[]).await;
    let uri = "/api/v1/patient/profile/0b6f1c7e-8d1a-4a53-9d3e-2f1f5a9c7b10";
    for body in [json!({"password": "SecurePassword123!"}), json!({})] {
        let request = Request::delete(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, "Bearer garbage")
            .body(Body::from(body.to_string()))
            .unwrap();
        let answer = send(app.clone(), request).await;
        assert_error(
            &answer,
            401,
            "Authentication required: a valid Bearer access token",
            &json!({}),
        );
        assert_eq!(answer.headers[header::WWW_AUTHENTICATE], "Bearer");
    }
    assert_eq!(
        audited(&rows),
        [("account_deactivate", "unauthenticated"); 2]
    );
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
    let (_trigger, shutdown) = Shutdown::new();
    let app = intake_api::app(config(&[]), shutdown).await.unwrap();
    let answer = send(app, post_json(LOGIN, &json!({}))).await;
    assert_error(&answer, 500, "Internal server error", &json!({}));
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
