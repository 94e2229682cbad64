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
