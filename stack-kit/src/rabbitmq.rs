//! RabbitMQ's management API (HTTP, as the AMQP URL's user): a sandbox's
//! vhost made with full permissions and deleted, and the broker's alarms.
//! One mechanism for tests and bench, and no `rabbitmqctl` (an Erlang VM
//! booted per call) on the way.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{Error, Result, Servers};

/// A client for the management API of `servers`.
#[derive(Debug, Clone)]
pub struct Management {
    api: String,
    user: String,
    password: String,
    http: reqwest::Client,
}

impl Management {
    pub fn new(servers: &Servers) -> Self {
        let (user, password) = servers.amqp_credentials();
        Self {
            api: servers.rabbitmq_api.clone(),
            user,
            password,
            http: reqwest::Client::new(),
        }
    }

    /// Adds vhost `name` and gives the AMQP user every permission on it;
    /// returns its AMQP URL.
    pub async fn add_vhost(&self, servers: &Servers, name: &str) -> Result<String> {
        self.call(Method::PUT, &format!("vhosts/{name}"), None)
            .await?;
        let everything = json!({"configure": ".*", "write": ".*", "read": ".*"});
        let path = format!("permissions/{name}/{}", self.user);
        self.call(Method::PUT, &path, Some(everything)).await?;
        Ok(format!("{}/{name}", servers.amqp_url))
    }

    /// Deletes vhost `name` and everything in it (gone already is fine).
    pub async fn delete_vhost(&self, name: &str) -> Result<()> {
        self.call(Method::DELETE, &format!("vhosts/{name}"), None)
            .await
    }

    /// The broker's alarms in effect (memory, disk), from its health check:
    /// `None` when there are none.
    pub async fn alarms(&self) -> Result<Option<String>> {
        let what = "the alarms health check";
        let response = self
            .request(Method::GET, "health/checks/alarms")
            .send()
            .await
            .map_err(|source| Error::Management {
                what: what.into(),
                source,
            })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Ok((!status.is_success()).then(|| format!("HTTP {}: {text}", status.as_u16())))
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/api/{path}", self.api))
            .basic_auth(&self.user, Some(&self.password))
            .timeout(Duration::from_secs(30))
    }

    /// One call; a 404 counts as done, and a 5xx (seen now and then while
    /// the broker is busy deleting a large vhost) is retried twice, a
    /// second apart.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<()> {
        let what = format!("{method} /api/{path}");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self.request(method.clone(), path);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let status = request
                .send()
                .await
                .map_err(|source| Error::Management {
                    what: what.clone(),
                    source,
                })?
                .status();
            if status.is_success() || status == StatusCode::NOT_FOUND {
                return Ok(());
            }
            if !status.is_server_error() || attempt == 3 {
                return Err(Error::ManagementStatus { what, status });
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
