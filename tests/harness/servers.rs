//! The shared servers as the tests see them (`TEST_*`, exported by
//! `scripts/test`; see [`stack_kit::Servers::from_env`]), the project's
//! script that restarts them, and where cargo put the binaries under test.

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

use stack_kit::{Binaries, Servers};

/// Where Postgres, RabbitMQ and the SMTP sink are.
pub fn servers() -> &'static Servers {
    static SERVERS: OnceLock<Servers> = OnceLock::new();
    SERVERS.get_or_init(|| Servers::from_env("TEST"))
}

/// A `TEST_<name>` variable, or `default`.
fn test_var(name: &str, default: &str) -> String {
    std::env::var(format!("TEST_{name}"))
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// The TLS set (`SERVICES_TLS=1 scripts/services up`): a Postgres and a
/// RabbitMQ that accept TLS only, with certificates from the local CA;
/// `TEST_TLS_*` override the script's defaults. The SMTP sink is the plain one.
pub fn tls_servers() -> &'static Servers {
    static SERVERS: OnceLock<Servers> = OnceLock::new();
    SERVERS.get_or_init(|| Servers {
        admin_database_url: test_var(
            "TLS_DATABASE_URL",
            "postgres://postgres:postgres@127.0.0.1:5433/postgres?sslmode=verify-full",
        ),
        amqp_url: test_var("TLS_AMQP_URL", "amqps://guest:guest@127.0.0.1:5671"),
        rabbitmq_api: test_var("TLS_RABBITMQ_API", "https://127.0.0.1:15671"),
        ca_cert: Some(PathBuf::from(test_var(
            "TLS_CA_CERT",
            &repo_root().join(".data/tls/ca.crt").display().to_string(),
        ))),
        ..servers().clone()
    })
}

/// The three-node cluster (`RABBITMQ_NODES=3 scripts/services up`), with
/// the plain Postgres and SMTP sink; `TEST_CLUSTER_AMQP_URL` and
/// `TEST_CLUSTER_RABBITMQ_API` (comma-separated) override the defaults.
pub fn cluster_servers() -> &'static Servers {
    static SERVERS: OnceLock<Servers> = OnceLock::new();
    SERVERS.get_or_init(|| Servers {
        amqp_url: test_var(
            "CLUSTER_AMQP_URL",
            "amqp://guest:guest@127.0.0.1:5681,amqp://guest:guest@127.0.0.1:5682,amqp://guest:guest@127.0.0.1:5683",
        ),
        rabbitmq_api: test_var(
            "CLUSTER_RABBITMQ_API",
            "http://127.0.0.1:15681,http://127.0.0.1:15682,http://127.0.0.1:15683",
        ),
        ..servers().clone()
    })
}

/// Database `name` through PgBouncer (`PGBOUNCER=1 scripts/services up`,
/// transaction pooling in front of the plain Postgres; `TEST_PGBOUNCER_URL`
/// overrides its address).
pub fn pgbouncer_url(name: &str) -> String {
    let base = test_var(
        "PGBOUNCER_URL",
        "postgres://postgres:postgres@127.0.0.1:6432",
    );
    format!("{}/{name}", base.trim_end_matches('/'))
}

/// The kit's answer, or a panic that shows the whole chain of causes.
#[track_caller]
pub(crate) fn must<T>(result: stack_kit::Result<T>) -> T {
    let e = match result {
        Ok(value) => return value,
        Err(e) => e,
    };
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    panic!("{message}")
}

pub fn free_port() -> u16 {
    stack_kit::free_port().unwrap()
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

/// `target/debug`, beside this test executable's `deps/`.
pub fn binaries() -> Binaries {
    must(Binaries::of_test_exe())
}

/// Where cargo put binary `name`; a panic if it has not been built
/// (`cargo build --workspace --bins`).
pub fn binary_path(name: &str) -> PathBuf {
    must(binaries().path(name))
}
