//! `GET /health/live`, `GET /health/ready` and `GET /metrics`, served by
//! intake-api on its own router and by each worker on `HEALTH_ADDR` (the
//! worker runtime, [`crate::worker::run`], starts and stops that server).

use std::{net::SocketAddr, time::Duration};

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::IntoResponse,
    routing::get,
    Json, Router,
};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::{
    broker::{
        topology::{dead_letter_queue, WORK_QUEUES},
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

/// `GET /health/live`: the process answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Live {
    #[schema(example = true)]
    pub success: bool,
    #[schema(example = "live")]
    pub status: &'static str,
}

/// `GET /health/ready`: whether Postgres and RabbitMQ are reachable (503
/// when either is not).
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    pub success: bool,
    /// `ready` or `not ready`.
    #[schema(example = "ready")]
    pub message: &'static str,
    pub checks: Checks,
    /// Always `{}`: the envelope's field-error map.
    #[schema(value_type = Object)]
    pub errors: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    pub postgres: bool,
    pub rabbitmq: bool,
}

async fn live() -> Json<Live> {
    Json(Live {
        success: true,
        status: "live",
    })
}

async fn ready(State(p): State<Probes>) -> (StatusCode, Json<Ready>) {
    let postgres = sqlx::query("SELECT 1").execute(&p.db).await.is_ok();
    let rabbitmq = p.broker.is_reachable().await;
    let ok = postgres && rabbitmq;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Ready {
        success: ok,
        message: if ok { "ready" } else { "not ready" },
        checks: Checks { postgres, rabbitmq },
        errors: serde_json::Map::new(),
    };
    (status, Json(body))
}

/// The process's metrics, with queue depths read now.
async fn render_metrics(State(p): State<Probes>) -> impl IntoResponse {
    let m = metrics();
    for queue in &WORK_QUEUES {
        for name in [queue.name.to_owned(), dead_letter_queue(queue.name)] {
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
