//! Is the run trustworthy? The servers are shared (other test suites may be
//! using, or restarting, them) and so are the cores. Two signs are kept:
//! how busy the CPU was just before the run, and the WARN/ERROR lines the
//! services logged in each phase (a restart of Postgres or RabbitMQ under a
//! phase shows up there as lost connections).

use std::{path::Path, time::Duration};

/// Busy and total jiffies of all CPUs, from `/proc/stat`.
fn cpu_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4)?;
    Some((total - idle, total))
}

/// Percent of all CPUs busy over `span` (0 when unknown).
pub async fn cpu_busy_pct(span: Duration) -> f64 {
    let Some((b0, t0)) = cpu_jiffies() else {
        return 0.0;
    };
    tokio::time::sleep(span).await;
    let Some((b1, t1)) = cpu_jiffies() else {
        return 0.0;
    };
    if t1 <= t0 {
        return 0.0;
    }
    (b1 - b0) as f64 * 100.0 / (t1 - t0) as f64
}

/// WARN and ERROR lines in the logs of one phase (files `<stack>-*.log`):
/// how many, and the first one.
pub fn log_problems(log_dir: &Path, stack: &str) -> (usize, Option<String>) {
    let Ok(entries) = std::fs::read_dir(log_dir) else {
        return (0, None);
    };
    let mut count = 0;
    let mut first = None;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{stack}-")))
        })
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for line in text.lines() {
            if line.contains(" WARN ") || line.contains(" ERROR ") {
                count += 1;
                if first.is_none() {
                    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
                    let short: String = line.chars().take(160).collect();
                    first = Some(format!("{name}: {short}"));
                }
            }
        }
    }
    (count, first)
}
