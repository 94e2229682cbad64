//! A lean HTTP/1.1 load generator for the intake run: keep-alive
//! connections that send one prebuilt POST and read one response framed by
//! `Content-Length`. The load shares the machine's cores with what it
//! measures, so the less CPU it spends per request, the less it takes from
//! the services (a general-purpose client spent about twice as much).
//! A connection may come from another loopback address (every
//! `127.0.0.0/8` address is a client of its own to intake-api), and may
//! send any method and path (the hostile phase's junk).

use std::{
    net::{IpAddr, SocketAddr},
    sync::Mutex,
};

use anyhow::{bail, Context};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

/// One keep-alive connection.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Where the last response's body starts in `buf`.
    body_at: usize,
}

/// One answer: its status, and whether the server closes the connection
/// after it (`Connection: close`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub close: bool,
}

impl Conn {
    /// A connection to `addr`, from `source` when given (else the kernel's
    /// choice: 127.0.0.1 for a loopback `addr`).
    pub async fn connect(addr: SocketAddr, source: Option<IpAddr>) -> anyhow::Result<Self> {
        let stream = match source {
            None => TcpStream::connect(addr).await,
            Some(ip) => {
                let socket = TcpSocket::new_v4()?;
                socket.bind(SocketAddr::new(ip, 0))?;
                socket.connect(addr).await
            }
        }
        .context("connect error")?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(4096),
            body_at: 0,
        })
    }

    /// POSTs a JSON `body` to `path`; answers the status code once the
    /// whole response is read.
    pub async fn post(&mut self, host: &str, path: &str, body: &[u8]) -> anyhow::Result<u16> {
        let request = request("POST", path, host, Some(body));
        Ok(self.exchange(&request).await?.status)
    }

    /// Sends one whole prebuilt `request` (see [`request`]); answers once
    /// the whole response is read.
    pub async fn exchange(&mut self, request: &[u8]) -> anyhow::Result<Answer> {
        self.stream.write_all(request).await?;
        self.buf.clear();
        let (answer, body_at, length) = loop {
            if let Some(parsed) = parse_head(&self.buf)? {
                break parsed;
            }
            self.read_more().await?;
        };
        while self.buf.len() < body_at + length {
            self.read_more().await?;
        }
        if self.buf.len() > body_at + length {
            bail!("bytes after the response: the server sent more than one");
        }
        self.body_at = body_at;
        Ok(answer)
    }

    /// The body of the last response read in full.
    pub fn body(&self) -> &[u8] {
        self.buf.get(self.body_at..).unwrap_or_default()
    }

    async fn read_more(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed");
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

/// A request of any `method` and `path` (`path` must be a valid request
/// target), with a JSON `body` unless it is empty.
pub fn request(method: &str, path: &str, host: &str, body: Option<&[u8]>) -> Vec<u8> {
    request_with(method, path, host, &[], body)
}

/// [`request`] with more `headers` (names and values must be valid).
pub fn request_with(
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let body = body.unwrap_or_default();
    let kind = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/json\r\n"
    };
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{kind}{extra}Content-Length: {}\r\n\r\n",
        body.len()
    );
    let mut request = Vec::with_capacity(head.len() + body.len());
    request.extend_from_slice(head.as_bytes());
    request.extend_from_slice(body);
    request
}

/// `(answer, where the body starts, Content-Length)` once the head is in.
fn parse_head(buf: &[u8]) -> anyhow::Result<Option<(Answer, usize, usize)>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).context("a response head that is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .context("a response without a status line")?;
    let mut length = None;
    let mut close = false;
    for (name, value) in lines.filter_map(|l| l.split_once(':')) {
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok();
        } else if name.eq_ignore_ascii_case("connection") {
            close |= value.trim().eq_ignore_ascii_case("close");
        }
    }
    let length = length.context("a response without Content-Length")?;
    Ok(Some((Answer { status, close }, end + 4, length)))
}

/// Idle connections to one address, shared by the load's tasks.
pub struct Pool {
    addr: SocketAddr,
    pub host: String,
    idle: Mutex<Vec<Conn>>,
}

impl Pool {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            host: addr.to_string(),
            idle: Mutex::new(Vec::new()),
        }
    }

    pub async fn take(&self) -> anyhow::Result<Conn> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => Conn::connect(self.addr, None).await,
        }
    }

    /// Returns a connection that answered in full; one that failed is
    /// dropped instead.
    pub fn put(&self, conn: Conn) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{parse_head, request, request_with, Answer};

    #[test]
    fn a_head_is_parsed_once_complete() {
        let head = b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";
        assert_eq!(parse_head(&head[..20]).unwrap(), None);
        let accepted = Answer {
            status: 202,
            close: false,
        };
        assert_eq!(
            parse_head(head).unwrap(),
            Some((accepted, head.len() - 11, 11))
        );
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }

    #[test]
    fn a_closing_answer_says_so() {
        let head = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\ncontent-length: 0\r\n\r\n";
        let (answer, _, length) = parse_head(head).unwrap().unwrap();
        assert_eq!((answer.status, answer.close, length), (400, true, 0));
    }

    #[test]
    fn a_request_carries_its_body_and_length() {
        let bare = request("XYZ", "/a/b", "h:1", None);
        assert_eq!(
            bare,
            b"XYZ /a/b HTTP/1.1\r\nHost: h:1\r\nContent-Length: 0\r\n\r\n"
        );
        let json = request("POST", "/p", "h:1", Some(b"{}"));
        assert!(json.ends_with(b"application/json\r\nContent-Length: 2\r\n\r\n{}"));
        let keyed = request_with("POST", "/p", "h:1", &[("X-API-Key", "k")], Some(b"{}"));
        assert!(keyed.ends_with(b"X-API-Key: k\r\nContent-Length: 2\r\n\r\n{}"));
    }
}
