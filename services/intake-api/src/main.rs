//! intake-api: the thin HTTP front of patient registration.

use intake_api::{config::IntakeConfig, run};
use shared::{config::ProcessEnv, shutdown::Shutdown, telemetry};

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
    run(config, Shutdown::on_signals()).await
}
