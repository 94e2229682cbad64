//! Tracing setup shared by every binary: human-readable lines by default,
//! JSON when `LOG_FORMAT=json`, filtered by `RUST_LOG` (default `info`).
//! Nothing secret is ever given to a span or event: types that hold secrets
//! redact themselves in `Debug`.

use std::io::IsTerminal;

use tracing_subscriber::{fmt, fmt::writer::BoxMakeWriter, EnvFilter};

/// For services: log lines go to stdout, where their supervisor collects them.
pub fn init(service: &str) {
    let ansi = std::io::stdout().is_terminal();
    setup(service, "info", ansi, BoxMakeWriter::new(std::io::stdout));
}

/// For command-line tools: log lines go to stderr, keeping stdout for the
/// command's answer. Default level `warn`.
pub fn init_cli(service: &str) {
    let ansi = std::io::stderr().is_terminal();
    setup(service, "warn", ansi, BoxMakeWriter::new(std::io::stderr));
}

/// `ansi`: colours only for a person at a terminal, never in files or
/// collectors.
fn setup(service: &str, default_level: &str, ansi: bool, writer: BoxMakeWriter) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_ansi(ansi)
        .with_writer(writer);
    let result = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    if result.is_ok() {
        tracing::info!(service, "telemetry initialised");
    }
}

/// Runs blocking work (bcrypt) on tokio's blocking pool inside the current
/// span, so its log lines keep the request id.
pub async fn spawn_blocking_with_tracing<F, R>(f: F) -> Result<R, tokio::task::JoinError>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f)).await
}
