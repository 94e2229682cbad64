//! A TCP proxy on loopback that a test can cut and restore: put between a
//! service and a shared server (the SMTP sink) to take the server away from
//! that one service without stopping it for everyone else.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::{
    net::{TcpListener, TcpStream},
    task::{JoinHandle, JoinSet},
};

pub struct TcpProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    accepted: Arc<AtomicUsize>,
    /// The accept loop, which owns every open connection; `None` while cut.
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

    pub fn is_cut(&self) -> bool {
        self.task.is_none()
    }

    /// Closes every open connection and stops listening: new connections
    /// are refused until [`TcpProxy::restore`].
    pub async fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            // Aborting drops the listener and the JoinSet of connections.
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
        self.task = Some(tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    next = listener.accept() => {
                        let Ok((mut client, _)) = next else { continue };
                        accepted.fetch_add(1, Ordering::Relaxed);
                        connections.spawn(async move {
                            if let Ok(mut server) = TcpStream::connect(upstream).await {
                                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            }
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        }));
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
