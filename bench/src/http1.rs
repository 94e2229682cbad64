//! A lean HTTP/1.1 load generator for the intake run: keep-alive
//! connections that send one prebuilt POST and read one response framed by
//! `Content-Length`. The load shares the machine's cores with what it
//! measures, so the less CPU it spends per request, the less it takes from
//! the services (a general-purpose client spent about twice as much).

use std::{net::SocketAddr, sync::Mutex};

use anyhow::{bail, Context};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// One keep-alive connection.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await.context("connect error")?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// POSTs a JSON `body` to `path`; answers the status code once the
    /// whole response is read.
    pub async fn post(&mut self, host: &str, path: &str, body: &[u8]) -> anyhow::Result<u16> {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut request = Vec::with_capacity(head.len() + body.len());
        request.extend_from_slice(head.as_bytes());
        request.extend_from_slice(body);
        self.stream.write_all(&request).await?;
        self.buf.clear();
        let (status, body_at, length) = loop {
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
        Ok(status)
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

/// `(status, where the body starts, Content-Length)` once the head is in.
fn parse_head(buf: &[u8]) -> anyhow::Result<Option<(u16, usize, usize)>> {
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
    let length = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .context("a response without Content-Length")?;
    Ok(Some((status, end + 4, length)))
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
            None => Conn::connect(self.addr).await,
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
    use super::parse_head;

    #[test]
    fn a_head_is_parsed_once_complete() {
        let head = b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";
        assert_eq!(parse_head(&head[..20]).unwrap(), None);
        assert_eq!(parse_head(head).unwrap(), Some((202, head.len() - 11, 11)));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }
}
