//! The minimal endpoint (issue 13 part 4): the baseline the intake and
//! batch phases are read against. `bench-minimal` (`src/bin/minimal.rs`,
//! a process of its own, so its CPU is counted apart from the bench's
//! load) turns a JSON body into a confirmed persistent message on a quorum
//! queue and answers 202: axum and lapin, no validation, no database. It
//! gets the intake phase's load: the same client, the same clients, the
//! same bodies, the same warm-up and window.

use serde::Serialize;

use crate::{
    cpu::{self, CpuUse},
    data::{body, queue_depth},
    infra::Infra,
    intake::{self, load_on},
    report::{check, row, Row},
    rss::{Peak, Watch},
    stack::Stack,
    stats::Load,
};

/// The binary, beside the bench's own.
pub const BINARY: &str = "bench-minimal";
const PATH: &str = "/publish";
/// Its queue, in the phase's own vhost.
const QUEUE: &str = "bench.minimal";

#[derive(Debug, Clone, Serialize)]
pub struct Minimal {
    /// Size of one request body (a full registration).
    pub body_bytes: usize,
    pub load: Load,
    /// CPU used by each process group during the run (warm-up included).
    pub cpu: CpuUse,
    /// Messages in its queue after the run, and the 202s answered in all:
    /// every accepted message must be there.
    pub queued: u32,
    pub accepted_in_all: u64,
    pub rss: Vec<Peak>,
}

pub async fn run(infra: &Infra, settings: &intake::Settings) -> anyhow::Result<Minimal> {
    let mut stack = Stack::create(infra, "minimal").await?;
    let result = measure(infra, &mut stack, settings).await;
    stack.destroy().await?;
    result
}

async fn measure(
    infra: &Infra,
    stack: &mut Stack<'_>,
    s: &intake::Settings,
) -> anyhow::Result<Minimal> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], stack_kit::free_port()?));
    let env = [
        ("AMQP_URL", stack.amqp_url.clone()),
        ("BIND_ADDR", addr.to_string()),
        ("QUEUE", QUEUE.to_owned()),
    ];
    let pid = stack.spawn_own(BINARY, &env)?;
    stack
        .wait_own_ready(pid, &format!("http://{addr}/health"))
        .await?;
    let prefix = format!("{}min.", infra.email_prefix());
    let body_bytes = serde_json::to_vec(&body(&prefix, 0, false))?.len();

    let watch = Watch::start(vec![(BINARY.into(), pid)]);
    let before = cpu::snapshot(&stack.pids());
    let load = load_on(addr, PATH, prefix, s).await;
    let cpu = cpu::since(&before);
    let rss = watch.finish().await;
    let queued = queue_depth(&stack.amqp_url, QUEUE).await?;
    Ok(Minimal {
        body_bytes,
        accepted_in_all: load.total_ok,
        load,
        cpu,
        queued,
        rss,
    })
}

impl Minimal {
    /// The endpoint's own CPU per accepted message, in µs.
    pub fn own_us_per_message(&self) -> f64 {
        own_us(&self.cpu, BINARY, self.accepted_in_all)
    }

    /// `rate` (per second) against the endpoint's messages per second.
    pub fn ratio(&self, rate: f64) -> f64 {
        rate / self.load.per_s.max(f64::MIN_POSITIVE)
    }

    pub fn rows(&self) -> Vec<Row> {
        let l = &self.load;
        let errors: u64 = l.errors.values().sum();
        let mut measured = format!(
            "{:.0}/s; p50 / p99 {:.1} / {:.1} ms; {} B bodies",
            l.per_s, l.latency.p50_ms, l.latency.p99_ms, self.body_bytes
        );
        if errors > 0 {
            measured += &format!(" ({errors} errors: {:?})", l.errors);
        }
        vec![
            row(
                format!(
                    "minimal endpoint (axum + lapin, no validation, no database) 202/s, {} clients, {:.0} s",
                    l.clients, l.seconds
                ),
                measured,
            ),
            row(
                "  CPU per message, by process".into(),
                self.cpu.per_op_text(self.accepted_in_all),
            ),
            check(
                "  every minimal 202 is in its queue".into(),
                format!("{} queued, {} accepted", self.queued, self.accepted_in_all),
                "equal".into(),
                u64::from(self.queued) == self.accepted_in_all,
            ),
        ]
    }

    /// The intake phase against this baseline: the ratio with its target,
    /// and where the difference in CPU is.
    pub fn intake_rows(&self, i: &intake::Intake) -> Vec<Row> {
        let ratio = self.ratio(i.intake.per_s);
        vec![
            check(
                "intake / minimal endpoint".into(),
                format!(
                    "{:.1}% ({:.0}/s against {:.0}/s)",
                    ratio * 100.0,
                    i.intake.per_s,
                    self.load.per_s
                ),
                ">= 50%".into(),
                ratio >= 0.5,
            ),
            row(
                "  own CPU: intake-api per 202, minimal endpoint per message".into(),
                format!(
                    "{:.0} µs, {:.0} µs",
                    own_us(&i.intake_cpu, "intake-api", i.accepted_in_all),
                    self.own_us_per_message()
                ),
            ),
        ]
    }
}

/// `group`'s CPU per operation, in µs, over `ops` operations.
pub fn own_us(cpu: &CpuUse, group: &str, ops: u64) -> f64 {
    cpu.per_op_us(ops).get(group).copied().unwrap_or(0.0)
}
