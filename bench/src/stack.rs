//! One phase's system under test: a fresh database and vhost, and the real
//! release binaries started against them (environment as in the e2e
//! harness, logs to files). Every child is killed when the stack is
//! dropped, so an error or Ctrl-C leaves no process behind.

use std::{net::TcpListener, process::Stdio, time::Duration};

use anyhow::{bail, Context};
use sqlx::PgPool;
use tokio::{
    process::{Child, Command},
    time::Instant,
};

use crate::{infra::Infra, noise::log_problems};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Intake,
    Registration,
    Notification,
}

impl Service {
    pub fn binary(self) -> &'static str {
        match self {
            Self::Intake => "intake-api",
            Self::Registration => "registration-worker",
            Self::Notification => "notification-worker",
        }
    }
}

struct Proc {
    service: Service,
    pid: u32,
    health: String,
    child: Child,
}

/// Registration requests by status.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    pub pending: i64,
    pub completed: i64,
    pub rejected: i64,
    pub failed: i64,
}

pub struct Stack<'a> {
    infra: &'a Infra,
    phase: String,
    pub name: String,
    pub db: PgPool,
    pub amqp_url: String,
    /// intake-api's base URL.
    pub base_url: String,
    env: Vec<(&'static str, String)>,
    procs: Vec<Proc>,
    spawned: usize,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl<'a> Stack<'a> {
    pub async fn create(infra: &'a Infra, phase: &str) -> anyhow::Result<Stack<'a>> {
        let (name, database_url, amqp_url) = infra.create(phase).await?;
        let port = free_port()?;
        let base_url = format!("http://127.0.0.1:{port}");
        let huge = "100000000".to_owned();
        let env = vec![
            ("APP_ENV", "test".to_owned()),
            ("DATABASE_URL", database_url.clone()),
            ("AMQP_URL", amqp_url.clone()),
            ("PHI_ENCRYPTION_KEY", infra.phi_key.clone()),
            (
                "JWT_SECRET",
                "bench-jwt-secret-long-enough-for-the-check".into(),
            ),
            ("SMTP_HOST", infra.smtp_host.clone()),
            ("SMTP_PORT", infra.smtp_port.clone()),
            ("SMTP_TLS", "none".into()),
            (
                "SMTP_FROM",
                "Patient Registration <no-reply@example.com>".into(),
            ),
            ("PUBLIC_BASE_URL", base_url.clone()),
            ("BIND_ADDR", format!("127.0.0.1:{port}")),
            ("RUST_LOG", "warn".into()),
            // Never let a rate limit shape what is measured.
            ("REGISTER_RATE_LIMIT_PER_CLIENT", huge.clone()),
            ("REGISTER_RATE_LIMIT_PER_PARTNER", huge),
        ];
        let db = PgPool::connect(&database_url).await?;
        Ok(Stack {
            infra,
            phase: phase.to_owned(),
            name,
            db,
            amqp_url,
            base_url,
            env,
            procs: Vec::new(),
            spawned: 0,
        })
    }

    /// Starts one service with `extra` environment; returns its pid.
    pub fn spawn(&mut self, service: Service, extra: &[(&str, String)]) -> anyhow::Result<u32> {
        self.spawned += 1;
        let log_path = self.infra.log_dir.join(format!(
            "{}-{}-{}.log",
            self.name,
            service.binary(),
            self.spawned
        ));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let binary = self.infra.bin_dir.join(service.binary());
        if !binary.exists() {
            bail!(
                "{} is missing: build it with `cargo build --release --bins` (bench/run does)",
                binary.display()
            );
        }
        let mut cmd = Command::new(&binary);
        cmd.env_clear()
            .envs(self.env.iter().map(|(k, v)| (*k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        let health = if service == Service::Intake {
            self.base_url.clone()
        } else {
            let addr = format!("127.0.0.1:{}", free_port()?);
            cmd.env("HEALTH_ADDR", &addr);
            format!("http://{addr}")
        };
        cmd.envs(extra.iter().map(|(k, v)| (*k, v)));
        cmd.envs(self.infra.service_env.iter().map(|(k, v)| (k, v)));
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("the child has no pid")?;
        self.procs.push(Proc {
            service,
            pid,
            health,
            child,
        });
        Ok(pid)
    }

    fn proc_mut(&mut self, pid: u32) -> anyhow::Result<&mut Proc> {
        self.procs
            .iter_mut()
            .find(|p| p.pid == pid)
            .with_context(|| format!("no process {pid}"))
    }

    /// Waits until a started service answers `/health/ready`.
    pub async fn wait_ready(&mut self, pid: u32) -> anyhow::Result<()> {
        let http = self.infra.http.clone();
        let log_dir = self.infra.log_dir.clone();
        let proc = self.proc_mut(pid)?;
        let url = format!("{}/health/ready", proc.health);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = proc.child.try_wait()? {
                bail!(
                    "{} exited ({status}) before it was ready; its log is in {}",
                    proc.service.binary(),
                    log_dir.display()
                );
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
                bail!("{} was not ready within 60 s", proc.service.binary());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The running services this stack started: pid and binary name.
    pub fn pids(&self) -> Vec<(u32, &'static str)> {
        self.procs
            .iter()
            .map(|p| (p.pid, p.service.binary()))
            .collect()
    }

    /// Starts a service and waits until it is ready.
    pub async fn start(
        &mut self,
        service: Service,
        extra: &[(&str, String)],
    ) -> anyhow::Result<u32> {
        let pid = self.spawn(service, extra)?;
        self.wait_ready(pid).await?;
        Ok(pid)
    }

    /// Kills one service (SIGKILL) and reaps it.
    pub async fn kill(&mut self, pid: u32) -> anyhow::Result<()> {
        let index = self
            .procs
            .iter()
            .position(|p| p.pid == pid)
            .with_context(|| format!("no process {pid}"))?;
        let mut proc = self.procs.remove(index);
        proc.child.kill().await.ok();
        Ok(())
    }

    /// The `registration_requests` table's rows by status.
    pub async fn counts(&self) -> anyhow::Result<Counts> {
        let (pending, completed, rejected, failed) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'pending'), \
                    count(*) FILTER (WHERE status = 'completed'), \
                    count(*) FILTER (WHERE status = 'rejected'), \
                    count(*) FILTER (WHERE status = 'failed') \
             FROM registration_requests",
        )
        .fetch_one(&self.db)
        .await?;
        Ok(Counts {
            pending,
            completed,
            rejected,
            failed,
        })
    }

    /// Polls [`Stack::counts`] `every` so long until none is pending; an
    /// error once `limit` has passed since `since`.
    pub async fn drained(
        &self,
        since: Instant,
        limit: Duration,
        every: Duration,
    ) -> anyhow::Result<Counts> {
        loop {
            let now = self.counts().await?;
            if now.pending == 0 {
                return Ok(now);
            }
            if since.elapsed() > limit {
                bail!(
                    "{} registrations still pending after {limit:?}",
                    now.pending
                );
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Stops every service, then drops the database and the vhost.
    pub async fn destroy(mut self) -> anyhow::Result<()> {
        for mut proc in self.procs.drain(..) {
            proc.child.kill().await.ok();
        }
        self.db.close().await;
        let (lines, first) = log_problems(&self.infra.log_dir, &self.name);
        self.infra.record_problems(&self.phase, lines, first);
        self.infra.destroy(&self.name).await
    }
}
