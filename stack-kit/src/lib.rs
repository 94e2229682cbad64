//! The stack kit (dev only): what `tests/` (the e2e harness) and `bench/`
//! both need to run the real services against the shared servers that
//! `scripts/services up` starts on loopback.
//!
//! - [`Servers`] (`servers.rs`): where Postgres, RabbitMQ and the SMTP sink
//!   are, read from the caller's own variables (`TEST_*`, `BENCH_*`).
//! - [`Sandbox`] (`sandbox.rs`): a fresh database (`postgres.rs`) and vhost
//!   (`rabbitmq.rs`, through the management API) per test or bench phase,
//!   removed at the end.
//! - [`ServiceEnv`] (`env.rs`): the environment every service starts with,
//!   which a caller overrides where it needs to.
//! - [`Binaries`] (`launch.rs`): a service binary started with its
//!   environment, health port and log file, as a [`Process`]
//!   (`process.rs`): waited for until ready, stopped, and killed on drop.
//!
//! A caller's own stack (the tests' `e2e::Stack`, the bench's
//! `stack::Stack`) holds one sandbox, one environment and its processes.

mod env;
mod error;
mod launch;
mod postgres;
mod process;
mod rabbitmq;
mod sandbox;
mod servers;

pub use env::{ServiceEnv, JWT_SECRET, NO_RATE_LIMIT, WEBHOOK_RETRY_SCHEDULE};
pub use error::{Error, Result};
pub use launch::{Binaries, Launch, Service};
pub use process::Process;
pub use rabbitmq::Management;
pub use sandbox::Sandbox;
pub use servers::Servers;

/// A TCP port free on loopback now (the OS's pick; free until someone binds it).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
