//! notification-worker: sends the verification email of each new patient.

use notification_worker::{config::NotifierConfig, run};
use shared::{config::ProcessEnv, shutdown::Shutdown, telemetry};

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
    run(config, Shutdown::on_signals()).await
}
