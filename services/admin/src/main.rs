//! admin: operator commands for the patient-registration system.
//!
//! ```text
//! admin reseal-phi     re-seal every PHI column still sealed with a retired key
//! ```

use admin::reseal;
use shared::config::{CommonConfig, ProcessEnv, Vars};

const USAGE: &str = "usage: admin reseal-phi";

#[tokio::main]
#[allow(clippy::print_stdout)] // a command's answer goes to stdout
async fn main() -> anyhow::Result<()> {
    let config = match CommonConfig::from_vars(&Vars(&ProcessEnv)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("admin: configuration error: {e}");
            std::process::exit(2);
        }
    };
    shared::telemetry::init("admin");
    let command = std::env::args().nth(1).unwrap_or_default();
    match command.as_str() {
        "reseal-phi" => {
            let db = shared::db::pool(&config.database_url, 2)?;
            shared::db::migrate(&db, std::time::Duration::from_secs(30)).await?;
            let count = reseal::reseal_patients(&db, &config.keyring).await?;
            println!("re-sealed {count} patient(s) under the current key");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}
