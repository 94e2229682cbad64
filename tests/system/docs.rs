//! API documentation and CORS end to end (the document's content is checked
//! in-process, in intake-api's `tests/edge.rs`): Swagger UI renders it in headless Chromium under its strict
//! Content-Security-Policy, and only listed origins get CORS headers.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::{Stack, StackOptions};

const PARTNER: &str = "https://partner.example";

async fn get(stack: &Stack, path: &str) -> reqwest::Response {
    stack
        .http
        .get(format!("{}{path}", stack.base_url))
        .send()
        .await
        .unwrap()
}

/// A CORS preflight for `POST /api/v1/patient/register` from `origin`.
async fn preflight(stack: &Stack, origin: &str) -> reqwest::Response {
    stack
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v1/patient/register", stack.base_url),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type, prefer")
        .send()
        .await
        .unwrap()
}

fn cors_headers(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map_or("", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn the_docs_page_is_served_under_a_strict_content_security_policy() {
    let stack = Stack::start().await;
    let page = get(&stack, "/docs").await;
    assert_eq!(page.status(), 200);
    let csp = header(&page, "content-security-policy").to_owned();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp:?}");
    }
    assert!(!csp.contains("unsafe-eval") && !csp.contains("script-src 'self' 'unsafe-inline'"));
    assert!(header(&page, "content-type").starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    assert!(!html.contains("<script>"), "no inline script: {html}");
    for asset in [
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-initializer.js",
        "/docs/swagger-ui.css",
    ] {
        let response = get(&stack, asset).await;
        assert_eq!(response.status(), 200, "{asset}");
        assert_eq!(header(&response, "content-security-policy"), csp, "{asset}");
    }
    assert_eq!(get(&stack, "/docs/nothing-here.js").await.status(), 404);
}

/// Renders `/docs` in headless Chromium and returns the DOM once scripts ran.
async fn chromium_dom(url: &str) -> String {
    let profile = std::env::temp_dir().join(format!("e2e-chromium-{}", uuid::Uuid::new_v4()));
    let run = tokio::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--virtual-time-budget=10000", "--dump-dom", url])
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(Duration::from_secs(120), run).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "chromium is not installed: this test needs it to render /docs. \
             Install it with scripts/install-chromium (apt-get install chromium)."
        ),
        Ok(Err(e)) => panic!("cannot run chromium: {e}"),
        Err(_) => panic!("chromium did not finish within 120 s"),
    };
    std::fs::remove_dir_all(&profile).ok();
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && !dom.is_empty(),
        "chromium failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Chromium logs the page's console, CSP violations included, as CONSOLE lines.
    assert!(
        !stderr.contains("Content Security Policy"),
        "the page broke its Content-Security-Policy:\n{stderr}"
    );
    if dom.contains("opblock-summary-path") {
        return dom;
    }
    panic!("Swagger UI rendered no operation.\nDOM:\n{dom}\nchromium stderr:\n{stderr}");
}

#[tokio::test]
async fn swagger_ui_lists_the_register_operation_in_headless_chromium() {
    let stack = Stack::start().await;
    let dom = chromium_dom(&format!("{}/docs", stack.base_url)).await;
    // Swagger UI breaks paths with zero-width spaces; its data-path is exact.
    let text = dom.replace(['\u{200b}'], "").replace("<wbr>", "");
    let operation = text
        .split("opblock-summary-path")
        .skip(1)
        .find(|block| block.contains("/api/v1/patient/register"));
    assert!(
        operation.is_some(),
        "no opblock lists /api/v1/patient/register:\n{dom}"
    );
    assert!(text.contains("/api/v1/patient/registrations/{request_id}"));
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let stack = Stack::start_with(StackOptions {
        env: vec![("CORS_ALLOWED_ORIGINS", PARTNER.into())],
    })
    .await;

    let allowed = preflight(&stack, PARTNER).await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(header(&allowed, "access-control-allow-origin"), PARTNER);
    assert!(header(&allowed, "access-control-allow-methods").contains("POST"));
    let allow_headers = header(&allowed, "access-control-allow-headers").to_lowercase();
    for name in [
        "content-type",
        "authorization",
        "prefer",
        "idempotency-key",
        "x-api-key",
        "if-match",
    ] {
        assert!(allow_headers.contains(name), "{name} in {allow_headers:?}");
    }

    let refused = preflight(&stack, "https://elsewhere.example").await;
    assert_eq!(cors_headers(&refused), Vec::<String>::new());

    let simple = |origin: &'static str| {
        stack
            .http
            .get(format!("{}/health/live", stack.base_url))
            .header("origin", origin)
            .send()
    };
    let response = simple(PARTNER).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "access-control-allow-origin"), PARTNER);
    let exposed = header(&response, "access-control-expose-headers").to_lowercase();
    for name in ["location", "retry-after", "preference-applied", "etag"] {
        assert!(exposed.contains(name), "{name} in {exposed:?}");
    }
    assert!(header(&response, "vary").to_lowercase().contains("origin"));
    let response = simple("https://elsewhere.example").await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(cors_headers(&response), Vec::<String>::new());
}
