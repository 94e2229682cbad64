//! Intake: accepted (202: recorded, published persistent to the quorum
//! request queue and confirmed) registrations per second from `clients`
//! concurrent keep-alive HTTP/1.1 clients, with no registration worker
//! running; the services' RSS sampled meanwhile. Beside it, the baseline:
//! raw confirmed persistent publishes of a message of the same size to the
//! same queue at the same concurrency, on a few confirm-mode channels.

use std::{sync::Arc, time::Duration};

use serde::Serialize;
use uuid::Uuid;

use crate::{
    data::{body, envelope, Publisher},
    infra::Infra,
    rss::{Peak, Watch},
    stack::{Service, Stack},
    stats::{drive, Load},
};

#[derive(Debug, Clone, Serialize)]
pub struct Intake {
    /// Size of one `registration.requested.v1` message.
    pub message_bytes: usize,
    pub intake: Load,
    pub baseline: Load,
    /// Intake's accepted/s over the baseline's confirmed publishes/s.
    pub ratio: f64,
    /// Messages in the request queue after the intake run, and the 202s
    /// answered in all: every accepted request must be there.
    pub queued_after_intake: u32,
    pub accepted_in_all: u64,
    pub rss: Vec<Peak>,
}

pub struct Settings {
    pub clients: usize,
    pub warmup: Duration,
    pub window: Duration,
}

pub async fn run(infra: &Infra, settings: &Settings) -> anyhow::Result<Intake> {
    let mut stack = Stack::create(infra, "intake").await?;
    let result = measure(infra, &mut stack, settings).await;
    stack.destroy().await?;
    result
}

fn error_kind(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect error".into()
    } else {
        "request error".into()
    }
}

async fn measure(infra: &Infra, stack: &mut Stack<'_>, s: &Settings) -> anyhow::Result<Intake> {
    let intake_pid = stack.start(Service::Intake, &[]).await?;
    let notification_pid = stack.start(Service::Notification, &[]).await?;
    let publisher = Arc::new(Publisher::open(&stack.amqp_url, 2, 2).await?);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(s.clients)
        .timeout(Duration::from_secs(10))
        .build()?;
    let prefix = format!("{}in.", infra.email_prefix());
    let url = format!("{}/api/v1/patient/register", stack.base_url);

    let watch = Watch::start(vec![
        ("intake-api".into(), intake_pid),
        ("notification-worker".into(), notification_pid),
    ]);
    let op_prefix = prefix.clone();
    let intake = drive(s.clients, s.warmup, s.window, move |seq| {
        let (http, url) = (http.clone(), url.clone());
        let bytes = serde_json::to_vec(&body(&op_prefix, seq, false));
        async move {
            let bytes = bytes.map_err(|e| e.to_string())?;
            let response = http
                .post(&url)
                .header("content-type", "application/json")
                .body(bytes)
                .send()
                .await
                .map_err(|e| error_kind(&e))?;
            let status = response.status().as_u16();
            response.bytes().await.map_err(|e| error_kind(&e))?;
            if status == 202 {
                Ok(())
            } else {
                Err(format!("HTTP {status}"))
            }
        }
    })
    .await;
    let rss = watch.finish().await;
    let queued_after_intake = publisher.queue_depth().await?;
    publisher.purge().await?;

    let message = Arc::new(envelope(
        &infra.keyring,
        Uuid::new_v4(),
        &body(&prefix, 0, false),
    )?);
    let message_bytes = message.len();
    let p = Arc::clone(&publisher);
    let baseline = drive(s.clients, s.warmup, s.window, move |_| {
        let (p, message) = (Arc::clone(&p), Arc::clone(&message));
        async move {
            p.publish(Uuid::new_v4(), &message)
                .await
                .map_err(|e| e.to_string())
        }
    })
    .await;
    publisher.purge().await?;
    if let Ok(publisher) = Arc::try_unwrap(publisher) {
        publisher.close().await;
    }
    Ok(Intake {
        message_bytes,
        ratio: if baseline.per_s > 0.0 {
            intake.per_s / baseline.per_s
        } else {
            0.0
        },
        accepted_in_all: intake.total_ok,
        intake,
        baseline,
        queued_after_intake,
        rss,
    })
}
