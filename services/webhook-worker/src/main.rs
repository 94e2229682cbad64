//! webhook-worker: delivers registration outcomes to partner endpoints.

use shared::{
    config::ProcessEnv,
    shutdown::{self, Shutdown},
    telemetry,
};
use webhook_worker::{config::WebhookConfig, run};

/// mimalloc instead of glibc's malloc, as in intake-api: each delivery
/// allocates and frees many small buffers across threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = match WebhookConfig::from_env(&ProcessEnv) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("webhook-worker: configuration error: {e}");
            std::process::exit(2);
        }
    };
    telemetry::init("webhook-worker");
    let shutdown = Shutdown::on_signals();
    let timeout = config.common.shutdown_timeout;
    shutdown::drain_within(Box::pin(run(config, shutdown.clone())), shutdown, timeout).await
}
