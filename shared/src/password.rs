//! Password hashing and verification: bcrypt at `BCRYPT_ROUNDS`, off the
//! async runtime, for every service that hashes (the registration worker)
//! or verifies (login). One source of truth for the cost, so a login for an
//! unknown email, checked against a dummy hash made at the same cost, takes
//! as long as a wrong password.

use crate::{
    config::{AppEnv, ConfigError, Vars},
    domain::Password,
    metrics::metrics,
    telemetry::spawn_blocking_with_tracing,
};

/// The most bytes of a password bcrypt reads.
const BCRYPT_MAX_BYTES: usize = 72;

/// The lowest bcrypt cost allowed outside `APP_ENV=test`.
pub const MIN_BCRYPT_COST: u32 = 12;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("bcrypt: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
    #[error("the hashing task died: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// `BCRYPT_ROUNDS`, default 12; below 12 only with `APP_ENV=test`.
pub fn bcrypt_cost(vars: &Vars<'_>, app_env: AppEnv) -> Result<u32, ConfigError> {
    let cost: u32 = vars.parse_or("BCRYPT_ROUNDS", MIN_BCRYPT_COST)?;
    if !(4..=31).contains(&cost) {
        return Err(ConfigError::new(
            "BCRYPT_ROUNDS",
            "must be between 4 and 31",
        ));
    }
    if cost < MIN_BCRYPT_COST && app_env != AppEnv::Test {
        return Err(ConfigError::new(
            "BCRYPT_ROUNDS",
            format!(
                "must be at least {MIN_BCRYPT_COST} (lower values are allowed only with APP_ENV=test)"
            ),
        ));
    }
    Ok(cost)
}

/// Hashes and verifies at one cost.
pub struct PasswordHasher {
    cost: u32,
    /// A hash of a random password at `cost`, verified when there is no
    /// real hash to check, so that "no such account" costs one bcrypt too.
    /// Made once, when first needed or by [`PasswordHasher::verifier`]: a
    /// service that only hashes never pays for it.
    dummy: tokio::sync::OnceCell<String>,
}

impl PasswordHasher {
    /// A hasher (the registration worker's).
    pub fn new(cost: u32) -> Self {
        Self {
            cost,
            dummy: tokio::sync::OnceCell::new(),
        }
    }

    /// A hasher that verifies too, its dummy hash made now, so that the
    /// first login for an unknown email takes no longer than the others.
    pub async fn verifier(cost: u32) -> Result<Self, PasswordError> {
        let hasher = Self::new(cost);
        hasher.dummy().await?;
        Ok(hasher)
    }

    async fn dummy(&self) -> Result<&str, PasswordError> {
        let cost = self.cost;
        let dummy = self
            .dummy
            .get_or_try_init(|| async move {
                let random = crate::token::random_256_bits();
                spawn_blocking_with_tracing(move || bcrypt::hash(random, cost))
                    .await?
                    .map_err(PasswordError::from)
            })
            .await?;
        Ok(dummy)
    }

    pub fn cost(&self) -> u32 {
        self.cost
    }

    /// A bcrypt hash of a valid password. Runs on tokio's blocking pool: a
    /// cost-12 hash takes a quarter of a second of CPU.
    #[tracing::instrument(name = "hash_password", skip_all, fields(cost = self.cost))]
    pub async fn hash(&self, password: &Password) -> Result<String, PasswordError> {
        let password = password.expose().to_owned();
        let cost = self.cost;
        let started = std::time::Instant::now();
        let hash = spawn_blocking_with_tracing(move || bcrypt::hash(password, cost)).await??;
        metrics()
            .bcrypt_duration
            .observe(started.elapsed().as_secs_f64());
        Ok(hash)
    }

    /// Whether `password` matches `hash`; with no hash (unknown account),
    /// checks the dummy and answers false, in the same time. Never
    /// truncates: a password longer than bcrypt reads (72 bytes) matches
    /// nothing, rather than matching on its first 72 bytes.
    #[tracing::instrument(name = "verify_password", skip_all)]
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, PasswordError> {
        let known = hash.is_some();
        let hash = match hash {
            Some(hash) => hash.to_owned(),
            None => self.dummy().await?.to_owned(),
        };
        let password = password.to_owned();
        let matches = spawn_blocking_with_tracing(move || {
            // bcrypt reads 72 bytes (a 72-byte password loses only its NUL
            // terminator): a longer one would match on its first 72 bytes,
            // so it matches nothing, after the same work.
            let matches = bcrypt::verify(&password, &hash).unwrap_or(false);
            password.len() <= BCRYPT_MAX_BYTES && matches
        })
        .await?;
        Ok(known && matches)
    }
}

/// The cost a bcrypt hash was made at (`$2b$12$…` → 12).
pub fn cost_of(hash: &str) -> Option<u32> {
    hash.split('$').nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn bcrypt_cost_below_twelve_needs_the_test_environment() {
        let cases = [
            (AppEnv::Development, Some("11"), Err(())),
            (AppEnv::Test, Some("4"), Ok(4)),
            (AppEnv::Production, Some("13"), Ok(13)),
            (AppEnv::Production, None, Ok(12)),
            (AppEnv::Test, Some("3"), Err(())),
            (AppEnv::Test, Some("32"), Err(())),
            (AppEnv::Test, Some("twelve"), Err(())),
        ];
        for (app_env, rounds, want) in cases {
            let env: HashMap<&str, &str> =
                rounds.map(|r| ("BCRYPT_ROUNDS", r)).into_iter().collect();
            let got =
                bcrypt_cost(&Vars(&env), app_env).map_err(|e| assert_eq!(e.name, "BCRYPT_ROUNDS"));
            assert_eq!(got, want, "{app_env:?} {rounds:?}");
        }
    }

    #[tokio::test]
    async fn the_dummy_is_made_at_the_configured_cost() {
        for cost in [4, 5] {
            let hasher = PasswordHasher::verifier(cost).await.expect("hasher");
            assert_eq!(
                cost_of(hasher.dummy.get().expect("made by verifier()")),
                Some(cost)
            );
            assert!(!hasher.verify("anything", None).await.expect("verify"));
        }
    }

    #[tokio::test]
    async fn verification_matches_only_the_whole_password() {
        let hasher = PasswordHasher::new(4);
        let password = Password::parse("SecurePassword123!").expect("valid");
        let hash = hasher.hash(&password).await.expect("hash");
        assert_eq!(cost_of(&hash), Some(4));
        let long = format!("{}{}", "Aa1!".repeat(18), "extra");
        let long_hash = bcrypt::hash(&long[..72], 4).expect("hash");
        let cases = [
            ("SecurePassword123!", hash.as_str(), true),
            ("SecurePassword123", hash.as_str(), false),
            ("securepassword123!", hash.as_str(), false),
            // bcrypt::verify would say yes: the first 72 bytes match.
            (long.as_str(), long_hash.as_str(), false),
            (&long[..72], long_hash.as_str(), true),
            ("SecurePassword123!", "not a bcrypt hash", false),
        ];
        for (password, hash, want) in cases {
            let got = hasher.verify(password, Some(hash)).await.expect("verify");
            assert_eq!(got, want, "{password}");
        }
    }
}
