//! RabbitMQ's management API (HTTP, as the AMQP URL's user): a sandbox's
//! vhost made with full permissions and deleted, and the broker's alarms.
//! One mechanism for tests and bench, and no `rabbitmqctl` (an Erlang VM
//! booted per call) on the way.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{Error, Result, Servers};

/// A client for the management API of `servers` (of any node that
/// answers, for a cluster).
#[derive(Debug, Clone)]
pub struct Management {
    apis: Vec<String>,
    user: String,
    password: String,
    http: reqwest::Client,
}

impl Management {
    pub fn new(servers: &Servers) -> Self {
        let (user, password) = servers.amqp_credentials();
        let mut http = reqwest::Client::builder();
        if let Some(pem) = servers
            .ca_cert
            .as_ref()
            .and_then(|path| std::fs::read(path).ok())
        {
            if let Ok(ca) = reqwest::Certificate::from_pem(&pem) {
                http = http.add_root_certificate(ca);
            }
        }
        Self {
            apis: servers
                .rabbitmq_api
                .split(',')
                .map(|api| api.trim().trim_end_matches('/').to_owned())
                .collect(),
            user,
            password,
            http: http.build().unwrap_or_default(),
        }
    }

    /// GET `/api/<path>` as JSON, from the first node that answers.
    pub async fn get(&self, path: &str) -> Result<serde_json::Value> {
        let what = format!("GET /api/{path}");
        let response = self.send(Method::GET, path, None, &what).await?;
        let status = response.status();
        if !status.is_success() {
            return Err(Error::ManagementStatus { what, status });
        }
        response
            .json()
            .await
            .map_err(|source| Error::Management { what, source })
    }

    /// One request to the first node whose API can be reached.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        what: &str,
    ) -> Result<reqwest::Response> {
        let mut unreachable = None;
        for api in &self.apis {
            let mut request = self.request(api, method.clone(), path);
            if let Some(body) = body {
                request = request.json(body);
            }
            match request.send().await {
                Ok(response) => return Ok(response),
                Err(source) => unreachable = Some(source),
            }
        }
        Err(match unreachable {
            Some(source) => Error::Management {
                what: what.into(),
                source,
            },
            None => Error::ManagementStatus {
                what: what.into(),
                status: StatusCode::SERVICE_UNAVAILABLE,
            },
        })
    }

    /// Adds vhost `name` and gives the AMQP user every permission on it;
    /// returns its AMQP URL.
    pub async fn add_vhost(&self, servers: &Servers, name: &str) -> Result<String> {
        self.call(Method::PUT, &format!("vhosts/{name}"), None)
            .await?;
        let everything = json!({"configure": ".*", "write": ".*", "read": ".*"});
        let path = format!("permissions/{name}/{}", self.user);
        self.call(Method::PUT, &path, Some(everything)).await?;
        Ok(servers.amqp_url_of(name))
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
            .send(Method::GET, "health/checks/alarms", None, what)
            .await?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Ok((!status.is_success()).then(|| format!("HTTP {}: {text}", status.as_u16())))
    }

    fn request(&self, api: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{api}/api/{path}"))
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
            let status = self
                .send(method.clone(), path, body.as_ref(), &what)
                .await?
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
