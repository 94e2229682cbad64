//! The figures of a run: the table printed on stdout, with each target
//! beside its figure (PASS/FAIL), and the same rows plus every raw figure
//! in the JSON written next to the plot.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{
    backpressure::Backpressure, batch::BatchPhase, bcrypt_bound::Bcrypt, e2e::Drain,
    hostile::Hostile, infra::LogProblems, intake::Intake, latency::Latency, memory::Memory,
    minimal::Minimal, transport::Transport, webhooks::Webhooks,
};

#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    pub started_at: String,
    pub mode: &'static str,
    pub cores: usize,
    pub git_rev: Option<String>,
    pub total_seconds: f64,
    /// How busy the CPUs were in the 2 s before the run, and with what:
    /// anything else running makes every figure lower.
    pub cpu_busy_before_pct: f64,
    pub cpu_before: crate::cpu::CpuUse,
    /// `BENCH_SERVICE_ENV`, when set: settings the services ran with.
    pub service_env: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub figure: String,
    pub measured: String,
    pub target: Option<String>,
    pub pass: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub meta: Meta,
    pub table: Vec<Row>,
    pub bcrypt: Option<Bcrypt>,
    pub end_to_end: Option<Vec<Drain>>,
    pub minimal: Option<Minimal>,
    pub intake: Option<Intake>,
    pub batch: Option<BatchPhase>,
    pub backpressure: Option<Backpressure>,
    pub latency: Option<Latency>,
    pub webhooks: Option<Webhooks>,
    pub memory: Option<Memory>,
    pub hostile: Option<Hostile>,
    pub transport: Option<Transport>,
    /// Phases that failed, with why.
    pub errors: BTreeMap<&'static str, String>,
    /// Phases whose services logged warnings or errors.
    pub log_problems: BTreeMap<String, LogProblems>,
}

pub fn row(figure: String, measured: String) -> Row {
    Row {
        figure,
        measured,
        target: None,
        pass: None,
    }
}

pub fn check(figure: String, measured: String, target: String, pass: bool) -> Row {
    Row {
        figure,
        measured,
        target: Some(target),
        pass: Some(pass),
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl Report {
    /// Fills `table` from the figures.
    pub fn tabulate(&mut self) {
        let mut t = vec![row(
            "cores busy before the run (2 s)".into(),
            self.meta.cpu_before.describe(),
        )];
        if let Some(b) = &self.bcrypt {
            t.push(row(
                format!(
                    "bcrypt cost-{} hash on CPU, median of {}",
                    b.cost, b.samples
                ),
                format!(
                    "{:.1} ms (wall clock {:.1}, min {:.1}, max {:.1})",
                    b.t_hash_ms, b.wall_ms, b.min_ms, b.max_ms
                ),
            ));
            t.push(row(
                format!("bcrypt bound = cores / t_hash ({} cores)", b.cores),
                format!("{:.2} registrations/s", b.bound_per_s),
            ));
            t.push(row(
                format!("bcrypt, {} threads hashing at once", b.cores),
                format!("{:.2} hashes/s", b.parallel_per_s),
            ));
        }
        for d in self.end_to_end.iter().flatten() {
            let mut measured = format!(
                "{:.2}/s = {:.1}% of bound ({:.1} s)",
                d.per_s,
                d.ratio_to_bound * 100.0,
                d.seconds
            );
            if d.rejected + d.failed > 0 {
                measured += &format!(", {} rejected, {} failed", d.rejected, d.failed);
            }
            t.push(check(
                format!("end to end, {} worker(s), backlog {}", d.workers, d.n),
                measured,
                ">= 90% of bound".into(),
                d.ratio_to_bound >= 0.9 && d.rejected + d.failed == 0,
            ));
            t.push(row("  cores used meanwhile".into(), d.cpu.describe()));
            if let Some(b) = &self.bcrypt {
                let worker = d.cpu.per_op_us(d.completed.max(0).unsigned_abs());
                let ms = worker.get("registration-worker").copied().unwrap_or(0.0) / 1000.0;
                t.push(row(
                    "  worker CPU per registration".into(),
                    format!("{ms:.0} ms = {:.2} x t_hash", ms / b.t_hash_ms),
                ));
            }
        }
        if let Some(m) = &self.minimal {
            t.extend(m.rows());
        }
        if let Some(i) = &self.intake {
            let (a, b) = (&i.intake, &i.baseline);
            let errors: u64 = a.errors.values().sum();
            let mut measured = format!("{:.0}/s", a.per_s);
            if errors > 0 {
                measured += &format!(" ({errors} errors: {:?})", a.errors);
            }
            t.push(check(
                format!("intake 202/s, {} clients, {:.0} s", a.clients, a.seconds),
                measured,
                ">= 5000/s".into(),
                a.per_s >= 5000.0,
            ));
            t.push(check(
                "intake latency p50 / p99 / max".into(),
                format!(
                    "{:.1} / {:.1} / {:.1} ms",
                    a.latency.p50_ms, a.latency.p99_ms, a.latency.max_ms
                ),
                "p99 < 50 ms".into(),
                a.latency.p99_ms < 50.0,
            ));
            let mut measured = format!(
                "{:.0}/s; p50 / p99 {:.1} / {:.1} ms",
                b.per_s, b.latency.p50_ms, b.latency.p99_ms
            );
            if !b.errors.is_empty() {
                measured += &format!(" (errors: {:?})", b.errors);
            }
            t.push(row(
                format!("raw confirmed publish, {} B, quorum queue", i.message_bytes),
                measured,
            ));
            t.push(row(
                "  CPU per 202, by process".into(),
                i.intake_cpu.per_op_text(i.accepted_in_all),
            ));
            t.push(row(
                "  CPU per raw publish, by process".into(),
                i.baseline_cpu.per_op_text(b.total_ok),
            ));
            let m = &i.baseline_64_channels;
            t.push(row(
                format!("  raw publish on {} channels, 1 each", m.clients),
                format!(
                    "{:.0}/s; p50 / p99 {:.1} / {:.1} ms; CPU {}",
                    m.per_s,
                    m.latency.p50_ms,
                    m.latency.p99_ms,
                    i.baseline_64_channels_cpu.per_op_text(m.total_ok)
                ),
            ));
            let q = &i.baseline_request_queue;
            t.push(row(
                "  raw publish to the request queue".into(),
                format!(
                    "{:.0}/s; p50 / p99 {:.1} / {:.1} ms; CPU {}",
                    q.per_s,
                    q.latency.p50_ms,
                    q.latency.p99_ms,
                    i.baseline_request_queue_cpu.per_op_text(q.total_ok)
                ),
            ));
            // The target is now against the minimal endpoint (an HTTP
            // exchange too); raw publishing stays as a reference.
            t.push(row(
                "intake / raw publish (reference)".into(),
                format!("{:.1}%", i.ratio * 100.0),
            ));
            if let Some(m) = &self.minimal {
                t.extend(m.intake_rows(i));
            }
            t.push(check(
                "every 202 is in the queue".into(),
                format!(
                    "{} queued, {} accepted",
                    i.queued_after_intake, i.accepted_in_all
                ),
                "equal".into(),
                u64::from(i.queued_after_intake) == i.accepted_in_all,
            ));
            for p in &i.rss {
                let figure = format!("{} peak RSS during intake", p.service);
                let measured = format!("{:.1} MiB", p.mib());
                t.push(if p.service == "intake-api" {
                    check(figure, measured, "< 64 MiB".into(), p.mib() < 64.0)
                } else {
                    row(figure, measured)
                });
            }
        }
        if let Some(b) = &self.batch {
            t.extend(b.rows(self.minimal.as_ref()));
        }
        if let Some(b) = &self.backpressure {
            t.extend(b.rows());
        }
        if let (Some(l), Some(b)) = (&self.latency, &self.bcrypt) {
            let (c, e) = (&l.to_completed, &l.to_email);
            let mut fails = String::new();
            if l.failures > 0 {
                fails = format!(", {} failed", l.failures);
            }
            t.push(check(
                format!("idle register -> completed p50 / p99, n={}", l.n),
                format!("{:.0} / {:.0} ms{fails}", c.p50_ms, c.p99_ms),
                format!("p50 <= t_hash + 50 = {:.0} ms", b.t_hash_ms + 50.0),
                c.p50_ms <= b.t_hash_ms + 50.0,
            ));
            t.push(check(
                "idle register -> email p50 / p99".into(),
                format!("{:.0} / {:.0} ms", e.p50_ms, e.p99_ms),
                format!("p50 <= t_hash + 250 = {:.0} ms", b.t_hash_ms + 250.0),
                e.p50_ms <= b.t_hash_ms + 250.0,
            ));
            t.push(row(
                "  same, from Postgres timestamps".into(),
                format!(
                    "completed {:.0} / {:.0} ms, email sent {:.0} / {:.0} ms",
                    l.server_to_completed.p50_ms,
                    l.server_to_completed.p99_ms,
                    l.server_to_sent.p50_ms,
                    l.server_to_sent.p99_ms
                ),
            ));
            let stored = l
                .sink_messages
                .map_or_else(String::new, |n| format!(" (MailDev holds {n} messages)"));
            t.push(row(
                "  SMTP sink accepts one message in".into(),
                format!("p50 {:.0} ms{stored}", l.smtp_accept.p50_ms),
            ));
        }
        if let Some(w) = &self.webhooks {
            t.extend(w.rows());
        }
        for d in self.end_to_end.iter().flatten().filter(|d| d.workers == 1) {
            for p in &d.worker_rss {
                t.push(row(
                    format!("{} peak RSS, draining {}", p.service, d.n),
                    format!("{:.1} MiB", p.mib()),
                ));
            }
        }
        if let Some(m) = &self.memory {
            t.push(check(
                format!(
                    "worker RSS idle -> {} queued (prefetch {})",
                    m.backlog, m.prefetch
                ),
                format!(
                    "{:.1} -> {:.1} MiB ({:+.1}%, {} still queued)",
                    mib(m.idle_rss_kib),
                    mib(m.loaded_rss_kib),
                    m.growth_pct,
                    m.queued_at_sample
                ),
                "within 10% of idle".into(),
                m.growth_pct.abs() <= 10.0,
            ));
        }
        if let Some(h) = &self.hostile {
            t.extend(h.rows());
        }
        if let Some(x) = &self.transport {
            t.extend(x.rows());
        }
        for (phase, p) in &self.log_problems {
            let first = p.first.as_deref().unwrap_or_default();
            let short: String = first.chars().take(100).collect();
            t.push(check(
                format!("service logs, {phase} phase"),
                format!("{} WARN/ERROR lines, first: {short}", p.lines),
                "none".into(),
                false,
            ));
        }
        for (phase, error) in &self.errors {
            // The whole message is in the JSON; the table gets its start.
            let short: String = error.chars().take(100).collect();
            t.push(check(
                format!("{phase} phase"),
                format!("error: {short}"),
                "runs".into(),
                false,
            ));
        }
        self.table = t;
    }
}
