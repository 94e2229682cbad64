//! The HTTP server: hyper's HTTP/1.1 under limits a slow or idle client
//! cannot get round. At most `HTTP_MAX_CONNECTIONS` connections are open at
//! once (further ones wait in the listen backlog); a connection that has not
//! sent a whole request head within `HTTP_HEADER_READ_TIMEOUT` is closed
//! (the whole-request timeout is a layer of the router, see
//! [`crate::routes`]). On shutdown it stops accepting, lets every
//! connection finish its request in flight, and returns once all are closed.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    body::Body,
    extract::{connect_info::ConnectInfo, Request},
    Router,
};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use shared::shutdown::Shutdown;
use tokio::{net::TcpListener, sync::Semaphore};
use tower::ServiceExt;

use crate::config::HttpLimits;

/// Serves `app` on `listener` until `shutdown`, then drains.
pub async fn serve(listener: TcpListener, app: Router, limits: &HttpLimits, shutdown: Shutdown) {
    let capacity = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let open = Arc::new(Semaphore::new(capacity as usize));
    loop {
        // A slot first: at the cap, connections wait in the backlog.
        let slot = tokio::select! {
            slot = Arc::clone(&open).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = shutdown.clone().wait() => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, or a connection reset before accept.
                    tracing::warn!(error = %e, "accept failed");
                    shutdown.sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.clone().wait() => break,
        };
        let app = app.clone();
        let header_read_timeout = limits.header_read_timeout;
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            serve_connection(stream, remote, app, header_read_timeout, shutdown).await;
            drop(slot);
        });
    }
    drop(listener);
    // Every slot back: every connection has closed.
    let _ = open.acquire_many(capacity).await;
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    app: Router,
    header_read_timeout: std::time::Duration,
    shutdown: Shutdown,
) {
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(remote));
        app.clone().oneshot(request.map(Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        // A request head fits in 32 KiB; hyper's default (about 400 KB)
        // times HTTP_MAX_CONNECTIONS would be 1.6 GiB.
        .max_buf_size(32 * 1024);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let stop = shutdown.wait();
    tokio::pin!(stop);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended");
                }
                return;
            }
            () = &mut stop, if !stopping => {
                // Finish the request in flight, then close.
                connection.as_mut().graceful_shutdown();
                stopping = true;
            }
        }
    }
}
