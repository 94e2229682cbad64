//! Memory of the services: a background sampler of `VmRSS` (every 100 ms)
//! that also reads the kernel's own peak (`VmHWM`) when it stops.

use std::time::Duration;

use serde::Serialize;
use tokio::{sync::oneshot, task::JoinHandle};

#[derive(Debug, Clone, Serialize)]
pub struct Peak {
    pub service: String,
    /// Highest `VmRSS` sampled while watching.
    pub peak_rss_kib: u64,
    /// The process's peak RSS since it started (`VmHWM`).
    pub hwm_kib: u64,
}

impl Peak {
    /// The larger of the sampled peak and `VmHWM`, in MiB.
    pub fn mib(&self) -> f64 {
        self.peak_rss_kib.max(self.hwm_kib) as f64 / 1024.0
    }
}

pub struct Watch {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Vec<Peak>>,
}

impl Watch {
    pub fn start(procs: Vec<(String, u32)>) -> Self {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut peaks: Vec<Peak> = procs
                .iter()
                .map(|(name, _)| Peak {
                    service: name.clone(),
                    peak_rss_kib: 0,
                    hwm_kib: 0,
                })
                .collect();
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                let last = tokio::select! {
                    _ = tick.tick() => false,
                    _ = &mut stopped => true,
                };
                for (peak, (_, pid)) in peaks.iter_mut().zip(&procs) {
                    if let Some((rss, hwm)) = rss_kib(*pid) {
                        peak.peak_rss_kib = peak.peak_rss_kib.max(rss);
                        peak.hwm_kib = hwm;
                    }
                }
                if last {
                    return peaks;
                }
            }
        });
        Self { stop, task }
    }

    pub async fn finish(self) -> Vec<Peak> {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

/// The highest `VmRSS` of `pid` over `span`, sampled every 100 ms, in KiB.
pub async fn max_rss_over(pid: u32, span: Duration) -> u64 {
    let deadline = tokio::time::Instant::now() + span;
    let mut max = 0;
    while tokio::time::Instant::now() < deadline {
        if let Some((rss, _)) = rss_kib(pid) {
            max = max.max(rss);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    max
}

/// `VmRSS` and `VmHWM` (peak) of a process, in KiB.
fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
