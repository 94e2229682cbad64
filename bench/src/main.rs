//! `bench`: measures the real system on this machine, against the servers
//! `scripts/services up` runs on loopback, starting the release binaries
//! itself (one fresh database and vhost per phase). Run it with `bench/run`
//! (`--quick` for a smoke run). Phases: the bcrypt bound, end to end
//! drain, the minimal endpoint (the least an HTTP endpoint can do to turn
//! a body into a confirmed persistent message: the baseline of intake and
//! batches), intake against it and against raw publishing, batch intake,
//! backpressure (a flood past the request queue's bound), idle latency,
//! webhooks (a backlog's delivery rate, idle settle → delivered), memory
//! under a backlog, hostile traffic (intake under a login flood; memory
//! and metric series after junk requests), transport (intake and end to
//! end over plain connections, over TLS, through PgBouncer). Prints a
//! table and writes it,
//! with every raw figure, as JSON and PNG plots to `bench/results/`
//! (timestamped, and `latest*`).

#![allow(clippy::print_stdout)]

mod backpressure;
mod batch;
mod bcrypt_bound;
mod cpu;
mod data;
mod e2e;
mod hostile;
mod http1;
mod infra;
mod intake;
mod latency;
mod memory;
mod minimal;
mod noise;
mod plot;
mod report;
mod rss;
mod smtp;
mod stack;
mod stats;
mod table;
mod transport;
mod webhooks;

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use anyhow::{bail, Context};
use tokio::time::Instant;

use crate::{
    infra::Infra,
    report::{Meta, Report},
};

const PHASES: [&str; 11] = [
    "bcrypt",
    "e2e",
    "minimal",
    "intake",
    "batch",
    "backpressure",
    "latency",
    "webhooks",
    "memory",
    "hostile",
    "transport",
];

struct Args {
    quick: bool,
    clients: usize,
    only: Vec<String>,
    out: PathBuf,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        quick: false,
        clients: 64,
        only: PHASES.map(String::from).to_vec(),
        out: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/results")),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => args.quick = true,
            "--only" => {
                let list = it.next().context("--only needs a list, e.g. e2e,intake")?;
                args.only = list.split(',').map(str::to_owned).collect();
                if let Some(bad) = args.only.iter().find(|p| !PHASES.contains(&p.as_str())) {
                    bail!("unknown phase {bad:?}; phases: {}", PHASES.join(","));
                }
            }
            "--clients" => {
                let n = it.next().context("--clients needs a number")?;
                args.clients = n.parse().context("--clients needs a number")?;
                if !(2..=1024).contains(&args.clients) {
                    bail!("--clients must be between 2 and 1024");
                }
            }
            "--out" => args.out = it.next().context("--out needs a directory")?.into(),
            "-h" | "--help" => {
                println!(
                    "usage: bench [--quick] [--only {}] [--clients N (64)] [--out DIR]",
                    PHASES.join(",")
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    Ok(args)
}

async fn interrupted() -> &'static str {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

pub fn say(what: &str) {
    eprintln!("[bench] {what}");
}

/// A phase's figures, or `None` with its error recorded in `report`.
fn keep<T>(report: &mut Report, phase: &'static str, result: anyhow::Result<T>) -> Option<T> {
    match result {
        Ok(figures) => Some(figures),
        Err(e) => {
            report.errors.insert(phase, format!("{e:#}"));
            None
        }
    }
}

/// Runs the chosen phases; a failed phase is recorded and the rest go on.
async fn run_phases(args: &Args, infra: &Infra, report: &mut Report) {
    let q = args.quick;
    let on = |p: &str| args.only.iter().any(|o| o == p);
    // Every later figure is read against the bcrypt bound, so it always runs.
    say("bcrypt: timing cost-12 hashes");
    let bcrypt = bcrypt_bound::run(10).await;
    let Some(b) = keep(report, "bcrypt", bcrypt) else {
        return;
    };
    let (t_hash, bound) = (b.t_hash_ms, b.bound_per_s);
    report.bcrypt = Some(b);
    if on("e2e") {
        let n = if q { 60 } else { 200 };
        say(&format!(
            "end to end: draining {n} registrations with 1, then 2 workers"
        ));
        let e2e = e2e::run(infra, n, t_hash, bound).await;
        report.end_to_end = keep(report, "e2e", e2e);
    }
    let load = intake::Settings {
        clients: args.clients,
        warmup: Duration::from_secs(if q { 1 } else { 2 }),
        window: Duration::from_secs(if q { 5 } else { 20 }),
    };
    // Intake and batches are read against the minimal endpoint: it runs
    // whenever either does.
    if on("minimal") || on("intake") || on("batch") {
        say(&format!(
            "minimal endpoint: {} clients for {:?}",
            load.clients, load.window
        ));
        let minimal = minimal::run(infra, &load).await;
        report.minimal = keep(report, "minimal", minimal);
    }
    if on("intake") {
        say(&format!(
            "intake: {} clients for {:?}, then raw publishes as long",
            load.clients, load.window
        ));
        let intake = Box::pin(intake::run(infra, &load)).await;
        report.intake = keep(report, "intake", intake);
    }
    if on("batch") {
        say(&format!(
            "batch: {} clients posting batches of {} for {:?}",
            batch::CLIENTS,
            batch::ITEMS,
            load.window
        ));
        let batch = Box::pin(batch::run(infra, &load)).await;
        report.batch = keep(report, "batch", batch);
    }
    if on("backpressure") {
        let bound = if q { 40 } else { 200 };
        say(&format!(
            "backpressure: {} registrations against a request queue bounded at {bound}",
            bound * 5
        ));
        let backpressure = backpressure::run(infra, bound, args.clients).await;
        report.backpressure = keep(report, "backpressure", backpressure);
    }
    if on("latency") {
        let n = if q { 30 } else { 200 };
        say(&format!(
            "latency: {n} sequential registrations on an idle system"
        ));
        let latency = latency::run(infra, n).await;
        report.latency = keep(report, "latency", latency);
    }
    if on("webhooks") {
        let settings = webhooks::Settings {
            backlog: if q { 2_000 } else { 10_000 },
            settle: if q { 15 } else { 50 },
        };
        say(&format!(
            "webhooks: a backlog of {} delivered by one worker, then {} idle registrations",
            settings.backlog, settings.settle
        ));
        let webhooks = Box::pin(webhooks::run(infra, &settings)).await;
        report.webhooks = keep(report, "webhooks", webhooks);
    }
    if on("memory") {
        let backlog = if q { 10_000 } else { 100_000 };
        let settle = Duration::from_secs(if q { 3 } else { 5 });
        say(&format!(
            "memory: worker RSS idle, then with {backlog} queued"
        ));
        let memory = memory::run(infra, backlog, settle).await;
        report.memory = keep(report, "memory", memory);
    }
    if on("hostile") {
        let settings = hostile::Settings {
            intake: intake::Settings {
                clients: args.clients,
                warmup: Duration::from_secs(if q { 1 } else { 2 }),
                window: Duration::from_secs(if q { 5 } else { 20 }),
            },
            attackers: 64,
            junk_warmup: if q { 2_000 } else { 10_000 },
            junk: if q { 20_000 } else { 100_000 },
        };
        say(&format!(
            "hostile: intake for {:?} unloaded, then under a login flood; then {} junk requests",
            settings.intake.window, settings.junk
        ));
        let hostile = Box::pin(hostile::run(infra, &settings)).await;
        report.hostile = keep(report, "hostile", hostile);
    }
    if on("transport") {
        let settings = transport::Settings {
            intake: intake::Settings {
                clients: args.clients,
                warmup: Duration::from_secs(if q { 1 } else { 2 }),
                window: Duration::from_secs(if q { 5 } else { 20 }),
            },
            // The e2e phase's quick backlog (half of it when quick).
            backlog: if q { 30 } else { 60 },
            workers: vec![1, 2],
        };
        say(&format!(
            "transport: intake for {:?} and drains of {} (1, then 2 workers), plain, over TLS, through PgBouncer",
            settings.intake.window, settings.backlog
        ));
        let transport = Box::pin(transport::run(infra, &settings, t_hash, bound)).await;
        if let Some(failed) = transport.failed() {
            report.errors.insert("transport", failed);
        }
        report.transport = Some(transport);
    }
}

fn write_outputs(args: &Args, report: &Report, stamp: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)?;
    let json = args.out.join(format!("bench-{stamp}.json"));
    std::fs::write(&json, serde_json::to_string_pretty(report)? + "\n")?;
    std::fs::copy(&json, args.out.join("latest.json"))?;
    say(&format!("wrote {}", json.display()));
    let about = format!(
        "{} run, {} UTC, {} cores",
        report.meta.mode, report.meta.started_at, report.meta.cores
    );
    if let Some(intake) = &report.intake {
        let title = format!("Intake vs raw publish ({about})");
        write_plot(args, stamp, "", |png| plot::draw(png, intake, &title))?;
    }
    if let Some(hostile) = &report.hostile {
        let title = format!("Intake unloaded vs under a login flood ({about})");
        let runs = hostile.plot_runs();
        write_plot(args, stamp, "-hostile", |png| {
            plot::draw_runs(png, &runs, &title)
        })?;
    }
    Ok(())
}

/// Draws `bench-<stamp><suffix>.png` and copies it to `latest<suffix>.png`;
/// a plot that cannot be drawn is only said.
fn write_plot(
    args: &Args,
    stamp: &str,
    suffix: &str,
    draw: impl FnOnce(&std::path::Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let png = args.out.join(format!("bench-{stamp}{suffix}.png"));
    match draw(&png) {
        Ok(()) => {
            std::fs::copy(&png, args.out.join(format!("latest{suffix}.png")))?;
            say(&format!("wrote {}", png.display()));
        }
        Err(e) => say(&format!("no plot: {e:#}")),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let started = chrono::Utc::now();
    let stamp = started.format("%Y%m%dT%H%M%SZ").to_string();
    let log_dir = args.out.join("logs").join(&stamp);
    std::fs::create_dir_all(&log_dir)?;
    let infra = Infra::from_env(log_dir.clone())?;
    data::check_bodies(&infra.email_prefix())?;
    say(&format!(
        "run {}; service logs in {}",
        infra.run_id,
        log_dir.display()
    ));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // What the machine does before we start: shared servers idle, or not.
    let before = cpu::snapshot(&[]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = cpu::since(&before);
    let mut report = Report {
        meta: Meta {
            started_at: started.format("%Y-%m-%d %H:%M:%S").to_string(),
            mode: if args.quick { "quick" } else { "default" },
            cores,
            git_rev: std::env::var("BENCH_GIT_REV")
                .ok()
                .filter(|s| !s.is_empty()),
            total_seconds: 0.0,
            cpu_busy_before_pct: idle.machine_cores * 100.0 / cores as f64,
            cpu_before: idle,
            service_env: infra.service_env_shown(),
        },
        table: Vec::new(),
        bcrypt: None,
        end_to_end: None,
        minimal: None,
        intake: None,
        batch: None,
        backpressure: None,
        latency: None,
        webhooks: None,
        memory: None,
        hostile: None,
        transport: None,
        errors: BTreeMap::new(),
        log_problems: BTreeMap::new(),
    };
    if report.meta.cpu_busy_before_pct > 25.0 {
        say(&format!(
            "warning: the CPUs were {:.0}% busy before the run ({}): other work will lower every figure",
            report.meta.cpu_busy_before_pct,
            report.meta.cpu_before.describe()
        ));
    }
    let t0 = Instant::now();
    let signal = tokio::select! {
        () = run_phases(&args, &infra, &mut report) => None,
        s = interrupted() => Some(s),
    };
    // The phase future is gone, and with it every child (killed on drop)
    // and the phase's database and vhost (removed on drop).
    infra.cleanup().await;
    if let Some(signal) = signal {
        bail!("interrupted by {signal}: services stopped, databases and vhosts removed");
    }
    report.meta.total_seconds = t0.elapsed().as_secs_f64();
    report.log_problems = infra.problems();
    report.tabulate();
    println!(
        "\nbench ({} run, {} UTC, {} cores, rev {}, {:.0} s; CPUs {:.0}% busy before)\n",
        report.meta.mode,
        report.meta.started_at,
        report.meta.cores,
        report.meta.git_rev.as_deref().unwrap_or("?"),
        report.meta.total_seconds,
        report.meta.cpu_busy_before_pct
    );
    print!("{}", table::render(&report.table));
    write_outputs(&args, &report, &stamp)?;
    if !report.errors.is_empty() {
        bail!("{} phase(s) failed", report.errors.len());
    }
    Ok(())
}
