//! What can go wrong while making a sandbox or starting a service. Every
//! message names the thing and, for a service, where its log is.

use std::{path::PathBuf, process::ExitStatus, time::Duration};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Postgres: {what} (is `scripts/services up` done?)")]
    Postgres {
        what: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("RabbitMQ's management API: {what} (scripts/services enables it on 15672)")]
    Management {
        what: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("RabbitMQ's management API answered {status} to {what}")]
    ManagementStatus {
        what: String,
        status: reqwest::StatusCode,
    },
    #[error("{} is missing: build it first ({hint})", path.display())]
    MissingBinary { path: PathBuf, hint: String },
    #[error("starting {}", path.display())]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{service} exited ({status}) before it was ready; its log: {}", log.display())]
    Exited {
        service: &'static str,
        status: ExitStatus,
        log: PathBuf,
    },
    #[error("{service} was not ready within {within:?}; its log: {}", log.display())]
    NotReady {
        service: &'static str,
        within: Duration,
        log: PathBuf,
    },
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}
