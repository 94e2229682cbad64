//! The sender against a local endpoint: what it sends, and how each way an
//! attempt can go wrong is classed.

use std::sync::{Arc, Mutex};

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};

use super::*;

/// What the endpoint saw: each request's headers and body.
type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A local endpoint: `/ok` answers 204, `/fail` 503, `/moved` a redirect
/// to `/ok`, `/slow` after two seconds; it records every request.
async fn endpoint() -> (String, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route("/{path}", post(answer))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("127.0.0.1:{port}"), seen)
}

async fn answer(
    State(seen): State<Seen>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    seen.lock().expect("seen").push((headers, body.to_vec()));
    match path.as_str() {
        "fail" => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        "moved" => (StatusCode::FOUND, [("location", "/ok")]).into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            StatusCode::OK.into_response()
        }
        _ => StatusCode::NO_CONTENT.into_response(),
    }
}

fn sender(allow_private: bool) -> Sender {
    let policy = TargetPolicy {
        https_only: false,
        allow_private,
    };
    Sender::new(Duration::from_secs(1), policy).expect("a client")
}

async fn send(sender: &Sender, url: &str, secrets: &[Secret]) -> Attempted {
    sender
        .send(Outgoing {
            url,
            webhook_id: "msg_test",
            secrets,
            body: br#"{"type":"registration.completed"}"#.to_vec(),
        })
        .await
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_delivery_is_signed_with_every_secret_in_use() {
    let (host, seen) = endpoint().await;
    let secrets = [Secret::generate(), Secret::generate()];
    let attempted = send(&sender(true), &format!("http://{host}/ok"), &secrets).await;
    assert_eq!(attempted.status, Some(204));
    assert_eq!(attempted.error, None);
    let seen = seen.lock().expect("seen");
    let (headers, body) = &seen[0];
    assert_eq!(header(headers, "webhook-id"), "msg_test");
    assert_eq!(header(headers, "content-type"), "application/json");
    assert_eq!(header(headers, "user-agent"), USER_AGENT);
    let timestamp: i64 = header(headers, "webhook-timestamp")
        .parse()
        .expect("unix seconds");
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 5);
    let want: Vec<String> = secrets
        .iter()
        .map(|s| s.sign("msg_test", timestamp, body))
        .collect();
    assert_eq!(header(headers, "webhook-signature"), want.join(" "));
}

#[tokio::test]
async fn each_way_of_failing_has_its_class() {
    let (host, seen) = endpoint().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let sender = sender(true);
    let cases = [
        (format!("http://{host}/fail"), Some(503), ErrorClass::Status),
        (
            format!("http://{host}/moved"),
            Some(302),
            ErrorClass::Status,
        ),
        (format!("http://{host}/slow"), None, ErrorClass::Timeout),
        (
            format!("http://127.0.0.1:{closed}/"),
            None,
            ErrorClass::Connect,
        ),
        (format!("ftp://{host}/ok"), None, ErrorClass::InvalidUrl),
    ];
    for (url, status, error) in cases {
        let attempted = send(&sender, &url, &[Secret::generate()]).await;
        assert_eq!(
            (attempted.status, attempted.error),
            (status, Some(error)),
            "{url}"
        );
    }
    // The redirect was not followed: `/ok` was never asked for.
    let paths = seen.lock().expect("seen").len();
    assert_eq!(paths, 3, "fail, moved and slow only");
}

#[tokio::test]
async fn loopback_targets_are_refused_unless_private_targets_are_allowed() {
    let (host, seen) = endpoint().await;
    let port = host.rsplit(':').next().unwrap_or_default();
    let strict = sender(false);
    for url in [
        format!("http://{host}/ok"),
        format!("http://localhost:{port}/ok"),
        format!("http://[::ffff:127.0.0.1]:{port}/ok"),
    ] {
        let attempted = send(&strict, &url, &[Secret::generate()]).await;
        assert_eq!(attempted.error, Some(ErrorClass::ForbiddenAddress), "{url}");
    }
    assert!(seen.lock().expect("seen").is_empty());
    let lax = send(
        &sender(true),
        &format!("http://localhost:{port}/ok"),
        &[Secret::generate()],
    )
    .await;
    assert_eq!(lax.error, None, "{lax:?}");
}
