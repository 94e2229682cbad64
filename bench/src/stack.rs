//! One phase's system under test: a [`Sandbox`] (a fresh database and
//! vhost, on the plain servers or on others such as the TLS set) and the
//! real release binaries started against it by the stack kit (the
//! environment the e2e harness uses too, logs to files). Every child is
//! killed and the sandbox removed when the stack is dropped, so an error or
//! Ctrl-C leaves nothing behind.

use std::time::Duration;

use anyhow::{bail, Context};
use sqlx::PgPool;
use stack_kit::{free_port, Launch, Process, Sandbox, Servers, ServiceEnv};
use tokio::time::Instant;

pub use stack_kit::Service;

use crate::{
    data::{Publisher, Target},
    infra::Infra,
    noise::log_problems,
};

/// How long a service may take to become ready.
const READY: Duration = Duration::from_secs(60);

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
    /// The servers its sandbox is on (their CA, if any, trusted).
    servers: Servers,
    /// A pool straight to its database (never through a pooler).
    pub db: PgPool,
    pub amqp_url: String,
    /// intake-api's base URL.
    pub base_url: String,
    env: ServiceEnv,
    procs: Vec<Process>,
    /// The bench's own binaries (the minimal endpoint): pid, name, child.
    own: Vec<(u32, &'static str, tokio::process::Child)>,
    spawned: usize,
    /// Last, so that it is removed after every process is killed.
    sandbox: Sandbox,
}

impl<'a> Stack<'a> {
    /// A stack on the plain servers.
    pub async fn create(infra: &'a Infra, phase: &str) -> anyhow::Result<Stack<'a>> {
        Self::create_on(infra, &infra.servers, phase).await
    }

    /// A stack on `servers` (e.g. the TLS set: its services are then given
    /// the servers' CA).
    pub async fn create_on(
        infra: &'a Infra,
        servers: &Servers,
        phase: &str,
    ) -> anyhow::Result<Stack<'a>> {
        let name = format!("bench_{}_{phase}", infra.run_id);
        let sandbox = Sandbox::create(servers, &name).await?;
        let port = free_port()?;
        // The kit's environment as it is: quiet logs, no rate limit.
        let env = ServiceEnv::new(servers, &sandbox, port, &infra.phi_key);
        let db = PgPool::connect_with(servers.pg_options(&sandbox.database_url)?).await?;
        Ok(Stack {
            infra,
            phase: phase.to_owned(),
            name,
            servers: servers.clone(),
            db,
            amqp_url: sandbox.amqp_url.clone(),
            base_url: env.base_url(),
            env,
            procs: Vec::new(),
            own: Vec::new(),
            spawned: 0,
            sandbox,
        })
    }

    /// The database's direct URL (what `DATABASE_URL` is unless changed).
    pub fn database_url(&self) -> &str {
        &self.sandbox.database_url
    }

    /// Sets one variable for every service started from now on.
    pub fn set_env(&mut self, name: &str, value: String) -> &mut Self {
        self.env.set(name, value);
        self
    }

    /// A confirmed publisher into this stack's vhost, trusting the
    /// servers' CA for `amqps://`.
    pub async fn publisher(
        &self,
        connections: usize,
        per_connection: usize,
        target: Target,
    ) -> anyhow::Result<Publisher> {
        let ca = self.servers.ca_cert.as_deref();
        Publisher::open_trusting(&self.amqp_url, ca, connections, per_connection, target).await
    }

    /// Starts one service with `extra` environment (and `BENCH_SERVICE_ENV`
    /// over it); returns its pid.
    pub fn spawn(&mut self, service: Service, extra: &[(&str, String)]) -> anyhow::Result<u32> {
        self.spawned += 1;
        let log = self.infra.log_dir.join(format!(
            "{}-{}-{}.log",
            self.name,
            service.binary(),
            self.spawned
        ));
        let mut env = self.env.clone();
        env.extend(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .extend(self.infra.service_env.iter().cloned());
        let process = self.infra.binaries.spawn(Launch {
            service,
            env: &env,
            log: &log,
            health_port: None,
        })?;
        let pid = process.pid();
        self.procs.push(process);
        Ok(pid)
    }

    fn proc(&self, pid: u32) -> anyhow::Result<&Process> {
        self.procs
            .iter()
            .find(|p| p.pid() == pid)
            .with_context(|| format!("no process {pid}"))
    }

    /// Waits until a started service answers `/health/ready`.
    pub async fn wait_ready(&self, pid: u32) -> anyhow::Result<()> {
        Ok(self.proc(pid)?.wait_ready(READY).await?)
    }

    /// The running services (and own binaries) this stack started: pid
    /// and binary name.
    pub fn pids(&self) -> Vec<(u32, &'static str)> {
        self.procs
            .iter()
            .map(|p| (p.pid(), p.service().binary()))
            .chain(self.own.iter().map(|(pid, name, _)| (*pid, *name)))
            .collect()
    }

    /// Starts one of the bench's own binaries (beside this one) with only
    /// `env`, its output to the phase's log; returns its pid. It is killed
    /// when the stack is destroyed or dropped.
    pub fn spawn_own(&mut self, name: &'static str, env: &[(&str, String)]) -> anyhow::Result<u32> {
        self.spawned += 1;
        let log = self
            .infra
            .log_dir
            .join(format!("{}-{name}-{}.log", self.name, self.spawned));
        let file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = tokio::process::Command::new(self.infra.binaries.path(name)?)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(std::process::Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let pid = child
            .id()
            .with_context(|| format!("{name} exited at once"))?;
        self.own.push((pid, name, child));
        Ok(pid)
    }

    /// Waits until an own binary answers 200 at `url`; an error if it
    /// exits first or takes longer than a service may.
    pub async fn wait_own_ready(&mut self, pid: u32, url: &str) -> anyhow::Result<()> {
        let t0 = Instant::now();
        loop {
            let answer = self.infra.http.get(url).send().await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            let (_, name, child) = self
                .own
                .iter_mut()
                .find(|(p, _, _)| *p == pid)
                .with_context(|| format!("no process {pid}"))?;
            if let Some(status) = child.try_wait()? {
                bail!("{name} exited ({status}) before it was ready: see its log");
            }
            if t0.elapsed() > READY {
                bail!("{name} not ready after {READY:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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
            .position(|p| p.pid() == pid)
            .with_context(|| format!("no process {pid}"))?;
        self.procs.remove(index).kill().await;
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
    pub async fn destroy(self) -> anyhow::Result<()> {
        for process in self.procs {
            process.kill().await;
        }
        for (_, _, mut child) in self.own {
            child.kill().await.ok();
        }
        self.db.close().await;
        let (lines, first) = log_problems(&self.infra.log_dir, &self.name);
        self.infra.record_problems(&self.phase, lines, first);
        Ok(self.sandbox.remove().await?)
    }
}
