//! A TCP proxy on loopback that a test can cut and restore: put between a
//! service and a shared server (the SMTP sink) to take the server away from
//! that one service without stopping it for everyone else.
//!
//! A cut models a server that goes down: new connections are refused, and
//! each open connection is closed at its client's next command. A reply
//! already on its way still arrives, so a send that got all its data through
//! is not made ambiguous: a mid-reply failure is the "crash inside an SMTP
//! send" the delivery contract exempts, not a sink outage.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

pub struct TcpProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    accepted: Arc<AtomicUsize>,
    /// Bumped by every cut: a connection from an older generation closes.
    generation: Arc<AtomicUsize>,
    /// The accept loop; `None` while cut.
    task: Option<JoinHandle<()>>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut proxy = Self {
            addr: listener.local_addr().unwrap(),
            upstream,
            accepted: Arc::default(),
            generation: Arc::default(),
            task: None,
        };
        proxy.serve(listener);
        proxy
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Stops listening (new connections are refused until
    /// [`TcpProxy::restore`]) and dooms every open connection.
    pub async fn cut(&mut self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(task) = self.task.take() {
            task.abort();
            // Aborting drops the listener.
            let _ = task.await;
        }
    }

    /// Listens again on the same port.
    pub async fn restore(&mut self) {
        if self.task.is_some() {
            return;
        }
        let mut last_error = None;
        for _ in 0..50 {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    self.serve(listener);
                    return;
                }
                Err(e) => {
                    last_error = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        panic!("could not listen on {} again: {last_error:?}", self.addr);
    }

    fn serve(&mut self, listener: TcpListener) {
        let upstream = self.upstream;
        let accepted = Arc::clone(&self.accepted);
        let generation = Arc::clone(&self.generation);
        self.task = Some(tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                accepted.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(forward(client, upstream, Arc::clone(&generation)));
            }
        }));
    }
}

/// Pumps one connection until either side closes or a cut dooms it.
async fn forward(client: TcpStream, upstream: SocketAddr, generation: Arc<AtomicUsize>) {
    let born = generation.load(Ordering::SeqCst);
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let replies = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
    });
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match client_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if generation.load(Ordering::SeqCst) != born
            || server_write.write_all(&buf[..n]).await.is_err()
        {
            break;
        }
    }
    // Dropping both halves closes the connection on both sides.
    replies.abort();
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
