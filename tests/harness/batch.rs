//! A batch of registrations with duplicates mixed in, and submitting it the
//! way a client would: concurrently, each answer recorded, errors included.

use std::time::Duration;

use futures_util::{stream, StreamExt};
use serde_json::{json, Value};

use crate::{requests::status_url, unique_example, Stack};

/// The registrations of one scenario. About one in five reuses an earlier
/// registration's email (in upper case) or its phone number (written with
/// spaces and a dash), so some of each pair must be rejected.
pub struct Batch {
    pub bodies: Vec<Value>,
}

impl Batch {
    pub fn with_duplicates(size: usize) -> Self {
        let mut bodies: Vec<Value> = Vec::with_capacity(size);
        let mut originals: Vec<usize> = Vec::new();
        for k in 0..size {
            let mut body = unique_example();
            if k % 5 == 4 && !originals.is_empty() {
                // A recent original, so that twins are often in flight together.
                let of = &bodies[originals[originals.len().saturating_sub(1 + k % 3)]];
                if k % 10 == 4 {
                    body["email"] = json!(of["email"].as_str().unwrap().to_uppercase());
                } else {
                    body["phone_number"] = json!(spaced(of["phone_number"].as_str().unwrap()));
                }
            } else {
                originals.push(k);
            }
            bodies.push(body);
        }
        Self { bodies }
    }

    pub fn len(&self) -> usize {
        self.bodies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bodies.is_empty()
    }

    /// Submits every body, `concurrency` at a time. Never panics on an
    /// answer: an outage's 503 or a refused connection is recorded.
    pub async fn submit(&self, api: &Api, concurrency: usize) -> Vec<Answer> {
        self.submit_part(api, 0..self.len(), concurrency).await
    }

    /// Submits the bodies in `part` only.
    pub async fn submit_part(
        &self,
        api: &Api,
        part: std::ops::Range<usize>,
        concurrency: usize,
    ) -> Vec<Answer> {
        stream::iter(part.map(|index| (index, &self.bodies[index])))
            .map(|(index, body)| api.register(index, body))
            .buffer_unordered(concurrency)
            .collect()
            .await
    }
}

/// `+12345678901` written as `1 234-5678901`: the same number once normalised.
pub fn spaced(phone: &str) -> String {
    let digits = phone.trim_start_matches('+');
    format!("{} {}-{}", &digits[..1], &digits[1..4], &digits[4..])
}

/// The E.164 form the service stores.
pub fn normalised(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    format!("+{digits}")
}

/// What the client got for one body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub index: usize,
    /// The HTTP status, or `None` when no answer came (connection refused, timeout).
    pub code: Option<u16>,
    pub request_id: Option<String>,
    pub retry_after: bool,
    pub error: Option<String>,
}

impl Answer {
    pub fn accepted(&self) -> bool {
        self.code == Some(202) && self.request_id.is_some()
    }
}

/// The intake API as a client sees it: clonable and independent of the
/// [`Stack`], so a test can restart services while a batch is in flight.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base_url: String,
}

impl Api {
    pub fn of(stack: &Stack) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            base_url: stack.base_url.clone(),
        }
    }

    pub async fn register(&self, index: usize, body: &Value) -> Answer {
        self.register_with(index, body, None).await
    }

    /// Registers with an optional `Idempotency-Key` header. Like a client
    /// would, it tries again (for up to 10 s) while the connection is
    /// refused: the request never reached the server (intake-api restarting).
    pub async fn register_with(&self, index: usize, body: &Value, key: Option<&str>) -> Answer {
        let send = || {
            let mut request = self
                .http
                .post(format!("{}/api/v1/patient/register", self.base_url))
                .json(body);
            if let Some(key) = key {
                request = request.header("idempotency-key", key);
            }
            request.send()
        };
        let mut answer = Answer {
            index,
            code: None,
            request_id: None,
            retry_after: false,
            error: None,
        };
        let mut sent = send().await;
        for _ in 0..50 {
            match &sent {
                Err(e) if e.is_connect() => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    sent = send().await;
                }
                _ => break,
            }
        }
        match sent {
            Ok(response) => {
                answer.code = Some(response.status().as_u16());
                answer.retry_after = response.headers().contains_key("retry-after");
                match response.json::<Value>().await {
                    Ok(json) => {
                        answer.request_id = json["data"]["request_id"].as_str().map(str::to_owned);
                    }
                    Err(e) => answer.error = Some(e.to_string()),
                }
            }
            Err(e) => answer.error = Some(chain(&e)),
        }
        answer
    }

    /// The status endpoint's `data` for a request, or `None` if it did not answer 200.
    pub async fn status(&self, request_id: &str) -> Option<Value> {
        let response = self
            .http
            .get(status_url(&self.base_url, request_id))
            .send()
            .await
            .ok()?;
        if response.status() != 200 {
            return None;
        }
        let json: Value = response.json().await.ok()?;
        Some(json["data"].clone())
    }
}

/// An error with its causes, e.g. `error sending request: connection closed before message completed`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
