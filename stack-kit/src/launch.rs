//! The service binaries: which there are, where cargo put them, and one
//! started with its environment, its health port and its output appended
//! to a log file. What runs is a [`Process`].

use std::{
    path::{Path, PathBuf},
    process::Stdio,
};

use tokio::process::Command;

use crate::{free_port, Error, Process, Result, ServiceEnv};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Intake,
    Registration,
    Notification,
    Webhook,
}

impl Service {
    pub const ALL: [Service; 4] = [
        Service::Intake,
        Service::Registration,
        Service::Notification,
        Service::Webhook,
    ];

    pub fn binary(self) -> &'static str {
        match self {
            Self::Intake => "intake-api",
            Self::Registration => "registration-worker",
            Self::Notification => "notification-worker",
            Self::Webhook => "webhook-worker",
        }
    }
}

/// The directory the binaries are in, and how to build them if missing.
#[derive(Debug, Clone)]
pub struct Binaries {
    dir: PathBuf,
    build_hint: String,
}

/// How to start one service.
#[derive(Debug, Clone, Copy)]
pub struct Launch<'a> {
    pub service: Service,
    pub env: &'a ServiceEnv,
    /// Where its stdout and stderr are appended.
    pub log: &'a Path,
    /// A worker's health port (`HEALTH_ADDR`), a free one when `None`.
    /// intake-api answers health checks on its `BIND_ADDR`.
    pub health_port: Option<u16>,
}

impl Binaries {
    pub fn new(dir: impl Into<PathBuf>, build_hint: impl Into<String>) -> Self {
        Self {
            dir: dir.into(),
            build_hint: build_hint.into(),
        }
    }

    /// Cargo's profile directory (`target/debug`) of a test executable,
    /// which cargo puts in its `deps/`.
    pub fn of_test_exe() -> Result<Self> {
        let exe = std::env::current_exe().map_err(Error::io("locating the test executable"))?;
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("."));
        Ok(Self::new(dir, "cargo build --workspace --bins"))
    }

    /// The running executable's own directory (the bench's: `target/release`).
    pub fn beside_exe(build_hint: impl Into<String>) -> Result<Self> {
        let exe = std::env::current_exe().map_err(Error::io("locating the executable"))?;
        let dir = exe.parent().unwrap_or(Path::new("."));
        Ok(Self::new(dir, build_hint))
    }

    /// Where binary `name` is; an error if it has not been built.
    pub fn path(&self, name: &str) -> Result<PathBuf> {
        let path = self.dir.join(name);
        if path.exists() {
            Ok(path)
        } else {
            Err(Error::MissingBinary {
                path,
                hint: self.build_hint.clone(),
            })
        }
    }

    /// Starts a service; it is not ready yet (see [`Process::wait_ready`]).
    pub fn spawn(&self, launch: Launch<'_>) -> Result<Process> {
        let Launch {
            service,
            env,
            log,
            health_port,
        } = launch;
        let path = self.path(service.binary())?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(Error::io(format!("opening {}", log.display())))?;
        let stderr = file
            .try_clone()
            .map_err(Error::io(format!("opening {}", log.display())))?;
        let mut command = Command::new(&path);
        command
            .env_clear()
            .envs(env.iter())
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true);
        let health_url = if service == Service::Intake {
            format!(
                "http://{}",
                env.get("BIND_ADDR").unwrap_or("127.0.0.1:8000")
            )
        } else {
            let port = match health_port {
                Some(port) => port,
                None => free_port().map_err(Error::io("finding a free port"))?,
            };
            let addr = format!("127.0.0.1:{port}");
            command.env("HEALTH_ADDR", &addr);
            format!("http://{addr}")
        };
        let spawn_error = |source| Error::Spawn {
            path: path.clone(),
            source,
        };
        let child = command.spawn().map_err(spawn_error)?;
        let pid = child
            .id()
            .ok_or_else(|| spawn_error(std::io::Error::other("it exited at once")))?;
        Ok(Process::new(
            service,
            pid,
            health_url,
            log.to_owned(),
            child,
        ))
    }
}
