//! A login flood: `clients` attackers, each on a connection from one of a
//! few loopback addresses, each sending a login with a random email and
//! password every `every` (or as soon as the last one is answered, if that
//! takes longer) until stopped. Unchecked, every one of them would be a
//! bcrypt verification; `LOGIN_RATE_LIMIT_PER_CLIENT` lets an address
//! through a burst of that many, then one every minute / that many, and
//! answers the rest 429 before any hashing.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use rand::{rngs::StdRng, SeedableRng};
use serde::Serialize;
use serde_json::json;
use tokio::{task::JoinHandle, time::Instant};

use super::{
    answers::{Answers, Client},
    junk::{random_email, random_text},
};
use crate::{http1, stats::Summary};

const LOGIN_PATH: &str = "/api/v1/patient/login";

/// What the flood was answered.
#[derive(Debug, Clone, Serialize)]
pub struct LoginFlood {
    pub clients: usize,
    pub sources: Vec<String>,
    /// Each client's pace: one login this often at most.
    pub every_ms: f64,
    pub seconds: f64,
    pub answers: Answers,
    /// 401s: the attempts that reached a bcrypt verification.
    pub verified: u64,
    /// The most `LOGIN_RATE_LIMIT_PER_CLIENT` lets through from `sources`
    /// in `seconds`: each address's burst plus its refill.
    pub allowed: f64,
}

impl LoginFlood {
    /// Latency of the refusals (429): what the defence costs an attacker.
    pub fn refused_latency(&self) -> Summary {
        self.answers.latency.get("429").copied().unwrap_or_default()
    }
}

/// The running flood.
pub struct Flood {
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<Answers>>,
    started: Instant,
    clients: usize,
    sources: Vec<IpAddr>,
    every: Duration,
}

impl Flood {
    pub fn start(addr: SocketAddr, sources: &[IpAddr], clients: usize, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let host = addr.to_string();
        let tasks = (0..clients)
            .map(|k| {
                let source = sources[k % sources.len()];
                let (stop, host) = (Arc::clone(&stop), host.clone());
                tokio::spawn(attacker(
                    Client::new(addr, source),
                    host,
                    k as u64,
                    every,
                    stop,
                ))
            })
            .collect();
        Self {
            stop,
            tasks,
            started: Instant::now(),
            clients,
            sources: sources.to_vec(),
            every,
        }
    }

    /// Stops every attacker and tallies what they were answered, against
    /// what a limit of `per_minute` per address allows.
    pub async fn stop(self, per_minute: u32) -> LoginFlood {
        self.stop.store(true, Ordering::Relaxed);
        let mut answers = Answers::default();
        for task in self.tasks {
            if let Ok(one) = task.await {
                answers.merge(one);
            }
        }
        let answers = answers.finish();
        let seconds = self.started.elapsed().as_secs_f64();
        let per_address = f64::from(per_minute) * (1.0 + seconds / 60.0);
        LoginFlood {
            clients: self.clients,
            sources: self.sources.iter().map(ToString::to_string).collect(),
            every_ms: self.every.as_secs_f64() * 1000.0,
            seconds,
            verified: answers.count(401),
            allowed: per_address * self.sources.len() as f64,
            answers,
        }
    }
}

async fn attacker(
    mut client: Client,
    host: String,
    seed: u64,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> Answers {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut answers = Answers::default();
    while !stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        let body = json!({
            "email": random_email(&mut rng),
            "password": random_text(&mut rng, 8..=32),
        });
        let request = http1::request("POST", LOGIN_PATH, &host, Some(body.to_string().as_bytes()));
        let result = client.send(&request).await;
        answers.record(result, t0.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep_until(t0 + every).await;
    }
    answers
}
