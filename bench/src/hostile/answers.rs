//! What hostile traffic was answered: a tally by status (or error) with the
//! latency of each status, and the attacker's side of it, one lean
//! HTTP/1.1 connection from a loopback address of its own, made again
//! whenever the server closes it.

use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
};

use serde::Serialize;

use crate::{
    http1::Conn,
    stats::{summarize, Summary},
};

/// One attacker's connection to intake-api from `source`.
pub struct Client {
    addr: SocketAddr,
    source: IpAddr,
    conn: Option<Conn>,
}

impl Client {
    pub fn new(addr: SocketAddr, source: IpAddr) -> Self {
        Self {
            addr,
            source,
            conn: None,
        }
    }

    /// Sends one prebuilt request: its status, or what went wrong. A
    /// connection that failed or was closed by the server is made again
    /// for the next request.
    pub async fn send(&mut self, request: &[u8]) -> Result<u16, String> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => {
                let conn = Conn::connect(self.addr, Some(self.source))
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                self.conn.insert(conn)
            }
        };
        match conn.exchange(request).await {
            Ok(answer) => {
                if answer.close {
                    self.conn = None;
                }
                Ok(answer.status)
            }
            Err(e) => {
                self.conn = None;
                Err(format!("{e:#}"))
            }
        }
    }
}

/// Answers by kind: an HTTP status (`"429"`) or an error's text.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Answers {
    pub sent: u64,
    pub by_kind: BTreeMap<String, u64>,
    /// Latency percentiles of each status (errors have none), once
    /// [`Answers::finish`]ed.
    pub latency: BTreeMap<String, Summary>,
    #[serde(skip)]
    ms: BTreeMap<u16, Vec<f64>>,
}

impl Answers {
    pub fn record(&mut self, result: Result<u16, String>, ms: f64) {
        self.sent += 1;
        let kind = match result {
            Ok(status) => {
                self.ms.entry(status).or_default().push(ms);
                status.to_string()
            }
            Err(error) => format!("error: {error}"),
        };
        *self.by_kind.entry(kind).or_default() += 1;
    }

    pub fn merge(&mut self, other: Answers) {
        self.sent += other.sent;
        for (kind, n) in other.by_kind {
            *self.by_kind.entry(kind).or_default() += n;
        }
        for (status, ms) in other.ms {
            self.ms.entry(status).or_default().extend(ms);
        }
    }

    /// Summarizes the latencies kept so far (and lets them go).
    pub fn finish(mut self) -> Self {
        for (status, ms) in std::mem::take(&mut self.ms) {
            self.latency.insert(status.to_string(), summarize(ms));
        }
        self
    }

    pub fn count(&self, status: u16) -> u64 {
        self.by_kind.get(&status.to_string()).copied().unwrap_or(0)
    }

    /// Answers that were not an HTTP status: a connection that failed.
    pub fn errors(&self) -> u64 {
        self.by_kind
            .iter()
            .filter(|(kind, _)| kind.starts_with("error"))
            .map(|(_, n)| n)
            .sum()
    }

    /// `12 x 429, 3 x 401`, most frequent first.
    pub fn describe(&self) -> String {
        let mut kinds: Vec<(&String, &u64)> = self.by_kind.iter().collect();
        kinds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} x {k}")).collect();
        kinds.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::Answers;

    #[test]
    fn answers_are_tallied_by_status_and_error() {
        let mut a = Answers::default();
        a.record(Ok(429), 1.0);
        a.record(Ok(429), 3.0);
        let mut b = Answers::default();
        b.record(Ok(401), 240.0);
        b.record(Err("connection closed".into()), 0.0);
        a.merge(b);
        let a = a.finish();
        assert_eq!(a.sent, 4);
        assert_eq!((a.count(429), a.count(401), a.errors()), (2, 1, 1));
        assert_eq!(
            a.describe(),
            "2 x 429, 1 x 401, 1 x error: connection closed"
        );
        assert_eq!(a.latency["429"].max_ms, 3.0);
        assert!(!a.latency.contains_key("error: connection closed"));
    }
}
