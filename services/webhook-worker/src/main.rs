//! webhook-worker: delivers registration outcomes to partner endpoints.

use shared::{
    config::ProcessEnv,
    shutdown::{self, Shutdown},
    telemetry,
};
use webhook_worker::{config::WebhookConfig, run};

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
    shutdown::drain_within(run(config, shutdown.clone()), shutdown, timeout).await
}
