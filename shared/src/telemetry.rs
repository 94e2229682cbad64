//! Tracing setup shared by every binary: human-readable lines by default,
//! JSON when `LOG_FORMAT=json`, filtered by `RUST_LOG` (default `info`).
//! Nothing secret is ever given to a span or event: types that hold secrets
//! redact themselves in `Debug`.

use std::io::IsTerminal;

use tracing_subscriber::{fmt, fmt::writer::BoxMakeWriter, EnvFilter};

/// For services: log lines go to stdout, where their supervisor collects them.
pub fn init(service: &str) {
    setup(service, Output::Stdout);
}

/// For command-line tools: log lines go to stderr, keeping stdout for the
/// command's answer. Default level `warn`.
pub fn init_cli(service: &str) {
    setup(service, Output::Stderr);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Output {
    Stdout,
    Stderr,
}

fn setup(service: &str, output: Output) {
    let default_level = if output == Output::Stdout {
        "info"
    } else {
        "warn"
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    // Colours only for a person at a terminal, never in files or collectors.
    let ansi = match output {
        Output::Stdout => std::io::stdout().is_terminal(),
        Output::Stderr => std::io::stderr().is_terminal(),
    };
    let writer = BoxMakeWriter::new(move || -> Box<dyn std::io::Write> {
        match output {
            Output::Stdout => Box::new(std::io::stdout()),
            Output::Stderr => Box::new(std::io::stderr()),
        }
    });
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
