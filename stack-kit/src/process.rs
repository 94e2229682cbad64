//! One running service: waited for until `/health/ready` answers (or until
//! it exits, which fails at once with its log's path), stopped with SIGKILL
//! or SIGTERM, and killed when dropped, so that an error, a panic or Ctrl-C
//! leaves no process behind.

use std::{
    path::{Path, PathBuf},
    process::ExitStatus,
    sync::{Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use tokio::{
    process::{Child, Command},
    time::Instant,
};

use crate::{Error, Result, Service};

/// One running service.
#[derive(Debug)]
pub struct Process {
    service: Service,
    pid: u32,
    health_url: String,
    log: PathBuf,
    /// Locked only to look at or signal it, never across an await, so that
    /// [`Process::wait_ready`] can take `&self`.
    child: Mutex<Child>,
}

impl Process {
    pub(crate) fn new(
        service: Service,
        pid: u32,
        health_url: String,
        log: PathBuf,
        child: Child,
    ) -> Self {
        Self {
            service,
            pid,
            health_url,
            log,
            child: Mutex::new(child),
        }
    }

    pub fn service(&self) -> Service {
        self.service
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Where it answers `/health/*` and `/metrics`.
    pub fn health_url(&self) -> &str {
        &self.health_url
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Polls `/health/ready` until it answers 2xx; an error if the process
    /// exits first or `within` passes.
    pub async fn wait_ready(&self, within: Duration) -> Result<()> {
        let http = reqwest::Client::new();
        let url = format!("{}/health/ready", self.health_url);
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.exited() {
                return Err(Error::Exited {
                    service: self.service.binary(),
                    status,
                    log: self.log.clone(),
                });
            }
            let ready = http
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::NotReady {
                    service: self.service.binary(),
                    within,
                    log: self.log.clone(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How it ended, if it has.
    pub fn exited(&self) -> Option<ExitStatus> {
        self.child().try_wait().ok().flatten()
    }

    /// SIGKILL, then reaps it; its exit code (`None`: killed by the signal).
    pub async fn kill(self) -> Option<i32> {
        let mut child = self.into_child();
        child.kill().await.ok();
        child.wait().await.ok().and_then(|s| s.code())
    }

    /// Sends SIGKILL without waiting (for `Drop` impls).
    pub fn start_kill(&self) {
        let _ = self.child().start_kill();
    }

    fn child(&self) -> MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn into_child(self) -> Child {
        self.child
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// SIGTERM, then waits up to `deadline` for it to exit. `None` if it
    /// did not exit in time (it is then killed).
    pub async fn terminate(self, deadline: Duration) -> Result<Option<ExitStatus>> {
        let pid = self.pid.to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .map_err(Error::io("running kill -TERM"))?;
        if !sent.success() {
            return Err(Error::Io {
                what: format!("kill -TERM {pid}"),
                source: std::io::Error::other(sent.to_string()),
            });
        }
        let mut child = self.into_child();
        match tokio::time::timeout(deadline, child.wait()).await {
            Ok(status) => Ok(status.ok()),
            Err(_) => {
                child.kill().await.ok();
                Ok(None)
            }
        }
    }
}
