//! Password hashing: bcrypt, off the async runtime.

use shared::{domain::Password, metrics::metrics, telemetry::spawn_blocking_with_tracing};

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("bcrypt: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
    #[error("the hashing task died: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Hashes on tokio's blocking pool: a cost-12 hash takes a quarter of a
/// second of CPU, which would stall every other task on a runtime thread.
#[tracing::instrument(skip_all, fields(cost))]
pub async fn hash_password(password: &Password, cost: u32) -> Result<String, HashError> {
    let password = password.expose().to_owned();
    let started = std::time::Instant::now();
    let hash = spawn_blocking_with_tracing(move || bcrypt::hash(password, cost)).await??;
    metrics()
        .bcrypt_duration
        .observe(started.elapsed().as_secs_f64());
    Ok(hash)
}
