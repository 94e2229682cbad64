//! Hostile traffic (issue 11): what one anonymous attacker can take from
//! everyone else. Two runs against one intake-api:
//!
//! - **A login flood during intake.** The intake load (as the intake phase
//!   sends it) unloaded, then again while [`flood`] sends logins with random
//!   emails from a few loopback addresses. `LOGIN_RATE_LIMIT_PER_CLIENT`
//!   answers most of them 429 before any bcrypt, so intake should keep its
//!   rate and its latency.
//! - **Junk** ([`junk`]): random methods, paths and resend emails. After a
//!   warm-up round has made every bounded series (`other`, `unmatched`),
//!   intake-api's RSS and its `/metrics` series before and after many more.

mod answers;
mod flood;
mod junk;
mod series;

use std::{net::IpAddr, time::Duration};

use serde::Serialize;

use crate::{
    cpu::{self, CpuUse},
    data::{Publisher, Target},
    infra::Infra,
    intake::{self, accepted_load},
    plot,
    report::{check, row, Row},
    rss::max_rss_over,
    stack::{Service, Stack},
    stats::Load,
};

pub use self::{answers::Answers, flood::LoginFlood};

/// `LOGIN_RATE_LIMIT_PER_CLIENT` for this phase: intake-api's default.
const LOGIN_LIMIT: u32 = 20;
/// Where the attacker's connections come from: each a client of its own.
const SOURCES: [[u8; 4]; 4] = [
    [127, 0, 0, 2],
    [127, 0, 0, 3],
    [127, 0, 0, 4],
    [127, 0, 0, 5],
];
/// Each flood client's pace: 64 clients send 640 logins a second, about 70
/// times what bcrypt could check on two cores. Unpaced, the flood's cheap
/// 429s would take the shared cores from intake as any other request would:
/// that is a plain HTTP flood, not a login attack.
const FLOOD_EVERY: Duration = Duration::from_millis(100);

pub struct Settings {
    pub intake: intake::Settings,
    /// Concurrent attackers: the login flood's, then the junk's.
    pub attackers: usize,
    /// Junk requests sent to warm up, then measured.
    pub junk_warmup: u64,
    pub junk: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Hostile {
    pub login_limit_per_client: u32,
    pub unloaded: Load,
    pub unloaded_cpu: CpuUse,
    pub loaded: Load,
    pub loaded_cpu: CpuUse,
    /// Accepted/s under the flood over accepted/s unloaded.
    pub ratio: f64,
    pub flood: LoginFlood,
    pub junk_warmup: Answers,
    pub junk: Answers,
    pub junk_seconds: f64,
    /// intake-api's RSS after the junk's warm-up round, and after the junk.
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub rss_growth_pct: f64,
    /// Series in `/metrics` after the warm-up round, and after the junk.
    pub series_before: usize,
    pub series_after: usize,
    /// Series present after the junk and not before (at most 20).
    pub new_series: Vec<String>,
}

pub async fn run(infra: &Infra, settings: &Settings) -> anyhow::Result<Hostile> {
    let mut stack = Stack::create(infra, "hostile").await?;
    let result = measure(infra, &mut stack, settings).await;
    stack.destroy().await?;
    result
}

async fn measure(infra: &Infra, stack: &mut Stack<'_>, s: &Settings) -> anyhow::Result<Hostile> {
    // A login that gets through costs what it costs in production.
    let env = [
        ("LOGIN_RATE_LIMIT_PER_CLIENT", LOGIN_LIMIT.to_string()),
        ("BCRYPT_ROUNDS", "12".to_owned()),
    ];
    let pid = stack.start(Service::Intake, &env).await?;
    let addr = intake::address(&stack.base_url)?;
    let sources: Vec<IpAddr> = SOURCES.iter().map(|&a| IpAddr::from(a)).collect();
    let requests = Publisher::open(&stack.amqp_url, 1, 1, Target::Requests).await?;
    let prefix = infra.email_prefix();

    let before = cpu::snapshot(&stack.pids());
    let unloaded = accepted_load(addr, format!("{prefix}hu."), &s.intake).await;
    let unloaded_cpu = cpu::since(&before);
    // Room in the request queue (its bound) for the second run.
    requests.purge().await?;

    let before = cpu::snapshot(&stack.pids());
    let attack = flood::Flood::start(addr, &sources, s.attackers, FLOOD_EVERY);
    let loaded = accepted_load(addr, format!("{prefix}hl."), &s.intake).await;
    let flood = attack.stop(LOGIN_LIMIT).await;
    let loaded_cpu = cpu::since(&before);
    requests.purge().await?;
    requests.close().await;

    let junk_warmup = junk::send(addr, &sources, s.attackers, s.junk_warmup, 1).await;
    // The first scrape makes the series of `/metrics` itself.
    series::scrape(infra, &stack.base_url).await?;
    let settle = Duration::from_secs(1);
    tokio::time::sleep(settle).await;
    let rss_before_kib = max_rss_over(pid, settle).await;
    let before_series = series::scrape(infra, &stack.base_url).await?;
    let t0 = tokio::time::Instant::now();
    let junk = junk::send(addr, &sources, s.attackers, s.junk, 2).await;
    let junk_seconds = t0.elapsed().as_secs_f64();
    tokio::time::sleep(settle).await;
    let rss_after_kib = max_rss_over(pid, settle).await;
    let after_series = series::scrape(infra, &stack.base_url).await?;
    Ok(Hostile {
        login_limit_per_client: LOGIN_LIMIT,
        ratio: loaded.per_s / unloaded.per_s.max(f64::MIN_POSITIVE),
        unloaded,
        unloaded_cpu,
        loaded,
        loaded_cpu,
        flood,
        junk_warmup,
        junk,
        junk_seconds,
        rss_before_kib,
        rss_after_kib,
        rss_growth_pct: (rss_after_kib as f64 / rss_before_kib.max(1) as f64 - 1.0) * 100.0,
        series_before: before_series.len(),
        series_after: after_series.len(),
        new_series: after_series
            .difference(&before_series)
            .take(20)
            .cloned()
            .collect(),
    })
}

impl Hostile {
    /// The plot's two runs: intake unloaded, and under the login flood.
    pub fn plot_runs(&self) -> [plot::Run<'_>; 2] {
        [
            plot::Run {
                load: &self.unloaded,
                rate: format!("intake unloaded: 202/s (mean {:.0})", self.unloaded.per_s),
                name: "unloaded",
            },
            plot::Run {
                load: &self.loaded,
                rate: format!(
                    "intake under a login flood: 202/s (mean {:.0})",
                    self.loaded.per_s
                ),
                name: "under the flood",
            },
        ]
    }

    /// The table's rows: each promise of issue 11's proof, checked.
    pub fn rows(&self) -> Vec<Row> {
        let (u, l, f) = (&self.unloaded, &self.loaded, &self.flood);
        let refused = f.refused_latency();
        let errors = |load: &Load| {
            let n: u64 = load.errors.values().sum();
            if n > 0 {
                format!(" ({n} errors: {:?})", load.errors)
            } else {
                String::new()
            }
        };
        vec![
            row(
                format!(
                    "hostile: intake unloaded, {} clients, {:.0} s",
                    u.clients, u.seconds
                ),
                format!(
                    "{:.0}/s; p50 / p99 {:.1} / {:.1} ms{}",
                    u.per_s,
                    u.latency.p50_ms,
                    u.latency.p99_ms,
                    errors(u)
                ),
            ),
            check(
                format!(
                    "  intake under a login flood ({} clients, {} addresses)",
                    f.clients,
                    f.sources.len()
                ),
                format!(
                    "{:.0}/s = {:.1}% of unloaded{}",
                    l.per_s,
                    self.ratio * 100.0,
                    errors(l)
                ),
                ">= 80% of unloaded".into(),
                self.ratio >= 0.8,
            ),
            check(
                "  intake latency under the flood p50 / p99 / max".into(),
                format!(
                    "{:.1} / {:.1} / {:.1} ms",
                    l.latency.p50_ms, l.latency.p99_ms, l.latency.max_ms
                ),
                "p99 < 50 ms".into(),
                l.latency.p99_ms < 50.0,
            ),
            check(
                format!(
                    "  logins sent (one per {:.0} ms per client), answered",
                    f.every_ms
                ),
                format!(
                    "{} in {:.1} s: {}; 429 p50 / p99 {:.1} / {:.1} ms",
                    f.answers.sent,
                    f.seconds,
                    f.answers.describe(),
                    refused.p50_ms,
                    refused.p99_ms
                ),
                format!(
                    "401 (bcrypt) <= {:.0} ({LOGIN_LIMIT}/min per address)",
                    f.allowed
                ),
                f.verified as f64 <= f.allowed && f.answers.errors() == 0,
            ),
            row("  cores used unloaded".into(), self.unloaded_cpu.describe()),
            row(
                "  cores used under the flood".into(),
                self.loaded_cpu.describe(),
            ),
            row(
                format!(
                    "hostile: junk (random methods, paths, resend emails), {} after {} warm-up",
                    self.junk.sent, self.junk_warmup.sent
                ),
                format!("{} in {:.1} s", self.junk.describe(), self.junk_seconds),
            ),
            check(
                "  intake-api RSS after warm-up -> after junk".into(),
                format!(
                    "{:.1} -> {:.1} MiB ({:+.1}%)",
                    self.rss_before_kib as f64 / 1024.0,
                    self.rss_after_kib as f64 / 1024.0,
                    self.rss_growth_pct
                ),
                "within 10%".into(),
                self.rss_growth_pct.abs() <= 10.0,
            ),
            check(
                "  /metrics series after warm-up -> after junk".into(),
                format!("{} -> {}", self.series_before, self.series_after),
                "equal".into(),
                self.series_before == self.series_after && self.new_series.is_empty(),
            ),
        ]
    }
}
