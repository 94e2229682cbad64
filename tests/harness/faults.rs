//! Faults on the shared servers (through `scripts/services`), poison
//! messages, and the lock that keeps fault scenarios from overlapping.

use std::{net::SocketAddr, process::Stdio, sync::OnceLock, time::Duration};

use lapin::options::{BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions};
use serde_json::Value;
use tokio::sync::{Mutex, MutexGuard};
use uuid::Uuid;

use crate::{
    servers::{servers, services_script},
    Stack, StackOptions, TEST_PHI_KEY,
};

/// Held for a whole fault scenario: some restart servers every test shares.
pub async fn serial() -> MutexGuard<'static, ()> {
    static LOCK: OnceLock<Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| Mutex::new(())).lock().await
}

/// Runs `scripts/services <command>` (words split on spaces) and panics
/// with its output if it fails.
pub async fn services(command: &str) {
    services_with(&[], command).await;
}

/// [`services`] with extra environment (e.g. `RABBITMQ_NODES=3`).
pub async fn services_with(env: &[(&str, &str)], command: &str) {
    let out = tokio::process::Command::new(services_script())
        .envs(env.iter().copied())
        .args(command.split_whitespace())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/services {command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `pg_ctl restart -m fast`: every connection drops; returns once Postgres answers.
pub async fn restart_postgres() {
    services("restart-postgres").await;
}

/// A RabbitMQ outage: `scripts/services rabbitmq-outage SECS` (`rabbitmqctl
/// stop_app`, a pause, `start_app`, under the script's lock) running in the
/// background. If the test fails meanwhile, the script still brings the
/// broker back.
pub struct BrokerOutage {
    child: tokio::process::Child,
}

impl BrokerOutage {
    /// Starts the outage; returns once the broker refuses connections.
    pub async fn begin(pause_secs: u64) -> Self {
        let mut child = tokio::process::Command::new(services_script())
            .args(["rabbitmq-outage", &pause_secs.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = tokio::time::Instant::now();
        while tokio::net::TcpStream::connect(amqp_addr()).await.is_ok() {
            if started.elapsed() > Duration::from_secs(120) || child.try_wait().unwrap().is_some() {
                // Not begun (still waiting for the script's lock?): give up cleanly.
                let _ = child.start_kill();
                panic!(
                    "RabbitMQ did not go down: {:?}",
                    child.wait_with_output().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { child }
    }

    /// Whether the broker is back (the script has finished).
    pub fn is_over(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Waits for the broker to be back.
    pub async fn end(self) {
        let out = self.child.wait_with_output().await.unwrap();
        assert!(
            out.status.success(),
            "scripts/services rabbitmq-outage: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The broker's AMQP address, from `TEST_AMQP_URL` as the stacks use it.
fn amqp_addr() -> String {
    let url = &servers().amqp_url;
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// Where the shared SMTP sink listens.
pub fn smtp_sink() -> SocketAddr {
    servers().smtp_addr().parse().unwrap()
}

/// A `registration.requested.v1` body sealed with `key` (base64), as intake-api would.
pub fn sealed_registration(request_id: Uuid, body: &Value, key: &str) -> Vec<u8> {
    use shared::{
        config::{AppEnv, Vars},
        crypto::Keyring,
        messages::{registration_context, RegistrationRequested, RegistrationRequestedV1},
    };
    let env = std::collections::HashMap::from([("PHI_ENCRYPTION_KEY", key)]);
    let keyring = Keyring::from_vars(&Vars(&env), AppEnv::Test).unwrap();
    let message = RegistrationRequested::V1(RegistrationRequestedV1 {
        request_id,
        submitted_at: chrono::Utc::now(),
        registration: keyring.seal_json(body, &registration_context(request_id)),
    });
    serde_json::to_vec(&message).unwrap()
}

/// Poison for the registration queue: (what, request id, body). The last
/// two kinds are valid v1 envelopes that cannot be opened, so their
/// requests end `failed`; the first two cannot even be read.
pub fn poison_messages(body: &Value) -> Vec<(&'static str, Uuid, Vec<u8>)> {
    let other_key = "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo=";
    let mut out = Vec::new();
    let id = Uuid::new_v4();
    out.push((
        "invalid JSON",
        id,
        b"{\"type\": \"registration.requ".to_vec(),
    ));
    let id = Uuid::new_v4();
    let unknown = serde_json::json!({
        "type": "registration.requested.v9", "request_id": id,
        "submitted_at": chrono::Utc::now(), "registration": {"kid": "k1", "nonce": "", "ct": ""}
    });
    out.push(("unknown version", id, serde_json::to_vec(&unknown).unwrap()));
    let id = Uuid::new_v4();
    out.push((
        "sealed with another key",
        id,
        sealed_registration(id, body, other_key),
    ));
    let id = Uuid::new_v4();
    let mut tampered: Value =
        serde_json::from_slice(&sealed_registration(id, body, TEST_PHI_KEY)).unwrap();
    let ct = tampered["registration"]["ct"].as_str().unwrap().to_owned();
    let flipped = if ct.starts_with('A') { "B" } else { "A" };
    tampered["registration"]["ct"] = Value::String(format!("{flipped}{}", &ct[1..]));
    out.push(("tampered", id, serde_json::to_vec(&tampered).unwrap()));
    out
}

/// Publishes `body` to the `registration` exchange with a publisher confirm.
pub async fn publish_raw(channel: &lapin::Channel, request_id: Uuid, body: &[u8]) {
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .ok();
    let properties =
        shared::broker::persistent_json("registration.requested.v1", request_id, request_id);
    let confirm = channel
        .basic_publish(
            "registration".into(),
            "registration.requested".into(),
            BasicPublishOptions::default(),
            body,
            properties,
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack());
}

/// Takes every message now in `queue` (acking them), at most `limit`.
pub async fn drain(channel: &lapin::Channel, queue: &str, limit: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while out.len() < limit {
        let got = channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap();
        match got {
            Some(message) => out.push(message.delivery.data),
            None => break,
        }
    }
    out
}

/// How long to keep an outage going: long enough for clients to notice.
pub const OUTAGE: Duration = Duration::from_secs(6);

/// Polls `sql` (one `bigint`) until it reaches `n` or `deadline` passes;
/// returns the last value. Database errors count as no progress (Postgres
/// may be restarting).
pub async fn wait_count(db: &sqlx::PgPool, sql: &str, n: i64, deadline: Duration) -> i64 {
    let started = tokio::time::Instant::now();
    loop {
        let now = count(db, sql).await;
        if now >= n || started.elapsed() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of `sql` (one `bigint`) now; 0 if the database does not answer.
pub async fn count(db: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap_or(0)
}

/// Requests no longer pending.
pub const FINAL_REQUESTS: &str =
    "SELECT count(*) FROM registration_requests WHERE status <> 'pending'";
/// Verification emails recorded as sent.
pub const SENT_EMAILS: &str = "SELECT count(*) FROM notification_deliveries WHERE status = 'sent'";
/// Requests recorded by intake-api.
pub const ALL_REQUESTS: &str = "SELECT count(*) FROM registration_requests";

/// A stack with cheap bcrypt, so that a batch drains in seconds (no stack
/// has a rate limit: a whole batch comes from one address).
pub async fn start(env: Vec<(&'static str, String)>) -> Stack {
    let mut all = vec![("BCRYPT_ROUNDS", "4".to_owned())];
    all.extend(env);
    Stack::start_with(StackOptions { env: all }).await
}

/// Waits (up to 60 s) until `sql` counts `n`, so that the batch is in
/// flight, and says where the fault lands.
pub async fn mid_batch(db: &sqlx::PgPool, scenario: &str, sql: &str, n: i64) {
    let at = wait_count(db, sql, n, Duration::from_secs(60)).await;
    let finals = count(db, FINAL_REQUESTS).await;
    eprintln!(
        "faults: {scenario}: injecting with {finals} requests final ({at} of the {n} awaited)"
    );
}
