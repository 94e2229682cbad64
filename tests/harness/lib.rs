//! The end-to-end harness: each test gets its own Postgres database and
//! RabbitMQ vhost, and the three real binaries (built beforehand by the
//! README's test command) running against them and the shared SMTP sink.

#![allow(clippy::unwrap_used)]

pub mod accounts;
mod batch;
mod body;
mod evidence;
pub mod faults;
mod mail;
mod proxy;
mod servers;
mod settle;
mod stack;

pub use batch::{normalised, spaced, Answer, Api, Batch};
pub use body::{example, unique_example};
pub use evidence::log_excerpt;
pub use mail::{Email, Inbox};
pub use proxy::TcpProxy;
pub use servers::{binary_path, free_port};
pub use settle::{settle, Report};
pub use stack::{Service, Stack, StackOptions};

use std::{future::Future, time::Duration};

/// Polls `check` until it returns `Some`, or panics with `what` after `deadline`.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = tokio::time::Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The test key every stack seals PHI with, so tests can seal messages too.
pub const TEST_PHI_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
