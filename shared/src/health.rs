//! `GET /health/live` and `GET /health/ready`, served by intake-api on its
//! own router and by each worker on `HEALTH_ADDR`.

use std::{net::SocketAddr, time::Duration};

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::IntoResponse,
    routing::get,
    Json, Router,
};
use serde_json::json;
use sqlx::PgPool;

use crate::{
    broker::{
        topology::{dead_letter_queue, NOTIFICATION_QUEUE, REGISTRATION_QUEUE},
        Broker,
    },
    metrics::{metrics, Metrics},
    shutdown::Shutdown,
};

#[derive(Clone)]
pub struct Probes {
    pub db: PgPool,
    pub broker: Broker,
}

pub fn router(probes: Probes) -> Router {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(render_metrics))
        .with_state(probes)
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({"success": true, "status": "live"}))
}

async fn ready(State(p): State<Probes>) -> (StatusCode, Json<serde_json::Value>) {
    let postgres = sqlx::query("SELECT 1").execute(&p.db).await.is_ok();
    let rabbitmq = p.broker.is_reachable().await;
    let ok = postgres && rabbitmq;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "success": ok,
        "message": if ok { "ready" } else { "not ready" },
        "checks": {"postgres": postgres, "rabbitmq": rabbitmq},
        "errors": {},
    });
    (status, Json(body))
}

/// The process's metrics, with queue depths read now.
async fn render_metrics(State(p): State<Probes>) -> impl IntoResponse {
    let m = metrics();
    for queue in [REGISTRATION_QUEUE, NOTIFICATION_QUEUE] {
        for name in [queue.to_owned(), dead_letter_queue(queue)] {
            if let Ok(Ok(depth)) =
                tokio::time::timeout(Duration::from_secs(2), p.broker.queue_depth(&name)).await
            {
                m.queue_depth
                    .get_or_create(&Metrics::queue(&name))
                    .set(i64::from(depth));
            }
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.render(),
    )
}

/// Serves the health router of a worker until shutdown.
pub async fn serve(addr: SocketAddr, router: Router, shutdown: Shutdown) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "health endpoints listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.wait())
        .await
}
