//! The transport phase's rows of the table: each variant's intake and
//! drains, the evidence that it is what it says, and its rates over the
//! plain variant's (informational: no target).

use super::{own_cpu_per_202, Kind, Measured, Transport};
use crate::report::{check, row, Row};

impl Transport {
    pub fn rows(&self) -> Vec<Row> {
        let mut t = Vec::new();
        for m in &self.variants {
            t.extend(variant_rows(m));
        }
        let measured: Vec<&Measured> = self
            .variants
            .iter()
            .filter(|m| m.intake.is_some())
            .collect();
        if !measured.is_empty() {
            let queued: Vec<String> = measured
                .iter()
                .filter_map(|m| {
                    let i = m.intake.as_ref()?;
                    Some(format!(
                        "{} {} = {}",
                        m.kind.name(),
                        i.queued,
                        i.load.total_ok
                    ))
                })
                .collect();
            t.push(check(
                "transport: every 202 is in the queue (queued = accepted)".into(),
                queued.join("; "),
                "equal".into(),
                measured.iter().all(|m| {
                    m.intake
                        .as_ref()
                        .is_some_and(|i| u64::from(i.queued) == i.load.total_ok)
                }),
            ));
        }
        for r in &self.ratios {
            let drains: Vec<String> = r
                .drains
                .iter()
                .map(|d| format!("{} worker(s) {:.2}x", d.workers, d.ratio))
                .collect();
            t.push(Row {
                figure: format!("transport: {} / plain", r.kind.name()),
                measured: format!(
                    "intake {:.2}x (p99 {:.2}x, CPU per 202 {:.2}x); end to end {}",
                    r.intake,
                    r.intake_p99,
                    r.cpu_per_202,
                    drains.join(", ")
                ),
                target: Some("(informational)".into()),
                pass: None,
            });
        }
        t
    }
}

fn variant_rows(m: &Measured) -> Vec<Row> {
    let name = m.kind.name();
    let mut t = Vec::new();
    if let Some(i) = &m.intake {
        let a = &i.load;
        let errors: u64 = a.errors.values().sum();
        let mut measured = format!(
            "{:.0}/s; p50 / p99 / max {:.1} / {:.1} / {:.1} ms",
            a.per_s, a.latency.p50_ms, a.latency.p99_ms, a.latency.max_ms
        );
        if errors > 0 {
            measured += &format!(" ({errors} errors: {:?})", a.errors);
        }
        t.push(row(
            format!(
                "transport {name}: intake, {} clients, {:.0} s",
                a.clients, a.seconds
            ),
            measured,
        ));
        t.push(row(
            "  CPU per 202, by process".into(),
            format!(
                "{}; without other {:.0} µs",
                i.cpu.per_op_text(a.total_ok),
                own_cpu_per_202(i)
            ),
        ));
    }
    if !m.drains.is_empty() {
        let n = m.drains[0].n;
        let text: Vec<String> = m
            .drains
            .iter()
            .map(|d| {
                let other = d.cpu.cores.get("other").copied().unwrap_or(0.0);
                let mut s = format!(
                    "{} worker(s) {:.2}/s = {:.1}% of bound (other work {other:.2} cores)",
                    d.workers,
                    d.per_s,
                    d.ratio_to_bound * 100.0
                );
                if d.rejected + d.failed > 0 {
                    s += &format!(" ({} rejected, {} failed)", d.rejected, d.failed);
                }
                s
            })
            .collect();
        t.push(check(
            format!("transport {name}: end to end, backlog {n}"),
            text.join("; "),
            "all completed".into(),
            m.drains
                .iter()
                .all(|d| d.completed == d.n as i64 && d.rejected + d.failed == 0),
        ));
    }
    if let Some(tls) = &m.tls {
        let version = tls.version.as_deref().unwrap_or("?");
        let cipher = tls.cipher.as_deref().unwrap_or("?");
        let amqp = tls.amqp_protocol.as_deref().unwrap_or("?");
        t.push(check(
            format!("  {name}: the services' connections over TLS"),
            format!(
                "Postgres {} of {} ({version}, {cipher}); RabbitMQ {} of {} ({amqp})",
                tls.postgres_tls, tls.postgres, tls.amqp_tls, tls.amqp
            ),
            "all".into(),
            tls.all_encrypted(),
        ));
    }
    if m.kind == Kind::Pgbouncer {
        let mut parts = Vec::new();
        let mut pass = true;
        for (what, pooled) in [("intake", &m.pooled_intake), ("drains", &m.pooled_drains)] {
            let Some(p) = pooled else {
                pass = false;
                continue;
            };
            pass &= p.transactions > 0;
            let mut text = format!(
                "{what}: {} transactions, {} queries",
                p.transactions, p.queries
            );
            // Group commit: many 202s share a transaction. (The drains'
            // count also holds the services' start and the backlogs' intake.)
            if let (Some(i), "intake") = (&m.intake, what) {
                let per = p.transactions as f64 / i.load.total_ok.max(1) as f64;
                text += &format!(" ({per:.2} per 202)");
            }
            parts.push(format!("{text}, clients waited {:.0} ms", p.wait_ms));
        }
        t.push(check(
            format!("  {name}: carried by PgBouncer"),
            parts.join("; "),
            "> 0 transactions".into(),
            pass,
        ));
    }
    // A variant's error is the phase's, in the report's errors.
    t
}
