//! Batch intake (issue 13 part 4): 8 partner clients, each posting batches
//! of 100 valid registrations (unique emails and phones, an
//! `Idempotency-Key` per batch) to `POST /api/v1/patient/registration-batches`
//! with one partner key, for the intake phase's window, no registration
//! worker running. A batch counts when its 202 accepts all 100 items; the
//! figure is registrations accepted per second, read against the minimal
//! endpoint's messages per second. If intake-api has no such route yet,
//! the phase says so instead of failing.

mod bodies;

use std::{net::SocketAddr, sync::Arc};

use anyhow::bail;
use serde::Serialize;
use shared::broker::topology::REGISTRATION_QUEUE;

use self::bodies::BatchBodies;
use crate::{
    cpu::{self, CpuUse},
    data::queue_depth,
    http1,
    infra::Infra,
    intake::{self, address},
    minimal::Minimal,
    report::{check, row, Row},
    stack::{Service, Stack},
    stats::{drive, Load},
};

pub const PATH: &str = "/api/v1/patient/registration-batches";
pub const ITEMS: usize = 100;
pub const CLIENTS: usize = 8;
/// The request queue's bound in this phase: a batch run at the minimal
/// endpoint's rate would pass the default 250,000 within seconds.
const QUEUE_BOUND: u64 = 10_000_000;

/// What the phase came to: measured, or why not.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum BatchPhase {
    NotMeasured { reason: String },
    Measured(Box<Batches>),
}

#[derive(Debug, Clone, Serialize)]
pub struct Batches {
    pub items_per_batch: usize,
    /// Size of one batch's body.
    pub body_bytes: usize,
    /// Per batch: a success is a 202 that accepted every item.
    pub load: Load,
    /// Registrations accepted per second: batches/s × items per batch.
    pub registrations_per_s: f64,
    /// CPU used by each process group during the run (warm-up included).
    pub cpu: CpuUse,
    /// Messages in the request queue after the run, and the registrations
    /// accepted in all: every accepted one must be there.
    pub queued: u32,
    pub accepted_in_all: u64,
}

pub async fn run(infra: &Infra, settings: &intake::Settings) -> anyhow::Result<BatchPhase> {
    let mut stack = Stack::create(infra, "batch").await?;
    let result = measure(infra, &mut stack, settings).await;
    stack.destroy().await?;
    result
}

async fn measure(
    infra: &Infra,
    stack: &mut Stack<'_>,
    s: &intake::Settings,
) -> anyhow::Result<BatchPhase> {
    let env = [("REQUEST_QUEUE_MAX_LENGTH", QUEUE_BOUND.to_string())];
    stack.start(Service::Intake, &env).await?;
    // intake-api has migrated the database: the partner can be made.
    let key = shared::partner::create_key(&stack.db, &format!("bench {}", infra.run_id))
        .await?
        .key;
    let addr = address(&stack.base_url)?;
    if let Some(reason) = route_absent(addr, &key).await? {
        return Ok(BatchPhase::NotMeasured { reason });
    }
    let bodies = Arc::new(BatchBodies::new()?);
    let prefix = format!("{}ba.", infra.email_prefix());
    let body_bytes = bodies.items(&prefix, 0, ITEMS).len();
    let settings = intake::Settings {
        clients: CLIENTS,
        warmup: s.warmup,
        window: s.window,
    };
    let before = cpu::snapshot(&stack.pids());
    let load = batch_load(addr, key, prefix, bodies, &settings).await;
    let cpu = cpu::since(&before);
    let queued = queue_depth(&stack.amqp_url, REGISTRATION_QUEUE).await?;
    Ok(BatchPhase::Measured(Box::new(Batches {
        items_per_batch: ITEMS,
        body_bytes,
        registrations_per_s: load.per_s * ITEMS as f64,
        accepted_in_all: load.total_ok * ITEMS as u64,
        load,
        cpu,
        queued,
    })))
}

/// `Some(why)` when intake-api has no batch route: a POST of an empty
/// object is 404 (or 405) without it, 422 with it (no key is claimed).
async fn route_absent(addr: SocketAddr, key: &str) -> anyhow::Result<Option<String>> {
    let mut conn = http1::Conn::connect(addr, None).await?;
    let headers = [("X-API-Key", key), ("Idempotency-Key", "bench-probe")];
    let probe = http1::request_with("POST", PATH, &addr.to_string(), &headers, Some(b"{}"));
    match conn.exchange(&probe).await?.status {
        status @ (404 | 405) => Ok(Some(format!(
            "not measured: route absent (POST {PATH} answered {status})"
        ))),
        400 | 422 => Ok(None),
        status => bail!("POST {PATH} with an empty batch answered {status}, not 422"),
    }
}

/// `clients` connections posting batches of [`ITEMS`] with `key`; a batch
/// succeeds when its 202 names a request id for every item.
async fn batch_load(
    addr: SocketAddr,
    key: String,
    prefix: String,
    bodies: Arc<BatchBodies>,
    s: &intake::Settings,
) -> Load {
    let pool = Arc::new(http1::Pool::new(addr));
    let key = Arc::new(key);
    drive(s.clients, s.warmup, s.window, move |seq| {
        let (pool, key) = (Arc::clone(&pool), Arc::clone(&key));
        let body = bodies.items(&prefix, seq * ITEMS as u64, ITEMS);
        async move {
            let idempotency = format!("bench-{seq}");
            let headers = [
                ("X-API-Key", key.as_str()),
                ("Idempotency-Key", &idempotency),
            ];
            let request = http1::request_with("POST", PATH, &pool.host, &headers, Some(&body));
            let mut conn = pool.take().await.map_err(|e| format!("{e:#}"))?;
            let status = conn
                .exchange(&request)
                .await
                .map_err(|e| format!("{e:#}"))?
                .status;
            let accepted = count(conn.body(), b"\"request_id\"");
            pool.put(conn);
            match (status, accepted) {
                (202, ITEMS) => Ok(()),
                (202, n) => Err(format!("202 accepting {n} of {ITEMS}")),
                (status, _) => Err(format!("HTTP {status}")),
            }
        }
    })
    .await
}

/// Occurrences of `needle` in `haystack`.
fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

impl BatchPhase {
    pub fn rows(&self, minimal: Option<&Minimal>) -> Vec<Row> {
        let figure = format!("batch intake, {CLIENTS} clients x {ITEMS} items / minimal endpoint");
        let b = match self {
            Self::NotMeasured { reason } => {
                return vec![Row {
                    figure,
                    measured: reason.clone(),
                    target: Some(">= 1.0x".into()),
                    pass: None,
                }]
            }
            Self::Measured(b) => b,
        };
        let l = &b.load;
        let errors: u64 = l.errors.values().sum();
        let mut measured = format!(
            "{:.0} registrations/s ({:.1} batches/s of {} B; per batch p50 / p99 {:.1} / {:.1} ms)",
            b.registrations_per_s, l.per_s, b.body_bytes, l.latency.p50_ms, l.latency.p99_ms
        );
        if errors > 0 {
            measured += &format!(" ({errors} errors: {:?})", l.errors);
        }
        let mut rows = vec![row(
            format!(
                "batch intake, {} clients x {ITEMS} items, {:.0} s: accepted",
                l.clients, l.seconds
            ),
            measured,
        )];
        if let Some(m) = minimal {
            let ratio = m.ratio(b.registrations_per_s);
            rows.push(check(
                figure,
                format!(
                    "{ratio:.2}x ({:.0}/s against {:.0} messages/s)",
                    b.registrations_per_s, m.load.per_s
                ),
                ">= 1.0x".into(),
                ratio >= 1.0,
            ));
        }
        rows.push(row(
            "  CPU per registration, by process".into(),
            b.cpu.per_op_text(b.accepted_in_all),
        ));
        rows.push(check(
            "  every accepted item is in the queue".into(),
            format!("{} queued, {} accepted", b.queued, b.accepted_in_all),
            "equal".into(),
            u64::from(b.queued) == b.accepted_in_all,
        ));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn accepted_items_are_counted_by_their_request_ids() {
        let answer = br#"{"data":{"batch_id":"b","items":[{"client_ref":"0","request_id":"x"},{"client_ref":"1","errors":{}},{"client_ref":"2","request_id":"y"}]}}"#;
        assert_eq!(count(answer, b"\"request_id\""), 2);
    }
}
