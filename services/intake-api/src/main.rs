//! intake-api: the thin HTTP front of patient registration.

use intake_api::{config::IntakeConfig, run};
use shared::{
    config::ProcessEnv,
    shutdown::{self, Shutdown},
    telemetry,
};

/// mimalloc instead of glibc's malloc: a request allocates and frees many
/// small buffers across threads, where glibc spent about 14% of
/// intake-api's CPU under load (`perf` during `bench/run --only intake`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = match IntakeConfig::from_env(&ProcessEnv) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("intake-api: configuration error: {e}");
            std::process::exit(2);
        }
    };
    telemetry::init("intake-api");
    let shutdown = Shutdown::on_signals();
    let timeout = config.common.shutdown_timeout;
    shutdown::drain_within(Box::pin(run(config, shutdown.clone())), shutdown, timeout).await
}
