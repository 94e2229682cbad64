//! Tracing setup shared by every binary: human-readable lines by default,
//! JSON when `LOG_FORMAT=json`, filtered by `RUST_LOG` (default `info`).
//! Nothing secret is ever given to a span or event: types that hold secrets
//! redact themselves in `Debug`.

use tracing_subscriber::{fmt, EnvFilter};

pub fn init(service: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    // Colours only for a person at a terminal, never in files or collectors.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_ansi(ansi);
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
