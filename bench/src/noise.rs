//! Is the run trustworthy? The servers are shared (other test suites may be
//! using, or restarting, them) and so are the cores. Besides the CPU use
//! before the run (see `cpu`), the WARN/ERROR lines the services logged in
//! each phase are kept: a restart of Postgres or RabbitMQ under a phase
//! shows up there as lost connections.

use std::path::Path;

/// Warnings the bench causes on purpose, not problems: the stack lets
/// webhooks go to loopback (the bench's receiver), which the worker says.
const EXPECTED: [&str; 1] = ["WEBHOOK_ALLOW_PRIVATE_TARGETS"];

fn is_problem(line: &str) -> bool {
    (line.contains(" WARN ") || line.contains(" ERROR "))
        && !EXPECTED.iter().any(|e| line.contains(e))
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
            if is_problem(line) {
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

#[cfg(test)]
mod tests {
    use super::is_problem;

    #[test]
    fn the_benchs_own_settings_are_not_problems() {
        let private = "2026-11-30T08:32:41Z  WARN webhook_worker: WEBHOOK_ALLOW_PRIVATE_TARGETS: webhooks may go to private and loopback addresses";
        assert!(!is_problem(private));
        assert!(is_problem(
            "2026-11-30T08:32:41Z  WARN shared::broker: connection lost"
        ));
        assert!(is_problem("bench-minimal: ERROR connecting to RabbitMQ"));
        assert!(!is_problem("2026-11-30T08:32:41Z  INFO started"));
    }
}
