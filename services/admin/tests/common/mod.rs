//! What the admin tests share: a fresh database (and vhost) on the real
//! servers that `scripts/services up` starts, set up as `up` sets up
//! patient_registration (`scripts/postgres/privileges.sql`), and the
//! `admin` binary run against it as the services' role (`registration_app`),
//! migrating as the owner (`registration_owner`).

#![allow(clippy::unwrap_used, dead_code)]

use std::process::Output;

use sqlx::{postgres::PgPoolOptions, PgPool};
use stack_kit::{Sandbox, Servers};
use uuid::Uuid;

const PRIVILEGES: &str = include_str!("../../../../scripts/postgres/privileges.sql");

/// A fresh database with the roles' privileges, the URLs of its roles, and
/// a vhost of the same name.
pub struct Db {
    /// As the superuser that made it.
    pub admin: PgPool,
    pub app_url: String,
    pub owner_url: String,
    pub amqp_url: String,
    _sandbox: Sandbox,
}

impl Db {
    pub async fn new() -> Self {
        let servers = Servers::from_env("TEST");
        let name = format!("admin_{}", &Uuid::new_v4().simple().to_string()[..12]);
        let sandbox = Sandbox::create(&servers, &name).await.unwrap();
        let admin = PgPool::connect(&sandbox.database_url).await.unwrap();
        sqlx::raw_sql(PRIVILEGES).execute(&admin).await.expect(
            "granting scripts/postgres/privileges.sql (do the roles exist? scripts/services up)",
        );
        let role_url = |role: &str, password: &str| {
            let (_, server) = servers.admin_database_url.split_once('@').unwrap();
            let (server, _) = server.rsplit_once('/').unwrap();
            format!("postgres://{role}:{password}@{server}/{name}")
        };
        let password = |var: &str, default: &str| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Self {
            admin,
            app_url: role_url(
                "registration_app",
                &password("PG_APP_PASSWORD", "registration_app"),
            ),
            owner_url: role_url(
                "registration_owner",
                &password("PG_OWNER_PASSWORD", "registration_owner"),
            ),
            amqp_url: sandbox.amqp_url.clone(),
            _sandbox: sandbox,
        }
    }

    pub async fn admin(&self, args: &[&str]) -> Output {
        self.admin_with(args, &[]).await
    }

    /// `admin` with `env` over its test environment.
    pub async fn admin_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_admin"))
            .args(args)
            .env_clear()
            .env("APP_ENV", "test")
            .env("DATABASE_URL", &self.app_url)
            .env("DATABASE_MIGRATION_URL", &self.owner_url)
            .env("AMQP_URL", &self.amqp_url)
            .envs(env.iter().copied())
            .output()
            .await
            .unwrap()
    }

    pub async fn pool_as(url: &str) -> PgPool {
        PgPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await
            .unwrap()
    }
}
