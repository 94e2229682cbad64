//! Sending one attempt: a signed POST (Standard Webhooks headers) over a
//! pooled keep-alive client that follows no redirects, goes through no
//! proxy and resolves names with [`PublicOnly`] unless private targets
//! are allowed. What came back is an [`Attempted`]: a status, a latency
//! and a short error class; the answer's body is read (to keep the
//! connection reusable) and thrown away, never kept or logged.

use std::{sync::Arc, time::Duration};

use reqwest::header::CONTENT_TYPE;
use shared::webhook::{signature_header, Secret};
use tokio::time::Instant;

use crate::target::{is_forbidden_address, PublicOnly, Refusal, TargetPolicy};

/// The `user-agent` of every delivery.
pub const USER_AGENT: &str = "patient-registration-webhooks/1";
/// At most this much of an answer's body is read, then the connection
/// is dropped instead of reused.
const DRAIN_LIMIT: usize = 64 * 1024;

/// Why an attempt failed, as recorded in `webhook_attempts.error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// No answer within `WEBHOOK_TIMEOUT`.
    Timeout,
    /// No connection (refused, unreachable, TLS, unknown host).
    Connect,
    /// An answer that was not 2xx (a redirect included).
    Status,
    /// The host is, or resolves to, an address that is not public.
    ForbiddenAddress,
    /// Not an `http(s)` URL (`https` in production).
    InvalidUrl,
    /// The exchange broke off after it began.
    Request,
    /// The endpoint was disabled or deleted before the attempt.
    EndpointDisabled,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Status => "status",
            Self::ForbiddenAddress => "forbidden_address",
            Self::InvalidUrl => "invalid_url",
            Self::Request => "request",
            Self::EndpointDisabled => "endpoint_disabled",
        }
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempted {
    /// When it was sent (or found not to be sendable).
    pub at: chrono::DateTime<chrono::Utc>,
    pub status: Option<u16>,
    pub latency: Duration,
    /// `None`: delivered.
    pub error: Option<ErrorClass>,
}

impl Attempted {
    /// An attempt that was never made.
    pub fn not_made(error: ErrorClass) -> Self {
        Self {
            at: chrono::Utc::now(),
            status: None,
            latency: Duration::ZERO,
            error: Some(error),
        }
    }
}

/// One delivery's request.
pub struct Outgoing<'a> {
    pub url: &'a str,
    /// `webhook-id`: the same on every retry.
    pub webhook_id: &'a str,
    /// The endpoint's secrets in use (two while a rotation's grace lasts).
    pub secrets: &'a [Secret],
    pub body: Vec<u8>,
}

pub struct Sender {
    client: reqwest::Client,
    policy: TargetPolicy,
}

impl Sender {
    pub fn new(timeout: Duration, policy: TargetPolicy) -> reqwest::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .https_only(policy.https_only);
        if !policy.allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Self {
            client: builder.build()?,
            policy,
        })
    }

    /// Signs and POSTs one attempt, timestamped now.
    pub async fn send(&self, outgoing: Outgoing<'_>) -> Attempted {
        let url = match self.policy.check(outgoing.url) {
            Ok(url) => url,
            Err(Refusal::InvalidUrl) => return Attempted::not_made(ErrorClass::InvalidUrl),
            Err(Refusal::ForbiddenAddress) => {
                return Attempted::not_made(ErrorClass::ForbiddenAddress)
            }
        };
        let at = chrono::Utc::now();
        let timestamp = at.timestamp();
        let signature = signature_header(
            outgoing.secrets,
            outgoing.webhook_id,
            timestamp,
            &outgoing.body,
        );
        let started = Instant::now();
        let sent = self
            .client
            .post(url)
            .header("webhook-id", outgoing.webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header(CONTENT_TYPE, "application/json")
            .body(outgoing.body)
            .send()
            .await;
        let (status, error) = match sent {
            Ok(response) => {
                let status = response.status();
                drain(response).await;
                let error = (!status.is_success()).then_some(ErrorClass::Status);
                (Some(status.as_u16()), error)
            }
            Err(e) => (None, Some(classify(&e))),
        };
        Attempted {
            at,
            status,
            latency: started.elapsed(),
            error,
        }
    }
}

/// Reads (and drops) a short answer so its connection can be reused. The
/// status is what counts: a body that breaks off changes nothing.
async fn drain(mut response: reqwest::Response) {
    let mut read = 0;
    while let Ok(Some(chunk)) = response.chunk().await {
        read += chunk.len();
        if read > DRAIN_LIMIT {
            break;
        }
    }
}

fn classify(error: &reqwest::Error) -> ErrorClass {
    if is_forbidden_address(error) {
        ErrorClass::ForbiddenAddress
    } else if error.is_timeout() {
        ErrorClass::Timeout
    } else if error.is_connect() {
        ErrorClass::Connect
    } else if error.is_builder() {
        ErrorClass::InvalidUrl
    } else {
        ErrorClass::Request
    }
}

#[cfg(test)]
mod tests;
