//! Hostile traffic against the real system, beyond the login (see
//! `login.rs`): connections that never finish, and accesses whose audit row
//! cannot be written.

use std::time::{Duration, Instant};

use e2e::{accounts::client_from, unique_example, Stack, StackOptions};
use futures_util::future::join_all;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn idle_and_slow_connections_cannot_crowd_out_a_request() {
    let stack = Stack::start_with(StackOptions {
        env: vec![
            ("HTTP_HEADER_READ_TIMEOUT", "2".into()),
            ("HTTP_REQUEST_TIMEOUT", "3".into()),
        ],
    })
    .await;
    let addr = stack.base_url.trim_start_matches("http://").to_owned();
    // 1,000 connections that never finish their request head: half send
    // nothing, half a few header lines.
    let mut idle = Vec::new();
    for i in 0..1000 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        if i % 2 == 1 {
            stream
                .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
        }
        idle.push(stream);
    }
    let started = Instant::now();
    let answer = stack
        .http
        .get(format!("{}/health/live", stack.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(1));
    // A body that never comes is cut off by the whole-request timeout.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(
        b"POST /api/v1/patient/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":",
    )
    .await
    .unwrap();
    let mut head = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(6), slow.read(&mut head))
        .await
        .expect("answered within the request timeout")
        .unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 408"));
    // Every idle connection is closed within the header-read timeout.
    let closed = join_all(idle.into_iter().map(|mut stream| async move {
        let mut buf = [0u8; 512];
        loop {
            match tokio::time::timeout(Duration::from_secs(6), stream.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => continue, // a 408 or 400 first, then the close
                Err(_) => return false,
            }
        }
    }))
    .await;
    let open = closed.iter().filter(|c| !**c).count();
    assert_eq!(open, 0, "{open} idle connections still open");
    let _: Value = answer.json().await.unwrap();
}

#[tokio::test]
async fn every_access_is_audited_and_none_is_served_without_its_row() {
    let stack = Stack::start_with(StackOptions {
        env: vec![("REQUIRE_PARTNER_KEY", "true".into())],
    })
    .await;
    let outsider = client_from([127, 0, 0, 51]);
    let unknown = format!(
        "{}/api/v1/patient/registrations/{}",
        stack.base_url,
        uuid::Uuid::new_v4()
    );
    assert_eq!(outsider.get(&unknown).send().await.unwrap().status(), 404);
    let refused = outsider
        .post(format!("{}/api/v1/patient/register", stack.base_url))
        .header("x-api-key", "not-a-key")
        .json(&unique_example())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let profile = format!(
        "{}/api/v1/patient/profile/{}",
        stack.base_url,
        uuid::Uuid::new_v4()
    );
    assert_eq!(outsider.get(&profile).send().await.unwrap().status(), 401);
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT action, outcome FROM audit_log WHERE client_addr = '127.0.0.51' ORDER BY id",
    )
    .fetch_all(&stack.db)
    .await
    .unwrap();
    let rows: Vec<(&str, &str)> = rows.iter().map(|(a, o)| (a.as_str(), o.as_str())).collect();
    assert_eq!(
        rows,
        [
            ("registration_status_read", "not_found"),
            ("partner_authentication", "invalid_key"),
            ("profile_read", "unauthenticated"),
        ]
    );
    // With the trail unwritable, the same reads are refused, not served.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'audit trail down'; END; $$; \
         CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
         FOR EACH ROW EXECUTE FUNCTION refuse_audit();",
    )
    .execute(&stack.db)
    .await
    .unwrap();
    for response in [
        outsider.get(&unknown).send().await.unwrap(),
        outsider.get(&profile).send().await.unwrap(),
    ] {
        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key("retry-after"));
    }
}
