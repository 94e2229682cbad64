//! Postgres plumbing: the pool, the embedded migrations, and the mapping of
//! constraint violations to what they mean.

use std::time::Duration;

use sqlx::{migrate::Migrator, postgres::PgPoolOptions, PgPool};

use crate::{retry::Backoff, transport::PgTarget};

/// The migrations in the repository's `migrations/`, embedded in every binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// A lazily connecting pool: a service starts even while Postgres is down
/// and recovers when it returns.
/// Through PgBouncer in transaction mode too: sqlx's statements are named
/// protocol-level ones, which PgBouncer (>= 1.21, `max_prepared_statements`)
/// prepares on whichever server connection a transaction gets.
pub fn pool(target: &PgTarget, max_connections: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(
            target
                .options()
                .clone()
                .application_name("patient-registration"),
        )
}

/// Applies pending migrations, retrying while Postgres is unreachable for up
/// to `deadline`. sqlx holds a Postgres advisory lock while migrating, so
/// several services starting at once apply each migration exactly once.
pub async fn migrate(pool: &PgPool, deadline: Duration) -> Result<(), sqlx::migrate::MigrateError> {
    let started = tokio::time::Instant::now();
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        match MIGRATOR.run(pool).await {
            Ok(()) => return Ok(()),
            Err(sqlx::migrate::MigrateError::Execute(
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_),
            )) if started.elapsed() < deadline => {
                let delay = backoff.next_delay();
                tracing::warn!(
                    retry_in_ms = delay.as_millis() as u64,
                    "postgres unreachable; retrying migrations"
                );
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The name of the unique constraint a database error violated, if any.
pub fn violated_unique_constraint(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => db.constraint().map(str::to_owned),
        _ => None,
    }
}

/// Whether an error is worth retrying: the database was unreachable or
/// busy, as opposed to the statement being wrong.
pub fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| is_transient_state(&c)),
        _ => false,
    }
}

/// SQLSTATEs that say "not now" rather than "never": the connection
/// (class 08), the server shutting down or starting (57P), a cancelled or
/// timed-out statement (57014), a serialisation failure or deadlock, a lock
/// not available (55P03), a standby or demoted primary during a failover
/// (25006), insufficient resources (class 53: disk, memory, connections)
/// and system errors (class 58: I/O).
fn is_transient_state(code: &str) -> bool {
    ["08", "53", "57P", "58"]
        .iter()
        .any(|class| code.starts_with(class))
        || ["57014", "40001", "40P01", "55P03", "25006"].contains(&code)
}

#[cfg(test)]
mod transient_tests {
    use super::*;

    #[test]
    fn outages_and_busy_servers_are_transient_and_wrong_statements_are_not() {
        let cases = [
            ("08006", true),  // connection failure
            ("57P01", true),  // admin shutdown
            ("57P03", true),  // cannot connect now
            ("57014", true),  // query cancelled
            ("53300", true),  // too many connections
            ("53100", true),  // disk full
            ("58030", true),  // I/O error
            ("40001", true),  // serialisation failure
            ("40P01", true),  // deadlock
            ("55P03", true),  // lock not available
            ("25006", true),  // read-only transaction (a failover)
            ("23505", false), // unique violation
            ("42P01", false), // undefined table
            ("22P02", false), // invalid text representation
        ];
        for (code, want) in cases {
            assert_eq!(is_transient_state(code), want, "{code}");
        }
        let errors = [
            (sqlx::Error::PoolTimedOut, true),
            (sqlx::Error::PoolClosed, true),
            (
                sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()),
                true,
            ),
            (sqlx::Error::RowNotFound, false),
            (sqlx::Error::ColumnNotFound("x".into()), false),
        ];
        for (error, want) in errors {
            assert_eq!(is_transient(&error), want, "{error}");
        }
    }
}
