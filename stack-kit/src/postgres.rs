//! A sandbox's database: made under the admin URL, dropped with its
//! connections (`WITH (FORCE)`: a killed service may still hold some).

use sqlx::{Connection, PgConnection};

use crate::{Error, Result, Servers};

async fn admin(servers: &Servers) -> Result<PgConnection> {
    PgConnection::connect_with(&servers.pg_options(&servers.admin_database_url)?)
        .await
        .map_err(|source| Error::Postgres {
            what: "connecting as the admin".into(),
            source,
        })
}

async fn execute(servers: &Servers, sql: String, what: String) -> Result<()> {
    let mut conn = admin(servers).await?;
    let done = sqlx::query(&sql).execute(&mut conn).await;
    conn.close().await.ok();
    done.map(drop)
        .map_err(|source| Error::Postgres { what, source })
}

/// Makes database `name`; returns its URL.
pub async fn create_database(servers: &Servers, name: &str) -> Result<String> {
    execute(
        servers,
        format!("CREATE DATABASE \"{name}\""),
        format!("creating database {name}"),
    )
    .await?;
    Ok(servers.database_url(name))
}

/// Drops database `name` if it exists.
pub async fn drop_database(servers: &Servers, name: &str) -> Result<()> {
    execute(
        servers,
        format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        format!("dropping database {name}"),
    )
    .await
}
