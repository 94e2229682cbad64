//! Dead-letter queues: look at what is in `<queue>.dlq`, and replay it to
//! where it was first published. Replaying a registration resets its
//! request from `failed` to `pending`, so polling clients see it again.

use lapin::{
    options::{BasicAckOptions, BasicGetOptions},
    types::{AMQPValue, FieldTable},
    BasicProperties, Channel,
};
use shared::{
    broker::{header_str, topology, Broker},
    messages::RegistrationRequested,
};
use sqlx::PgPool;

/// One dead message, described without its (sealed) body.
pub struct Dead {
    pub message_id: Option<String>,
    pub kind: Option<String>,
    pub request_id: Option<String>,
    pub reason: Option<String>,
    pub bytes: usize,
}

fn first_death(properties: &BasicProperties) -> Option<&FieldTable> {
    match properties.headers().as_ref()?.inner().get("x-death")? {
        AMQPValue::FieldArray(deaths) => match deaths.as_slice().first()? {
            AMQPValue::FieldTable(t) => Some(t),
            _ => None,
        },
        _ => None,
    }
}

fn text(table: &FieldTable, key: &str) -> Option<String> {
    match table.inner().get(key)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        AMQPValue::FieldArray(a) => a.as_slice().first().and_then(|v| match v {
            AMQPValue::LongString(s) => Some(s.to_string()),
            _ => None,
        }),
        _ => None,
    }
}

fn describe(properties: &BasicProperties, bytes: usize) -> Dead {
    Dead {
        message_id: properties.message_id().as_ref().map(ToString::to_string),
        kind: properties.kind().as_ref().map(ToString::to_string),
        request_id: header_str(properties, "x-request-id"),
        reason: first_death(properties).and_then(|d| text(d, "reason")),
        bytes,
    }
}

/// Reads up to `limit` dead messages without removing them (they return
/// to the queue when the channel closes).
pub async fn list(channel: &Channel, queue: &str, limit: usize) -> anyhow::Result<Vec<Dead>> {
    let dlq = topology::dead_letter_queue(queue);
    let mut seen = Vec::new();
    while seen.len() < limit {
        let Some(message) = channel
            .basic_get(dlq.as_str().into(), BasicGetOptions::default())
            .await?
        else {
            break;
        };
        seen.push(describe(
            &message.delivery.properties,
            message.delivery.data.len(),
        ));
    }
    Ok(seen)
}

/// Where a queue's messages are first published.
fn origin(queue: &str) -> anyhow::Result<(&'static str, &'static str)> {
    match queue {
        topology::REGISTRATION_QUEUE => Ok((
            topology::REGISTRATION_EXCHANGE,
            topology::REGISTRATION_REQUESTED,
        )),
        topology::NOTIFICATION_QUEUE => Ok((topology::EVENTS_EXCHANGE, topology::PATIENT_CREATED)),
        other => anyhow::bail!("unknown queue {other:?}"),
    }
}

/// Moves up to `limit` dead messages back to their exchange, each published
/// with a confirm before it is acked off the dead-letter queue.
pub async fn replay(
    channel: &Channel,
    broker: &Broker,
    db: &PgPool,
    queue: &str,
    limit: usize,
) -> anyhow::Result<usize> {
    let (exchange, default_key) = origin(queue)?;
    let dlq = topology::dead_letter_queue(queue);
    let mut replayed = 0;
    while replayed < limit {
        let Some(message) = channel
            .basic_get(dlq.as_str().into(), BasicGetOptions::default())
            .await?
        else {
            break;
        };
        let delivery = message.delivery;
        let routing_key = first_death(&delivery.properties)
            .and_then(|d| text(d, "routing-keys"))
            .unwrap_or_else(|| default_key.to_owned());
        if let Ok(RegistrationRequested::V1(m)) = serde_json::from_slice(&delivery.data) {
            sqlx::query(
                "UPDATE registration_requests SET status = 'pending', failure_reason = NULL WHERE id = $1 AND status = 'failed'",
            )
            .bind(m.request_id)
            .execute(db)
            .await?;
        }
        // A fresh start: keep our headers, drop the broker's death records.
        let mut headers = FieldTable::default();
        if let Some(old) = delivery.properties.headers() {
            for (k, v) in old.inner() {
                if !k.as_str().starts_with("x-death")
                    && !k.as_str().starts_with("x-first-death")
                    && !k.as_str().starts_with("x-last-death")
                    && k.as_str() != "x-delivery-count"
                {
                    headers.insert(k.clone(), v.clone());
                }
            }
        }

        let properties = delivery.properties.clone().with_headers(headers);
        broker
            .publish(exchange, &routing_key, &delivery.data, properties)
            .await?;
        delivery.acker.ack(BasicAckOptions::default()).await?;
        replayed += 1;
    }
    Ok(replayed)
}
