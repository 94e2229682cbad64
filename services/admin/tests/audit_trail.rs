//! The audit trail around `admin`, on the real Postgres that `scripts/services
//! up` starts, in a fresh database set up as `up` sets up patient_registration
//! (`scripts/postgres/privileges.sql`): the binary runs as the services' role
//! (`registration_app`) and migrates as the owner (`registration_owner`).
//! Every command is audited with its operator; a command whose audit row
//! cannot be written fails in one line; the services' role may only add to
//! the trail, and nobody may truncate it.

#![allow(clippy::unwrap_used)]

use std::process::Output;

mod common;

use common::Db;
use sqlx::PgPool;
use uuid::Uuid;

type Row = (String, String, Uuid, String, String);

async fn operator_rows(db: &PgPool) -> Vec<Row> {
    sqlx::query_as(
        "SELECT action, outcome, request_id, operator_user, operator_host FROM audit_log \
         WHERE operator_user IS NOT NULL ORDER BY id",
    )
    .fetch_all(db)
    .await
    .unwrap()
}

fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn every_command_is_audited_with_its_operator_before_and_after_it_runs() {
    let db = Db::new().await;
    let created = db.admin(&["partner", "create", "Acme Health"]).await;
    assert!(created.status.success(), "{:?}", stderr_lines(&created));
    let unknown = Uuid::new_v4().to_string();
    let revoked = db.admin(&["partner", "revoke", &unknown]).await;
    assert!(revoked.status.success(), "{:?}", stderr_lines(&revoked));

    let rows = operator_rows(&db.admin).await;
    let steps: Vec<(&str, &str)> = rows
        .iter()
        .map(|(action, outcome, ..)| (action.as_str(), outcome.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("admin_partner_create", "started"),
            ("admin_partner_create", "success"),
            ("admin_partner_revoke", "started"),
            ("admin_partner_revoke", "not_found"),
        ]
    );
    let runs: Vec<Uuid> = rows.iter().map(|r| r.2).collect();
    assert!(runs[0] == runs[1] && runs[2] == runs[3] && runs[0] != runs[2]);
    let operator = admin::operator::current();
    assert!(
        rows.iter()
            .all(|r| r.3 == operator.user && r.4 == operator.host),
        "{rows:?} not by {operator:?}"
    );
}

#[tokio::test]
async fn a_command_whose_audit_row_cannot_be_written_does_nothing_and_says_so_in_one_line() {
    let db = Db::new().await;
    assert!(db.admin(&["partner", "list"]).await.status.success());
    sqlx::query("ALTER TABLE audit_log ADD CONSTRAINT refuse_all CHECK (false) NOT VALID")
        .execute(&db.admin)
        .await
        .unwrap();

    let out = db.admin(&["partner", "create", "Acme Health"]).await;
    assert_eq!(out.status.code(), Some(1));
    let lines = stderr_lines(&out);
    assert!(
        lines.len() == 1
            && lines[0].starts_with("admin: nothing was done: the audit trail cannot be written"),
        "{lines:?}"
    );
    let partners: i64 = sqlx::query_scalar("SELECT count(*) FROM partners")
        .fetch_one(&db.admin)
        .await
        .unwrap();
    assert_eq!(partners, 0);
}

#[tokio::test]
async fn a_command_whose_outcome_cannot_be_audited_fails_and_shows_nothing() {
    let db = Db::new().await;
    assert!(db.admin(&["partner", "list"]).await.status.success());
    sqlx::query(
        "ALTER TABLE audit_log ADD CONSTRAINT only_starts CHECK (outcome = 'started') NOT VALID",
    )
    .execute(&db.admin)
    .await
    .unwrap();

    let out = db.admin(&["partner", "create", "Acme Health"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "the key was shown");
    let lines = stderr_lines(&out);
    assert!(
        lines.len() == 1 && lines[0].contains("its outcome cannot be written to the audit trail"),
        "{lines:?}"
    );
}

#[tokio::test]
async fn the_services_role_may_only_add_to_the_trail_and_nobody_may_truncate_it() {
    let db = Db::new().await;
    let owner = Db::pool_as(&db.owner_url).await;
    shared::db::MIGRATOR.run(&owner).await.unwrap();
    let app = Db::pool_as(&db.app_url).await;

    sqlx::query("INSERT INTO audit_log (action, outcome) VALUES ('login', 'success')")
        .execute(&app)
        .await
        .unwrap();
    for statement in [
        "UPDATE audit_log SET outcome = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "SELECT count(*) FROM audit_log",
        "DELETE FROM _sqlx_migrations",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
    ] {
        let refused = sqlx::query(statement).execute(&app).await.err();
        let code = refused.as_ref().and_then(|e| e.as_database_error()?.code());
        // 42501 insufficient_privilege (and "must be owner" for the ALTER).
        assert_eq!(code.as_deref(), Some("42501"), "{statement}: {refused:?}");
    }
    for pool in [&owner, &db.admin] {
        let refused = sqlx::query("TRUNCATE audit_log").execute(pool).await;
        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("audit_log is append-only"), "{message}");
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&db.admin)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}
