//! `bench-minimal`: the baseline the intake and batch phases are read
//! against (issue 13 part 4). The least an HTTP endpoint can do to turn a
//! JSON body into a confirmed persistent message on a quorum queue: axum
//! takes the body as bytes (no parsing, no validation, no database), lapin
//! publishes it persistent and mandatory on one of a few confirm-mode
//! channels, and the answer is 202 once the broker has confirmed it (503
//! if it has not). Many requests are in flight at once, each awaiting its
//! own confirm; a channel carries many publishes at a time.
//!
//! Environment (the bench sets it): `AMQP_URL` (one of the bench's vhosts),
//! `BIND_ADDR` (`127.0.0.1:<port>`), `QUEUE` (declared durable, quorum). It
//! listens once its channels are open; `GET /health` answers 200.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use anyhow::Context;
use axum::{
    body::Bytes,
    extract::State,
    http::StatusCode,
    routing::{get, post},
    Router,
};
use lapin::{
    options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable},
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties,
};

/// Connections, and confirm-mode channels on each: intake-api's shape
/// (a pool of 2 connections, `PUBLISH_CHANNELS=4`).
const CONNECTIONS: usize = 2;
const CHANNELS_PER_CONNECTION: usize = 2;

struct Publisher {
    queue: String,
    channels: Vec<Channel>,
    next: AtomicUsize,
    /// Held so that the channels stay open.
    _connections: Vec<Connection>,
}

fn var(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set"))
}

async fn open(url: &str, queue: String) -> anyhow::Result<Publisher> {
    let mut connections = Vec::new();
    let mut channels = Vec::new();
    for _ in 0..CONNECTIONS {
        let conn = Connection::connect(url, ConnectionProperties::default())
            .await
            .context("connecting to RabbitMQ")?;
        for _ in 0..CHANNELS_PER_CONNECTION {
            let channel = conn.create_channel().await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            let mut args = FieldTable::default();
            args.insert(
                "x-queue-type".into(),
                AMQPValue::LongString("quorum".into()),
            );
            let durable = QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            };
            channel
                .queue_declare(queue.as_str().into(), durable, args)
                .await?;
            channels.push(channel);
        }
        connections.push(conn);
    }
    Ok(Publisher {
        queue,
        channels,
        next: AtomicUsize::new(0),
        _connections: connections,
    })
}

/// The body, as it came, published persistent; 202 once confirmed.
async fn publish(State(publisher): State<Arc<Publisher>>, body: Bytes) -> StatusCode {
    let k = publisher.next.fetch_add(1, Ordering::Relaxed) % publisher.channels.len();
    let properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into());
    let mandatory = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    let sent = publisher.channels[k]
        .basic_publish(
            "".into(),
            publisher.queue.as_str().into(),
            mandatory,
            &body,
            properties,
        )
        .await;
    let confirm = match sent {
        Ok(pending) => pending.await,
        Err(e) => Err(e),
    };
    match confirm {
        Ok(Confirmation::Ack(None)) => StatusCode::ACCEPTED,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

async fn serve() -> anyhow::Result<()> {
    let publisher = Arc::new(open(&var("AMQP_URL")?, var("QUEUE")?).await?);
    let app = Router::new()
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/publish", post(publish))
        .with_state(publisher);
    let addr = var("BIND_ADDR")?;
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    axum::serve(listener, app).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match serve().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // " ERROR " is what the bench looks for in a phase's logs.
            eprintln!("bench-minimal: ERROR {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
