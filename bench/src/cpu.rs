//! Where the CPU went during a measurement: CPU time per process group
//! (the services, Postgres, RabbitMQ, PgBouncer, the bench's own load,
//! MailDev, and everything else on the machine) from `/proc`, between two
//! snapshots. It says what a figure is bound by, and how much other work
//! took.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use tokio::time::Instant;

/// Clock ticks per second of `/proc` CPU times (USER_HZ; 100 on Linux).
const HZ: f64 = 100.0;

pub struct Snapshot {
    at: Instant,
    busy: u64,
    per_pid: HashMap<u32, (&'static str, String, u64)>,
    ours: HashMap<u32, &'static str>,
}

/// CPU used between two snapshots.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuUse {
    pub seconds: f64,
    /// All CPUs busy, in cores (2.0 = both cores busy all the time).
    pub machine_cores: f64,
    /// Cores used by each group, `other` included.
    pub cores: BTreeMap<&'static str, f64>,
    /// The busiest processes in `other`, by name: what else was running.
    pub other_top: Vec<(String, f64)>,
}

/// The shared servers by name; the services only when they are ours (other
/// test suites may be running theirs), the rest is `other`.
fn group(pid: u32, comm: &str, ours: &HashMap<u32, &'static str>) -> &'static str {
    if let Some(name) = ours.get(&pid) {
        return name;
    }
    match comm {
        _ if pid == std::process::id() => "bench",
        "beam.smp" => "rabbitmq",
        "postgres" => "postgres",
        "pgbouncer" => "pgbouncer",
        "node" => "node (maildev)",
        _ => "other",
    }
}

fn proc_ticks(pid: u32, ours: &HashMap<u32, &'static str>) -> Option<(&'static str, String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = &stat[open + 1..close];
    let rest: Vec<&str> = stat[close + 2..].split(' ').collect();
    // After the comm: state is field 3, utime field 14, stime field 15.
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((group(pid, comm, ours), comm.to_owned(), utime + stime))
}

fn machine_busy() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|f| f.parse().ok())
        .collect();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    fields.iter().sum::<u64>().saturating_sub(idle)
}

/// CPU times now; `ours` names the services this bench started, by pid.
pub fn snapshot(ours: &[(u32, &'static str)]) -> Snapshot {
    take(ours.iter().copied().collect())
}

fn take(ours: HashMap<u32, &'static str>) -> Snapshot {
    let mut per_pid = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.filter_map(Result::ok) {
            if let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) {
                if let Some(ticks) = proc_ticks(pid, &ours) {
                    per_pid.insert(pid, ticks);
                }
            }
        }
    }
    Snapshot {
        at: Instant::now(),
        busy: machine_busy(),
        per_pid,
        ours,
    }
}

/// The CPU used from `before` to now.
pub fn since(before: &Snapshot) -> CpuUse {
    let after = take(before.ours.clone());
    let seconds = (after.at - before.at).as_secs_f64().max(0.001);
    let mut ticks: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut others: HashMap<&str, u64> = HashMap::new();
    for (pid, (group, comm, now)) in &after.per_pid {
        let then = before.per_pid.get(pid).map_or(0, |(_, _, t)| *t);
        let used = now.saturating_sub(then);
        *ticks.entry(group).or_default() += used;
        if *group == "other" {
            *others.entry(comm.as_str()).or_default() += used;
        }
    }
    let mut other_top: Vec<(String, f64)> = others
        .into_iter()
        .map(|(comm, t)| (comm.to_owned(), t as f64 / HZ / seconds))
        .filter(|(_, cores)| *cores >= 0.02)
        .collect();
    other_top.sort_by(|a, b| b.1.total_cmp(&a.1));
    other_top.truncate(3);
    let busy = after.busy.saturating_sub(before.busy);
    let named: u64 = ticks
        .iter()
        .filter(|(g, _)| **g != "other")
        .map(|(_, t)| t)
        .sum();
    // Whatever the named groups did not use: other processes, the kernel.
    ticks.insert("other", busy.saturating_sub(named));
    CpuUse {
        seconds,
        machine_cores: busy as f64 / HZ / seconds,
        cores: ticks
            .into_iter()
            .map(|(g, t)| (g, t as f64 / HZ / seconds))
            .collect(),
        other_top,
    }
}

impl CpuUse {
    /// `group 0.45, …` in cores, largest first, without idle groups.
    pub fn describe(&self) -> String {
        let mut groups: Vec<(&str, f64)> = self
            .cores
            .iter()
            .map(|(g, c)| (*g, *c))
            .filter(|(_, c)| *c >= 0.01)
            .collect();
        groups.sort_by(|a, b| b.1.total_cmp(&a.1));
        let list: Vec<String> = groups.iter().map(|(g, c)| format!("{g} {c:.2}")).collect();
        let mut text = format!("{} (all: {:.2})", list.join(", "), self.machine_cores);
        if !self.other_top.is_empty() {
            let top: Vec<String> = self
                .other_top
                .iter()
                .map(|(comm, c)| format!("{comm} {c:.2}"))
                .collect();
            text += &format!("; other is mostly {}", top.join(", "));
        }
        text
    }

    /// `total µs: group µs, …` of CPU per operation, largest first.
    pub fn per_op_text(&self, ops: u64) -> String {
        let mut groups: Vec<(&str, f64)> = self
            .per_op_us(ops)
            .into_iter()
            .filter(|(_, us)| *us >= 1.0)
            .collect();
        groups.sort_by(|a, b| b.1.total_cmp(&a.1));
        let total: f64 = groups.iter().map(|g| g.1).sum();
        let list: Vec<String> = groups
            .iter()
            .map(|(g, us)| format!("{g} {us:.0}"))
            .collect();
        let mut text = format!("{total:.0} µs: {}", list.join(", "));
        if let Some((comm, cores)) = self.other_top.first() {
            text += &format!("; other is mostly {comm} ({cores:.2} cores)");
        }
        text
    }

    /// CPU microseconds per operation, by group, for `ops` operations.
    pub fn per_op_us(&self, ops: u64) -> BTreeMap<&'static str, f64> {
        let ops = ops.max(1) as f64;
        self.cores
            .iter()
            .map(|(g, c)| (*g, c * self.seconds * 1e6 / ops))
            .collect()
    }
}
