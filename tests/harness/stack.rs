//! One isolated system under test: a [`Sandbox`] (a fresh database and
//! vhost), and the three binaries started against it by the stack kit with
//! their output captured to `target/e2e-logs/<id>/`. Dropping the stack
//! kills every process and removes the sandbox, keeping a failed test's
//! database for a post-mortem. What a test asks of the running stack
//! (register, status, AMQP) is in `requests.rs`.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::ExitStatus,
    time::Duration,
};

use sqlx::PgPool;
use stack_kit::{Launch, Process, Sandbox, Servers, Service, ServiceEnv};

use crate::{
    servers::{binaries, free_port, must, repo_root, servers},
    TEST_PHI_KEY,
};

/// Debug for our crates, quieter for the libraries: tests read the logs.
const RUST_LOG: &str = "debug,sqlx=info,lapin=info,amq_protocol=info,hyper=info";
/// How long a service may take to become ready.
const READY: Duration = Duration::from_secs(90);

/// Stands for the stack's database (and vhost) name in [`StackOptions::env`]
/// values, which are made before the name is.
pub const DATABASE: &str = "{database}";

#[derive(Default)]
pub struct StackOptions {
    /// Extra or overriding environment for every service; [`DATABASE`] in
    /// a value becomes the stack's database name.
    pub env: Vec<(&'static str, String)>,
}

pub struct Stack {
    pub id: String,
    pub base_url: String,
    pub amqp_url: String,
    pub database_url: String,
    pub db: PgPool,
    pub http: reqwest::Client,
    log_dir: PathBuf,
    env: ServiceEnv,
    /// Each worker's health port, kept across restarts.
    health_ports: HashMap<Service, u16>,
    children: HashMap<Service, Process>,
    /// Further instances of workers, beside the ones `children` holds.
    extras: Vec<(Service, Option<Process>)>,
    /// Held for its `Drop`; last, so that it is removed after every
    /// process is killed.
    _sandbox: Sandbox,
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(StackOptions::default()).await
    }

    pub async fn start_with(options: StackOptions) -> Self {
        Self::start_on(servers(), options).await
    }

    /// A stack on other servers than the plain ones (the TLS set, the
    /// cluster).
    pub async fn start_on(servers: &Servers, options: StackOptions) -> Self {
        let id = format!("e2e_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let sandbox = must(Sandbox::create(servers, &id).await);
        let mut env = ServiceEnv::new(servers, &sandbox, free_port(), TEST_PHI_KEY);
        env.set("RUST_LOG", RUST_LOG).extend(
            options
                .env
                .into_iter()
                .map(|(name, value)| (name, value.replace(DATABASE, &sandbox.name))),
        );
        let log_dir = repo_root().join("target/e2e-logs").join(&id);
        std::fs::create_dir_all(&log_dir).unwrap();
        let mut stack = Self {
            db: PgPool::connect_with(must(servers.pg_options(&sandbox.database_url)))
                .await
                .unwrap(),
            http: reqwest::Client::new(),
            id,
            base_url: env.base_url(),
            amqp_url: sandbox.amqp_url.clone(),
            database_url: sandbox.database_url.clone(),
            log_dir,
            env,
            health_ports: HashMap::from([
                (Service::Registration, free_port()),
                (Service::Notification, free_port()),
                (Service::Webhook, free_port()),
            ]),
            children: HashMap::new(),
            extras: Vec::new(),
            _sandbox: sandbox,
        };
        for service in Service::ALL {
            stack.spawn(service);
        }
        for service in Service::ALL {
            stack.wait_ready(service).await;
        }
        stack
    }

    /// Starts (or restarts) one service.
    pub fn spawn(&mut self, service: Service) {
        let process = self.launch(service, &self.log_path(service));
        self.children.insert(service, process);
    }

    fn launch(&self, service: Service, log: &Path) -> Process {
        must(binaries().spawn(Launch {
            service,
            env: &self.env,
            log,
            health_port: self.health_ports.get(&service).copied(),
        }))
    }

    /// Waits until a started service answers `/health/ready`; panics with
    /// its log's path if it exits first.
    pub async fn wait_ready(&self, service: Service) {
        let process = self
            .children
            .get(&service)
            .unwrap_or_else(|| panic!("{} is not running", service.binary()));
        must(process.wait_ready(READY).await);
    }

    /// Sends SIGTERM to a service and waits up to `deadline` for it to exit.
    /// `None` if it was not running or did not exit in time (it is then
    /// killed). Start it again with [`Stack::spawn`].
    pub async fn terminate(&mut self, service: Service, deadline: Duration) -> Option<ExitStatus> {
        let process = self.children.remove(&service)?;
        must(process.terminate(deadline).await)
    }

    /// Starts one more instance of a worker beside the running one, with its
    /// own health port and log file; returns its number. It runs until
    /// [`Stack::stop_extra`] or the end of the test.
    pub async fn spawn_extra(&mut self, service: Service) -> usize {
        assert!(
            service != Service::Intake,
            "only workers get extra instances"
        );
        let n = self.extras.len();
        let process = must(binaries().spawn(Launch {
            service,
            env: &self.env,
            log: &self.extra_log_path(service, n),
            health_port: None,
        }));
        must(process.wait_ready(READY).await);
        self.extras.push((service, Some(process)));
        n
    }

    /// Kills an extra instance (SIGKILL) and waits for it to exit.
    pub async fn stop_extra(&mut self, n: usize) -> Option<i32> {
        self.extras.get_mut(n)?.1.take()?.kill().await
    }

    fn extra_log_path(&self, service: Service, n: usize) -> PathBuf {
        self.log_dir
            .join(format!("{}.extra-{n}.log", service.binary()))
    }

    /// Everything an extra instance has written so far.
    pub fn extra_log(&self, n: usize) -> String {
        let Some((service, _)) = self.extras.get(n) else {
            return String::new();
        };
        std::fs::read_to_string(self.extra_log_path(*service, n)).unwrap_or_default()
    }

    /// Where this stack's service logs are.
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// Where a service answers `/health/*` and `/metrics`.
    pub fn health_url(&self, service: Service) -> String {
        match self.health_ports.get(&service) {
            Some(port) => format!("http://127.0.0.1:{port}"),
            None => self.base_url.clone(),
        }
    }

    /// Changes one variable for services started from now on.
    pub fn set_env(&mut self, name: &'static str, value: impl Into<String>) {
        self.env.set(name, value);
    }

    /// Kills a service and starts it again with the current environment.
    pub async fn restart(&mut self, service: Service) {
        self.stop(service).await;
        self.spawn(service);
        self.wait_ready(service).await;
    }

    /// Kills a service (SIGKILL) and waits for it to exit.
    pub async fn stop(&mut self, service: Service) -> Option<i32> {
        self.children.remove(&service)?.kill().await
    }

    fn log_path(&self, service: Service) -> PathBuf {
        self.log_dir.join(format!("{}.log", service.binary()))
    }

    /// Everything a service has written so far.
    pub fn log(&self, service: Service) -> String {
        std::fs::read_to_string(self.log_path(service)).unwrap_or_default()
    }

    pub fn all_logs(&self) -> String {
        Service::ALL
            .iter()
            .map(|s| self.log(*s))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Every process is killed before the sandbox (the last field) is removed.
impl Drop for Stack {
    fn drop(&mut self) {
        for process in self.children.values() {
            process.start_kill();
        }
        for process in self.extras.iter().filter_map(|(_, p)| p.as_ref()) {
            process.start_kill();
        }
    }
}
