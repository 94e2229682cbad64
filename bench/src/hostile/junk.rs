//! Junk: requests whose every client-chosen part is random, as an attacker
//! would send them to grow a server's state (a metric label per method or
//! path, a rate-limiter key per email): random methods of 1 to 1,000
//! uppercase letters to random paths and to real routes, GETs of random
//! paths, and resend-verification requests for random emails.

use std::{
    net::{IpAddr, SocketAddr},
    ops::RangeInclusive,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::json;
use tokio::time::Instant;

use super::answers::{Answers, Client};
use crate::http1;

const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// Characters a path may carry unescaped (RFC 3986 unreserved, and `/`).
const PATH: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/";

const RESEND_PATH: &str = "/api/v1/patient/resend-verification";

/// Real routes, so that a random method meets a matched template too.
const ROUTES: [&str; 6] = [
    "/api/v1/patient/register",
    "/api/v1/patient/login",
    RESEND_PATH,
    "/api/v1/patient/verify-email",
    "/api/v1/patient/registrations/7b0c5a0e-8d6f-4e0c-9a51-3f1f0c2d9e11",
    "/metrics",
];

fn pick(rng: &mut StdRng, alphabet: &[u8], len: RangeInclusive<usize>) -> String {
    let len = rng.gen_range(len);
    (0..len)
        .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
        .collect()
}

/// Lowercase letters and digits, `len` of them.
pub fn random_text(rng: &mut StdRng, len: RangeInclusive<usize>) -> String {
    pick(rng, LOWER, len)
}

/// A valid address nobody has.
pub fn random_email(rng: &mut StdRng) -> String {
    format!("{}@x.example", random_text(rng, 6..=24))
}

/// 1 to 1,000 uppercase letters; never HEAD (its answer has no body to
/// read) nor CONNECT (a tunnel), which the lean client cannot follow.
fn random_method(rng: &mut StdRng) -> String {
    loop {
        let method = pick(rng, UPPER, 1..=1000);
        if method != "HEAD" && method != "CONNECT" {
            return method;
        }
    }
}

/// `/` and up to 999 more path characters.
fn random_path(rng: &mut StdRng) -> String {
    format!("/{}", pick(rng, PATH, 0..=999))
}

/// Junk request `seq`: in turn a random method to a random path, a random
/// method to a real route, a GET of a random path, and a resend for a
/// random email.
fn junk_request(rng: &mut StdRng, seq: u64, host: &str) -> Vec<u8> {
    match seq % 4 {
        0 => http1::request(&random_method(rng), &random_path(rng), host, None),
        1 => {
            let route = ROUTES[rng.gen_range(0..ROUTES.len())];
            http1::request(&random_method(rng), route, host, None)
        }
        2 => http1::request("GET", &random_path(rng), host, None),
        _ => {
            let body = json!({ "email": random_email(rng) }).to_string();
            http1::request("POST", RESEND_PATH, host, Some(body.as_bytes()))
        }
    }
}

/// Sends `n` junk requests to `addr` from `clients` connections spread
/// over `sources` (random, but the same for the same `seed`).
pub async fn send(
    addr: SocketAddr,
    sources: &[IpAddr],
    clients: usize,
    n: u64,
    seed: u64,
) -> Answers {
    let next = Arc::new(AtomicU64::new(0));
    let host = addr.to_string();
    let tasks: Vec<_> = (0..clients)
        .map(|k| {
            let mut client = Client::new(addr, sources[k % sources.len()]);
            let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(1_000_003) + k as u64);
            let (next, host) = (Arc::clone(&next), host.clone());
            tokio::spawn(async move {
                let mut answers = Answers::default();
                loop {
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    if seq >= n {
                        return answers;
                    }
                    let request = junk_request(&mut rng, seq, &host);
                    let t0 = Instant::now();
                    let result = client.send(&request).await;
                    answers.record(result, t0.elapsed().as_secs_f64() * 1000.0);
                }
            })
        })
        .collect();
    let mut answers = Answers::default();
    for task in tasks {
        if let Ok(one) = task.await {
            answers.merge(one);
        }
    }
    answers.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use rand::{rngs::StdRng, SeedableRng};

    use super::*;

    #[test]
    fn junk_is_random_in_every_part_but_always_a_well_formed_request() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut methods = std::collections::BTreeSet::new();
        for seq in 0..400 {
            let request = junk_request(&mut rng, seq, "h:1");
            let text = String::from_utf8(request).unwrap();
            let (line, rest) = text.split_once("\r\n").unwrap();
            let mut parts = line.split(' ');
            let (method, path) = (parts.next().unwrap(), parts.next().unwrap());
            assert_eq!(parts.collect::<Vec<_>>(), ["HTTP/1.1"]);
            assert!((1..=1000).contains(&method.len()), "{method}");
            assert!(method.bytes().all(|b| b.is_ascii_uppercase()));
            assert!(path.starts_with('/') && path.len() <= 1000);
            assert!(path.bytes().all(|b| PATH.contains(&b)), "{path}");
            assert!(rest.starts_with("Host: h:1\r\n"));
            if seq % 4 == 3 {
                assert_eq!((method, path), ("POST", RESEND_PATH));
                assert!(text.contains("@x.example\"}"));
            }
            methods.insert(method.to_owned());
        }
        // Every random method differs from the others.
        assert!(methods.len() > 190, "{}", methods.len());
    }

    #[test]
    fn random_emails_parse_as_emails() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..100 {
            let email = random_email(&mut rng);
            assert!(shared::domain::Email::parse(&email).is_ok(), "{email}");
        }
    }
}
