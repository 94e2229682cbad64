//! Hostile traffic against the real system: each attack of issue 11, as an
//! attacker would send it from loopback (every 127.0.0.0/8 address is a
//! distinct client), and the defence it meets.

use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use e2e::{accounts::PASSWORD, unique_example, Stack, StackOptions};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP client whose connections come from `addr`.
fn client_from(addr: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(addr))
        .build()
        .unwrap()
}

async fn login_as(
    client: &reqwest::Client,
    stack: &Stack,
    email: &str,
    password: &str,
) -> (StatusCode, Option<String>, Duration) {
    let started = Instant::now();
    let response = client
        .post(format!("{}/api/v1/patient/login", stack.base_url))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status(), retry_after, started.elapsed())
}

/// A patient, registered and settled; its email.
async fn patient(stack: &Stack) -> String {
    let body = unique_example();
    let id = stack.register_accepted(&body).await;
    assert_eq!(stack.settled(&id).await["status"], "completed");
    body["email"].as_str().unwrap().to_owned()
}

fn count(answers: &[(StatusCode, Option<String>, Duration)], status: u16) -> usize {
    answers.iter().filter(|a| a.0.as_u16() == status).count()
}

#[tokio::test]
async fn a_login_storm_from_one_address_reaches_bcrypt_at_most_twenty_times() {
    let stack = Stack::start().await;
    let attacker = client_from([127, 0, 0, 21]);
    let attempts = (0..200).map(|i| {
        let attacker = attacker.clone();
        let stack = &stack;
        async move {
            let email = format!("nobody.{i}@storm.example");
            login_as(&attacker, stack, &email, PASSWORD).await
        }
    });
    let answers = join_all(attempts).await;
    let (checked, throttled, busy) = (
        count(&answers, 401),
        count(&answers, 429),
        count(&answers, 503),
    );
    assert_eq!(checked + throttled + busy, 200, "{answers:?}");
    // LOGIN_RATE_LIMIT_PER_CLIENT (20 a minute) passes at most 20, and of
    // those only PASSWORD_VERIFY_MAX_CONCURRENT at a time get to bcrypt.
    assert!(checked + busy <= 20, "{checked} checked, {busy} busy");
    assert!(throttled >= 180);
    assert!(answers.iter().filter(|a| a.0 != 401).all(|a| a
        .1
        .as_deref()
        .is_some_and(|s| s.parse::<u64>().unwrap() >= 1)));
    // A throttled attempt costs no hashing: it is answered at once.
    let (status, _, took) = login_as(&attacker, &stack, "one.more@storm.example", PASSWORD).await;
    assert_eq!(status, 429);
    assert!(took < Duration::from_millis(100), "{took:?}");
}

#[tokio::test]
async fn concurrent_guesses_never_pass_the_lockout_and_lock_out_only_their_address() {
    let stack = Stack::start_with(StackOptions {
        env: vec![
            ("LOGIN_RATE_LIMIT_PER_CLIENT", "1000".into()),
            ("PASSWORD_VERIFY_MAX_CONCURRENT", "64".into()),
        ],
    })
    .await;
    let email = patient(&stack).await;
    let attacker = client_from([127, 0, 0, 31]);
    let guesses = (0..30).map(|i| {
        let attacker = attacker.clone();
        let (stack, email) = (&stack, &email);
        async move { login_as(&attacker, stack, email, &format!("Wrong{i}Password!")).await }
    });
    let answers = join_all(guesses).await;
    // Attempts are counted as they start: at most LOGIN_MAX_FAILURES (5).
    assert_eq!(count(&answers, 401), 5, "{answers:?}");
    assert_eq!(count(&answers, 429), 25);
    // The attacker's address is locked out of the account, right password or not…
    let (status, retry_after, _) = login_as(&attacker, &stack, &email, PASSWORD).await;
    assert_eq!(status, 429);
    assert!(retry_after.unwrap().parse::<u64>().unwrap() > 60);
    // …but the patient, elsewhere, is not.
    let patient = client_from([127, 0, 0, 32]);
    let (status, _, _) = login_as(&patient, &stack, &email, PASSWORD).await;
    assert_eq!(status, 200);
    let lockouts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'login' AND client_addr = '127.0.0.31' \
         AND outcome IN ('locked_out', 'invalid_credentials_locked_out')",
    )
    .fetch_one(&stack.db)
    .await
    .unwrap();
    assert!(lockouts >= 26, "every lockout is audited: {lockouts}");
}

#[tokio::test]
async fn guesses_from_many_addresses_meet_the_account_wide_ceiling() {
    let stack = Stack::start_with(StackOptions {
        env: vec![
            ("LOGIN_MAX_FAILURES", "3".into()),
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "6".into()),
        ],
    })
    .await;
    let email = patient(&stack).await;
    for host in [41, 42] {
        let attacker = client_from([127, 0, 0, host]);
        for _ in 0..3 {
            let (status, _, _) = login_as(&attacker, &stack, &email, "WrongPassword1!").await;
            assert_eq!(status, 401);
        }
    }
    let elsewhere = client_from([127, 0, 0, 43]);
    let (status, retry_after, _) = login_as(&elsewhere, &stack, &email, PASSWORD).await;
    assert_eq!(status, 429);
    assert!(retry_after.is_some());
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE outcome = 'locked_out_account' AND client_addr = '127.0.0.43'",
    )
    .fetch_one(&stack.db)
    .await
    .unwrap();
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn password_checks_past_the_cap_are_refused_at_once() {
    let stack = Stack::start_with(StackOptions {
        env: vec![("PASSWORD_VERIFY_MAX_CONCURRENT", "1".into())],
    })
    .await;
    // Distinct addresses: no per-address limit is what refuses them.
    let attempts = (0..8u8).map(|i| {
        let stack = &stack;
        async move {
            let client = client_from([127, 0, 1, 10 + i]);
            login_as(&client, stack, &format!("nobody.{i}@cap.example"), PASSWORD).await
        }
    });
    let answers = join_all(attempts).await;
    let busy: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    assert!(!busy.is_empty(), "{answers:?}");
    assert!(count(&answers, 401) >= 1);
    for (_, retry_after, took) in busy {
        assert_eq!(retry_after.as_deref(), Some("1"));
        // Refused before any hashing: far under one bcrypt (about 250 ms).
        assert!(*took < Duration::from_millis(150), "{took:?}");
    }
}

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
