//! One isolated system under test: a fresh database and vhost, and the three
//! binaries started against them with their output captured to files.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    time::Duration,
};

use serde_json::Value;
use sqlx::PgPool;
use tokio::process::{Child, Command};

use crate::{
    eventually,
    servers::{
        self, binary_path, create_database, create_vhost, free_port, repo_root, smtp_host_port,
    },
    TEST_PHI_KEY,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Intake,
    Registration,
    Notification,
}

impl Service {
    pub const ALL: [Service; 3] = [
        Service::Intake,
        Service::Registration,
        Service::Notification,
    ];

    pub fn binary(self) -> &'static str {
        match self {
            Self::Intake => "intake-api",
            Self::Registration => "registration-worker",
            Self::Notification => "notification-worker",
        }
    }
}

#[derive(Default)]
pub struct StackOptions {
    /// Extra or overriding environment for every service.
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
    env: HashMap<&'static str, String>,
    health: HashMap<Service, String>,
    children: HashMap<Service, Child>,
    extras: Vec<Extra>,
}

/// A further instance of a worker, beside the one `children` holds.
struct Extra {
    service: Service,
    child: Option<Child>,
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(StackOptions::default()).await
    }

    pub async fn start_with(options: StackOptions) -> Self {
        let id = format!("e2e_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let (database_url, amqp_url) = tokio::join!(create_database(&id), create_vhost(&id));
        let (smtp_host, smtp_port) = smtp_host_port();
        let port = free_port();
        let base_url = format!("http://127.0.0.1:{port}");
        let mut env: HashMap<&'static str, String> = HashMap::from([
            ("APP_ENV", "test".into()),
            ("DATABASE_URL", database_url.clone()),
            ("AMQP_URL", amqp_url.clone()),
            ("SMTP_HOST", smtp_host),
            ("SMTP_PORT", smtp_port),
            ("SMTP_TLS", "none".into()),
            (
                "SMTP_FROM",
                "Patient Registration <no-reply@example.com>".into(),
            ),
            ("PUBLIC_BASE_URL", base_url.clone()),
            ("BIND_ADDR", format!("127.0.0.1:{port}")),
            ("PHI_ENCRYPTION_KEY", TEST_PHI_KEY.into()),
            (
                "JWT_SECRET",
                "test-jwt-secret-that-is-long-enough-to-pass".into(),
            ),
            // Tests send bursts from one address; the limits have their own tests.
            ("REGISTER_RATE_LIMIT_PER_CLIENT", "1000000".into()),
            (
                "RUST_LOG",
                "debug,sqlx=info,lapin=info,amq_protocol=info,hyper=info".into(),
            ),
        ]);
        env.extend(options.env);
        let log_dir = repo_root().join("target/e2e-logs").join(&id);
        std::fs::create_dir_all(&log_dir).unwrap();
        let health = HashMap::from([
            (Service::Intake, base_url.clone()),
            (
                Service::Registration,
                format!("http://127.0.0.1:{}", free_port()),
            ),
            (
                Service::Notification,
                format!("http://127.0.0.1:{}", free_port()),
            ),
        ]);
        let mut stack = Self {
            db: PgPool::connect(&database_url).await.unwrap(),
            http: reqwest::Client::new(),
            id,
            base_url,
            amqp_url,
            database_url,
            log_dir,
            env,
            health,
            children: HashMap::new(),
            extras: Vec::new(),
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
        let child = self.command(service, &self.log_path(service), &self.health[&service]);
        self.children.insert(service, child);
    }

    fn command(&self, service: Service, log: &Path, health: &str) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut cmd = Command::new(binary_path(service.binary()));
        cmd.env_clear()
            .envs(&self.env)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        if service != Service::Intake {
            cmd.env("HEALTH_ADDR", health.trim_start_matches("http://"));
        }
        cmd.spawn().unwrap()
    }

    pub async fn wait_ready(&self, service: Service) {
        self.wait_url_ready(service, &self.health[&service]).await;
    }

    async fn wait_url_ready(&self, service: Service, health: &str) {
        let url = format!("{health}/health/ready");
        eventually(
            &format!("{} to be ready", service.binary()),
            Duration::from_secs(90),
            || async {
                let ok = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                ok.then_some(())
            },
        )
        .await;
    }

    /// Sends SIGTERM to a service and waits up to `deadline` for it to exit.
    /// `None` if it was not running or did not exit in time (it is then
    /// killed). Start it again with [`Stack::spawn`].
    pub async fn terminate(&mut self, service: Service, deadline: Duration) -> Option<ExitStatus> {
        let mut child = self.children.remove(&service)?;
        let pid = child.id()?.to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(sent.success(), "kill -TERM {pid} failed");
        match tokio::time::timeout(deadline, child.wait()).await {
            Ok(status) => status.ok(),
            Err(_) => {
                child.kill().await.ok();
                None
            }
        }
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
        let health = format!("http://127.0.0.1:{}", free_port());
        let child = self.command(service, &self.extra_log_path(service, n), &health);
        self.extras.push(Extra {
            service,
            child: Some(child),
        });
        self.wait_url_ready(service, &health).await;
        n
    }

    /// Kills an extra instance (SIGKILL) and waits for it to exit.
    pub async fn stop_extra(&mut self, n: usize) -> Option<i32> {
        let mut child = self.extras.get_mut(n)?.child.take()?;
        child.kill().await.ok();
        child.wait().await.ok().and_then(|s| s.code())
    }

    fn extra_log_path(&self, service: Service, n: usize) -> PathBuf {
        self.log_dir
            .join(format!("{}.extra-{n}.log", service.binary()))
    }

    /// Everything an extra instance has written so far.
    pub fn extra_log(&self, n: usize) -> String {
        let Some(extra) = self.extras.get(n) else {
            return String::new();
        };
        std::fs::read_to_string(self.extra_log_path(extra.service, n)).unwrap_or_default()
    }

    /// Where this stack's service logs are.
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// Where a service answers `/health/*` and `/metrics`.
    pub fn health_url(&self, service: Service) -> String {
        self.health[&service].clone()
    }

    /// Changes one variable for services started from now on.
    pub fn set_env(&mut self, name: &'static str, value: impl Into<String>) {
        self.env.insert(name, value.into());
    }

    /// Kills a service and starts it again with the current environment.
    pub async fn restart(&mut self, service: Service) {
        self.stop(service).await;
        self.spawn(service);
        self.wait_ready(service).await;
    }

    /// Kills a service (SIGKILL) and waits for it to exit.
    pub async fn stop(&mut self, service: Service) -> Option<i32> {
        let mut child = self.children.remove(&service)?;
        child.kill().await.ok();
        child.wait().await.ok().and_then(|s| s.code())
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

    pub async fn register(&self, body: &Value) -> reqwest::Response {
        self.register_with(body, &[]).await
    }

    /// Registers with extra request headers (`prefer`, `x-api-key`, ...).
    pub async fn register_with(&self, body: &Value, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/api/v1/patient/register", self.base_url))
            .json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// Registers and returns the request id of the 202.
    pub async fn register_accepted(&self, body: &Value) -> String {
        let response = self.register(body).await;
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
        let json: Value = response.json().await.unwrap();
        json["data"]["request_id"].as_str().unwrap().to_owned()
    }

    pub async fn status(&self, request_id: &str) -> (u16, Value) {
        let response = self
            .http
            .get(status_url(&self.base_url, request_id))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// Polls a request's status until it is no longer pending.
    pub async fn settled(&self, request_id: &str) -> Value {
        eventually(
            "the registration to settle",
            Duration::from_secs(90),
            || async {
                let (code, body) = self.status(request_id).await;
                assert_eq!(code, 200, "{body}");
                (body["data"]["status"] != "pending").then_some(body["data"].clone())
            },
        )
        .await
    }

    /// Takes the next registration message off the request queue, as the
    /// broker holds it (run with the registration worker stopped).
    pub async fn take_request_message(&self) -> lapin::message::Delivery {
        let conn = self.amqp().await;
        let channel = conn.create_channel().await.unwrap();
        channel
            .basic_get(
                "registration.requests".into(),
                lapin::options::BasicGetOptions::default(),
            )
            .await
            .unwrap()
            .expect("a registration waits on the request queue")
            .delivery
    }

    /// A raw AMQP connection to this stack's vhost.
    pub async fn amqp(&self) -> lapin::Connection {
        lapin::Connection::connect(&self.amqp_url, lapin::ConnectionProperties::default())
            .await
            .unwrap()
    }
}

/// Where a registration request's status is.
pub(crate) fn status_url(base_url: &str, request_id: &str) -> String {
    format!("{base_url}/api/v1/patient/registrations/{request_id}")
}

/// A finished test leaves nothing behind on the shared servers: its vhost
/// goes (every vhost's quorum queues slow a broker restart), and so does its
/// database unless the test failed (kept, with its logs, for a post-mortem).
impl Drop for Stack {
    fn drop(&mut self) {
        for child in self.children.values_mut() {
            let _ = child.start_kill();
        }
        for extra in &mut self.extras {
            if let Some(child) = extra.child.as_mut() {
                let _ = child.start_kill();
            }
        }
        servers::remove(&self.id, std::thread::panicking());
    }
}
