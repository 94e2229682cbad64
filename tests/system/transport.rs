//! Past one machine: the pipeline over TLS only (the TLS set of
//! `SERVICES_TLS=1 scripts/services up`), through PgBouncer in transaction
//! mode (`PGBOUNCER=1`), and the start-up refusal of plaintext to another
//! host in production.

use std::{process::Stdio, time::Duration};

use e2e::{
    binary_path, eventually, pgbouncer_url, servers, tls_servers, unique_example, Stack,
    StackOptions, DATABASE,
};
use serde_json::Value;
use sqlx::{Connection, PgConnection};

/// Registers `body`, waits for it to complete, then for its verification
/// email (the one whose token's hash this database stores).
async fn register_complete_and_email(stack: &Stack, body: &Value) {
    let request_id = stack.register_accepted(body).await;
    let data = stack.settled(&request_id).await;
    assert_eq!(data["status"], "completed", "{data}");
    let patient_id: uuid::Uuid = data["patient_id"].as_str().unwrap().parse().unwrap();
    stack
        .verification_email(patient_id, body["email"].as_str().unwrap())
        .await;
}

#[tokio::test]
async fn the_pipeline_runs_over_tls_only_and_every_connection_is_encrypted() {
    let stack = Stack::start_on(tls_servers(), StackOptions::default()).await;
    register_complete_and_email(&stack, &unique_example()).await;

    // Postgres: every connection the services hold to this database
    // (intake-api's pool and its LISTEN, both workers') is TLS.
    let connections: Vec<(String, bool, Option<String>)> = sqlx::query_as(
        "SELECT a.application_name, s.ssl, s.version
           FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
          WHERE a.datname = $1 AND a.application_name = 'patient-registration'",
    )
    .bind(&stack.id)
    .fetch_all(&stack.db)
    .await
    .unwrap();
    assert!(connections.len() >= 3, "{connections:?}");
    assert!(
        connections
            .iter()
            .all(|(_, ssl, version)| *ssl
                && version.as_deref().is_some_and(|v| v.starts_with("TLSv1."))),
        "{connections:?}"
    );
    // The server takes nothing else: a plaintext login is refused.
    let plain = tls_servers()
        .database_url(&stack.id)
        .replace("sslmode=verify-full", "sslmode=disable");
    let refused = PgConnection::connect(&plain).await;
    assert!(refused.is_err(), "a plaintext connection was accepted");

    // RabbitMQ: every connection in this vhost (intake-api's and the
    // workers') came over TLS.
    let management = stack_kit::Management::new(tls_servers());
    let amqp: Vec<Value> = eventually(
        "the services' AMQP connections",
        Duration::from_secs(30),
        || async {
            let all = management
                .get(&format!("vhosts/{}/connections", stack.id))
                .await
                .ok()?;
            let all = all.as_array()?.clone();
            (all.len() >= 4).then_some(all)
        },
    )
    .await;
    assert!(
        amqp.iter().all(|c| c["ssl"] == true
            && c["protocol"]
                .as_str()
                .is_some_and(|p| p.starts_with("AMQP"))),
        "{amqp:?}"
    );
}

#[tokio::test]
async fn the_pipeline_and_prefer_wait_run_through_pgbouncer_in_transaction_mode() {
    // The services' pools go through PgBouncer; LISTEN and migrations need
    // a session of their own, so they connect directly.
    let direct = servers().database_url(DATABASE);
    let stack = Stack::start_with(StackOptions {
        env: vec![
            ("DATABASE_URL", pgbouncer_url(DATABASE)),
            ("DATABASE_LISTEN_URL", direct.clone()),
            ("DATABASE_MIGRATION_URL", direct),
        ],
    })
    .await;
    register_complete_and_email(&stack, &unique_example()).await;

    // Prefer: wait is woken by the direct LISTEN, and answers as ever.
    let body = unique_example();
    let response = stack.register_with(&body, &[("prefer", "wait=30")]).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["preference-applied"], "wait=30");
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["data"]["email"], body["email"]);

    // PgBouncer carried the services' transactions for this database.
    let console = pgbouncer_url("pgbouncer");
    let mut admin = PgConnection::connect(&console).await.unwrap();
    let stats: Vec<(String, i64)> = sqlx::raw_sql("SHOW STATS")
        .fetch_all(&mut admin)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|row| {
            use sqlx::Row;
            // PgBouncer's console labels its counters numeric; read their text.
            let xacts: String = row.try_get_unchecked("total_xact_count").ok()?;
            Some((row.try_get("database").ok()?, xacts.parse().ok()?))
        })
        .collect();
    let ours = stats.iter().find(|(db, _)| *db == stack.id);
    assert!(ours.is_some_and(|(_, xacts)| *xacts > 10), "{stats:?}");
}

#[tokio::test]
async fn production_refuses_plaintext_to_another_host_at_start_with_one_line() {
    let base = [
        ("APP_ENV", "production"),
        ("JWT_SECRET", stack_kit::JWT_SECRET),
        ("PHI_ENCRYPTION_KEY", e2e::TEST_PHI_KEY),
        ("AMQP_URL", "amqps://guest:guest@127.0.0.1:5671/%2f"),
    ];
    let cases = [
        (
            "DATABASE_URL",
            "postgres://u:secret@db.internal:5432/x",
            "DATABASE_URL",
        ),
        (
            "AMQP_URL",
            "amqp://u:secret@mq-1.internal:5672/%2f",
            "AMQP_URL",
        ),
    ];
    for (name, value, named) in cases {
        let output = tokio::process::Command::new(binary_path("registration-worker"))
            .env_clear()
            .envs(base)
            .env(name, value)
            .stdin(Stdio::null())
            .output();
        let output = tokio::time::timeout(Duration::from_secs(20), output)
            .await
            .expect("the worker exits at once")
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(
            lines[0].contains(named) && lines[0].contains("without verified TLS"),
            "{stderr}"
        );
        assert!(!lines[0].contains("secret"), "{stderr}");
    }
}
