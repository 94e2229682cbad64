//! The shared servers a test stack lives on: a database and a RabbitMQ
//! vhost of its own, made at start and removed when it is done, and where
//! cargo put the binaries under test.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
};

use sqlx::{Connection, PgConnection};
use tokio::process::Command;

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The project's wrapper around the shared servers.
pub fn services_script() -> PathBuf {
    repo_root().join("scripts/services")
}

/// The broker's root URL (`TEST_AMQP_URL`), without a vhost.
pub fn amqp_base_url() -> String {
    std::env::var("TEST_AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672".into())
}

/// The shared SMTP sink's host and port (`TEST_SMTP_HOST`, `TEST_SMTP_PORT`).
pub fn smtp_host_port() -> (String, String) {
    (
        std::env::var("TEST_SMTP_HOST").unwrap_or_else(|_| "127.0.0.1".into()),
        std::env::var("TEST_SMTP_PORT").unwrap_or_else(|_| "1025".into()),
    )
}

/// MailDev's REST API (`TEST_MAILDEV_URL`).
pub fn maildev_url() -> String {
    std::env::var("TEST_MAILDEV_URL").unwrap_or_else(|_| "http://127.0.0.1:1080".into())
}

/// Where cargo put the binaries: next to this test executable's `deps/`.
pub fn binary_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build with `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

pub async fn create_database(name: &str) -> String {
    let admin = admin_database_url();
    let mut conn = PgConnection::connect(&admin)
        .await
        .expect("Postgres is up (scripts/services up)");
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

/// The rabbitmqctl command line (the project's wrapper, or `TEST_RABBITMQCTL`).
fn rabbitmqctl() -> (String, Vec<String>) {
    let ctl = std::env::var("TEST_RABBITMQCTL")
        .unwrap_or_else(|_| format!("{} rabbitmqctl", services_script().display()));
    let mut words = ctl.split_whitespace().map(str::to_owned);
    let program = words.next().unwrap();
    (program, words.collect())
}

fn admin_database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
}

pub async fn create_vhost(name: &str) -> String {
    let (program, prefix) = rabbitmqctl();
    for args in [
        vec!["add_vhost", name],
        vec!["set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
    ] {
        let out = Command::new(&program)
            .args(&prefix)
            .args(&args)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "rabbitmqctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    format!("{}/{name}", amqp_base_url())
}

/// Removes a stack's vhost (every vhost's quorum queues slow a broker
/// restart) and, unless `keep_database` (a failed test, kept with its logs
/// for a post-mortem), its database.
pub fn remove(id: &str, keep_database: bool) {
    let (program, prefix) = rabbitmqctl();
    let _ = std::process::Command::new(program)
        .args(prefix)
        .args(["delete_vhost", id])
        .output();
    if !keep_database {
        let _ = std::process::Command::new("psql")
            .args([
                &admin_database_url(),
                "-qc",
                &format!("DROP DATABASE IF EXISTS \"{id}\" WITH (FORCE)"),
            ])
            .output();
    }
}
