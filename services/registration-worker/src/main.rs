//! registration-worker: turns accepted registration requests into patients.

use registration_worker::{config::WorkerConfig, run};
use shared::{config::ProcessEnv, shutdown::Shutdown, telemetry};

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
    run(config, Shutdown::on_signals()).await
}
