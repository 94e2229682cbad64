//! notification-worker: sends the emails patient events call for.

use notification_worker::{config::NotifierConfig, run};
use shared::{
    config::ProcessEnv,
    shutdown::{self, Shutdown},
    telemetry,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = match NotifierConfig::from_env(&ProcessEnv) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("notification-worker: configuration error: {e}");
            std::process::exit(2);
        }
    };
    telemetry::init("notification-worker");
    let shutdown = Shutdown::on_signals();
    let timeout = config.common.shutdown_timeout;
    shutdown::drain_within(Box::pin(run(config, shutdown.clone())), shutdown, timeout).await
}
