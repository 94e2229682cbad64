//! The partner's side of the webhook phase: an HTTP/1.1 receiver in the
//! bench process on a random loopback port that answers every POST 204 and
//! records when it arrived (monotonic and wall clock) and the request it
//! is about (`data.request_id`). Stopped when dropped.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use axum::{body::Bytes, extract::State, http::StatusCode, routing::post, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::{net::TcpListener, task::JoinHandle, time::Instant};
use uuid::Uuid;

/// One delivery as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    pub at: Instant,
    pub wall: DateTime<Utc>,
}

#[derive(Default)]
struct Seen {
    /// Requests that arrived, duplicates included.
    requests: usize,
    /// The first arrival of each request id's delivery.
    first: HashMap<Uuid, Arrival>,
}

type Shared = Arc<Mutex<Seen>>;

fn lock(seen: &Shared) -> MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The part of a webhook's body the receiver reads.
#[derive(Deserialize)]
struct Hook {
    data: HookData,
}

#[derive(Deserialize)]
struct HookData {
    request_id: Option<Uuid>,
}

pub struct Receiver {
    addr: SocketAddr,
    seen: Shared,
    server: JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let seen = Shared::default();
        let app = Router::new()
            .route("/hooks", post(receive))
            .with_state(Arc::clone(&seen));
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("bench: the webhook receiver stopped: {e}");
            }
        });
        Ok(Self { addr, seen, server })
    }

    /// The endpoint's URL.
    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    /// Requests that arrived (duplicates included), and distinct requests
    /// ids among them.
    pub fn counts(&self) -> (usize, usize) {
        let seen = lock(&self.seen);
        (seen.requests, seen.first.len())
    }

    /// When the first delivery about `request_id` arrived, if it has.
    pub fn arrival(&self, request_id: Uuid) -> Option<Arrival> {
        lock(&self.seen).first.get(&request_id).copied()
    }

    /// The first and the last first arrival, if any arrived.
    pub fn span(&self) -> Option<(Instant, Instant)> {
        let seen = lock(&self.seen);
        let first = seen.first.values().map(|a| a.at).min()?;
        let last = seen.first.values().map(|a| a.at).max()?;
        Some((first, last))
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(State(seen): State<Shared>, body: Bytes) -> StatusCode {
    let arrival = Arrival {
        at: Instant::now(),
        wall: Utc::now(),
    };
    let request_id = serde_json::from_slice::<Hook>(&body)
        .ok()
        .and_then(|hook| hook.data.request_id);
    let mut seen = lock(&seen);
    seen.requests += 1;
    if let Some(id) = request_id {
        seen.first.entry(id).or_insert(arrival);
    }
    StatusCode::NO_CONTENT
}
