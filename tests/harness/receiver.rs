//! A webhook receiver for tests: a real HTTP/1.1 server on a random
//! loopback port that records every request (headers, raw body, arrival
//! time) and answers as told: 200 by default, a status for the next few
//! requests, after a delay. It can go down (stop listening and drop its
//! connections, so attempts meet a refused connection) and come back up on
//! the same port.

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use http_body_util::{BodyExt, Full};
use hyper::{body::Bytes, server::conn::http1, service::service_fn, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::{net::TcpListener, task::JoinSet, time::Instant};

use crate::eventually;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// The path and query, as requested.
    pub path: String,
    /// Header names lowercased.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
    /// The status it was answered with.
    pub answered: u16,
}

impl Received {
    /// A header's value, or `""`.
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// How the next requests are answered.
struct Script {
    status: u16,
    /// The next `n` requests get this status instead.
    failing: Option<(usize, u16)>,
    delay: Duration,
}

struct State {
    received: Mutex<Vec<Received>>,
    script: Mutex<Script>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// The status and delay of the request arriving now.
    fn next_answer(&self) -> (u16, Duration) {
        let mut script = lock(&self.script);
        let status = match &mut script.failing {
            Some((left, status)) if *left > 0 => {
                *left -= 1;
                *status
            }
            _ => script.status,
        };
        (status, script.delay)
    }
}

pub struct Receiver {
    addr: SocketAddr,
    state: Arc<State>,
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Receiver {
    /// A receiver listening on a random port, answering 200.
    pub async fn start() -> Self {
        let receiver = Self::start_down();
        receiver.up().await;
        receiver
    }

    /// A receiver whose port is chosen but not listened on yet ([`Receiver::up`]).
    pub fn start_down() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], crate::free_port())),
            state: Arc::new(State {
                received: Mutex::default(),
                script: Mutex::new(Script {
                    status: 200,
                    failing: None,
                    delay: Duration::ZERO,
                }),
            }),
            server: Mutex::default(),
        }
    }

    /// The URL to register as an endpoint.
    pub fn url(&self) -> String {
        format!("http://{}/webhooks", self.addr)
    }

    /// Answers every request with `status` from now on.
    pub fn answer(&self, status: u16) {
        lock(&self.state.script).status = status;
    }

    /// Answers the next `n` requests with `status`, then as before.
    pub fn fail_next(&self, n: usize, status: u16) {
        lock(&self.state.script).failing = Some((n, status));
    }

    /// Waits this long before answering each request (it is recorded on
    /// arrival).
    pub fn delay(&self, delay: Duration) {
        lock(&self.state.script).delay = delay;
    }

    /// Stops listening and drops every connection, open or idle.
    pub fn down(&self) {
        if let Some(server) = lock(&self.server).take() {
            server.abort();
        }
    }

    /// Listens (again) on its port.
    pub async fn up(&self) {
        let listener = eventually("the receiver's port", Duration::from_secs(10), || async {
            TcpListener::bind(self.addr).await.ok()
        })
        .await;
        let server = tokio::spawn(serve(listener, Arc::clone(&self.state)));
        if let Some(old) = lock(&self.server).replace(server) {
            old.abort();
        }
    }

    /// Every request so far, in order of arrival.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.state.received).clone()
    }

    /// Waits until at least `n` requests have arrived; returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let what = format!("{n} webhook request(s)");
        eventually(&what, within, || async {
            let received = self.received();
            (received.len() >= n).then_some(received)
        })
        .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.down();
    }
}

/// Accepts connections until aborted; aborting drops every connection.
async fn serve(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = Arc::clone(&state);
                let service = service_fn(move |request| answer(Arc::clone(&state), request));
                connections.spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn answer(
    state: Arc<State>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let at = Instant::now();
    let method = request.method().as_str().to_owned();
    let path = request
        .uri()
        .path_and_query()
        .map_or_else(String::new, |p| p.as_str().to_owned());
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    let (status, delay) = state.next_answer();
    lock(&state.received).push(Received {
        method,
        path,
        headers,
        body,
        at,
        answered: status,
    });
    tokio::time::sleep(delay).await;
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    Ok(response)
}
