//! The end-to-end harness (the `e2e` library): each test gets a [`Stack`]
//! of its own, i.e. a Postgres database and RabbitMQ vhost, and the three
//! real binaries (built beforehand by the README's test command) running
//! against them and the shared SMTP sink. The stack kit (`stack-kit/`, the
//! same one `bench/` uses) makes the database and vhost and runs the
//! processes; this crate adds what tests need on top:
//!
//! - `stack.rs`, `requests.rs`: [`Stack`], its services and what a test asks of it;
//! - `servers.rs`: the shared servers from `TEST_*`, and the built binaries;
//! - `body.rs`, `batch.rs`, `accounts.rs`: registrations, batches, accounts;
//! - `mail.rs`, `evidence.rs`, `settle.rs`: the SMTP sink, logs, and the
//!   checks after a fault; `faults.rs`, `proxy.rs`: the faults themselves.
//!
//! The tests themselves are two binaries (see `Cargo.toml`): `system/`,
//! whose tests run in parallel, and `faults.rs`, one scenario at a time.

#![allow(clippy::unwrap_used)]

pub mod accounts;
mod batch;
mod body;
pub mod browser;
mod evidence;
pub mod faults;
mod mail;
pub mod partner;
mod proxy;
pub mod receiver;
mod requests;
mod servers;
mod settle;
mod stack;

pub use batch::{normalised, spaced, Answer, Api, Batch};
pub use body::{example, unique_example};
pub use evidence::log_excerpt;
pub use mail::{Email, Inbox};
pub use proxy::TcpProxy;
pub use servers::{
    binary_path, cluster_servers, free_port, pgbouncer_url, repo_root, servers, tls_servers,
};
pub use settle::{settle, Report};
pub use stack::{Stack, StackOptions, DATABASE};
pub use stack_kit::Service;

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
