//! registration-worker: turns accepted registration requests into patients.

use registration_worker::{config::WorkerConfig, run};
use shared::{
    config::ProcessEnv,
    shutdown::{self, Shutdown},
    telemetry,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = match WorkerConfig::from_env(&ProcessEnv) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("registration-worker: configuration error: {e}");
            std::process::exit(2);
        }
    };
    telemetry::init("registration-worker");
    let shutdown = Shutdown::on_signals();
    let timeout = config.common.shutdown_timeout;
    shutdown::drain_within(Box::pin(run(config, shutdown.clone())), shutdown, timeout).await
}
