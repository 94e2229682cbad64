//! What the bench sends: valid registration bodies with unique emails and
//! phone numbers, the sealed v1 envelopes intake-api would publish for
//! them, and a confirmed publisher that pipelines many publishes, each
//! awaiting its own confirm, over a few channels (as the service does).

use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{bail, Context};
use lapin::{
    options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueuePurgeOptions},
    tcp::OwnedTLSConfig,
    types::{AMQPValue, FieldTable},
    Channel, Confirmation, Connection, ConnectionProperties, DefaultConnectionBuilder,
};
use serde_json::{json, Value};
use shared::{
    broker::{persistent_json, topology, Topology},
    crypto::Keyring,
    domain::parse_registration,
    messages::{registration_context, RegistrationRequested, RegistrationRequestedV1},
};
use uuid::Uuid;

/// Where intake-api takes registrations.
pub const REGISTER_PATH: &str = "/api/v1/patient/register";

/// A POST of a JSON registration `bytes` to intake-api at `base_url`.
pub fn register_request(
    http: &reqwest::Client,
    base_url: &str,
    bytes: Vec<u8>,
) -> reqwest::RequestBuilder {
    http.post(format!("{base_url}{REGISTER_PATH}"))
        .header("content-type", "application/json")
        .body(bytes)
}

/// Registration `i` of a phase: the example body (or, `minimal`,
/// only the required fields) with an email and phone number of its own.
pub fn body(email_prefix: &str, i: u64, minimal: bool) -> Value {
    let mut body = json!({
        "first_name": "Jane", "last_name": "Smith",
        "email": format!("{email_prefix}{i}@example.com"),
        "phone_number": phone(i),
        "password": "SecurePassword123!", "confirm_password": "SecurePassword123!",
        "date_of_birth": "1990-05-15", "gender": "female",
        "address": {"street": "456 Main Street", "city": "Boston", "state": "MA", "zip": "02101"},
    });
    if !minimal {
        body["emergency_contact"] =
            json!({"name": "John Smith", "phone": "+1234567891", "relationship": "spouse"});
        body["insurance_info"] = json!({"provider": "Blue Cross", "policy_number": "BC123456789"});
    }
    body
}

/// Registration `i`'s phone number.
pub fn phone(i: u64) -> String {
    format!("+1{:010}", 2_000_000_000 + i)
}

/// Refuses to measure anything if the bodies would be rejected.
pub fn check_bodies(email_prefix: &str) -> anyhow::Result<()> {
    let today = chrono::Utc::now().date_naive();
    for minimal in [false, true] {
        if let Err(errors) = parse_registration(&body(email_prefix, 0, minimal), today) {
            bail!("the bench's registration body is invalid: {errors:?}");
        }
    }
    Ok(())
}

/// The message intake-api publishes for `body`, sealed with the run's key.
pub fn envelope(keyring: &Keyring, request_id: Uuid, body: &Value) -> anyhow::Result<Vec<u8>> {
    let message = RegistrationRequested::V1(RegistrationRequestedV1 {
        request_id,
        submitted_at: chrono::Utc::now(),
        registration: keyring.seal_json(body, &registration_context(request_id)),
    });
    Ok(serde_json::to_vec(&message)?)
}

/// Where a [`Publisher`] sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The registration exchange, so the request queue: what the worker reads.
    Requests,
    /// A quorum queue of the bench's own, without the request queue's
    /// length limit: raw publishing can outrun that limit within a run.
    Baseline,
}

/// Where a message goes: an exchange, a routing key, and its `type`.
#[derive(Debug, Clone, Copy)]
pub struct Route<'a> {
    pub exchange: &'a str,
    pub key: &'a str,
    pub kind: &'a str,
}

/// The baseline's queue: durable, quorum, in the phase's own vhost.
const BASELINE_QUEUE: &str = "bench.baseline";

/// Confirm-mode channels on a couple of connections to one vhost.
pub struct Publisher {
    target: Target,
    channels: Vec<Channel>,
    next: AtomicUsize,
    connections: Vec<Connection>,
}

impl Publisher {
    pub async fn open(
        amqp_url: &str,
        connections: usize,
        per_connection: usize,
        target: Target,
    ) -> anyhow::Result<Self> {
        Self::open_trusting(amqp_url, None, connections, per_connection, target).await
    }

    /// [`Publisher::open`], trusting the CA in PEM file `ca` (beside the
    /// public roots) for an `amqps://` URL.
    pub async fn open_trusting(
        amqp_url: &str,
        ca: Option<&std::path::Path>,
        connections: usize,
        per_connection: usize,
        target: Target,
    ) -> anyhow::Result<Self> {
        let tls = OwnedTLSConfig {
            identity: None,
            cert_chain: ca
                .map(|path| {
                    std::fs::read_to_string(path)
                        .with_context(|| format!("reading the CA {}", path.display()))
                })
                .transpose()?,
        };
        let mut conns = Vec::new();
        let mut channels = Vec::new();
        for _ in 0..connections {
            let conn = DefaultConnectionBuilder::new()?
                .with_uri_str(amqp_url.to_owned())
                .with_properties(ConnectionProperties::default())
                .with_tls_config(tls.clone())
                .connect()
                .await
                .context("connecting to RabbitMQ")?;
            for _ in 0..per_connection {
                let channel = conn.create_channel().await?;
                channel
                    .confirm_select(ConfirmSelectOptions::default())
                    .await?;
                Topology::default().declare(&conn).await?;
                if target == Target::Baseline {
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
                        .queue_declare(BASELINE_QUEUE.into(), durable, args)
                        .await?;
                }
                channels.push(channel);
            }
            conns.push(conn);
        }
        Ok(Self {
            target,
            channels,
            next: AtomicUsize::new(0),
            connections: conns,
        })
    }

    fn queue(&self) -> &'static str {
        match self.target {
            Target::Requests => topology::REGISTRATION_QUEUE,
            Target::Baseline => BASELINE_QUEUE,
        }
    }

    /// Publishes one registration message (persistent, mandatory) to the
    /// target and waits for the broker's confirm.
    pub async fn publish(&self, request_id: Uuid, bytes: &[u8]) -> anyhow::Result<()> {
        let (exchange, key) = match self.target {
            Target::Requests => (
                topology::REGISTRATION_EXCHANGE,
                topology::REGISTRATION_REQUESTED,
            ),
            Target::Baseline => ("", BASELINE_QUEUE),
        };
        let route = Route {
            exchange,
            key,
            kind: "registration.requested.v1",
        };
        self.publish_to(route, request_id, request_id, bytes).await
    }

    /// Publishes `bytes` (persistent, mandatory) where `route` says, with
    /// our messages' properties, and waits for the broker's confirm.
    pub async fn publish_to(
        &self,
        route: Route<'_>,
        message_id: Uuid,
        request_id: Uuid,
        bytes: &[u8],
    ) -> anyhow::Result<()> {
        let k = self.next.fetch_add(1, Ordering::Relaxed) % self.channels.len();
        let confirm = self.channels[k]
            .basic_publish(
                route.exchange.into(),
                route.key.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                bytes,
                persistent_json(route.kind, message_id, request_id),
            )
            .await?
            .await?;
        match confirm {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(_)) => bail!("unroutable"),
            Confirmation::Nack(_) => bail!("nack"),
            Confirmation::NotRequested => bail!("not in confirm mode"),
        }
    }

    /// Messages ready in the target queue.
    pub async fn queue_depth(&self) -> anyhow::Result<u32> {
        passive_depth(&self.channels[0], self.queue()).await
    }

    /// Empties the target queue.
    pub async fn purge(&self) -> anyhow::Result<u32> {
        Ok(self.channels[0]
            .queue_purge(self.queue().into(), QueuePurgeOptions::default())
            .await?)
    }

    pub async fn close(self) {
        for conn in &self.connections {
            conn.close(200, "bye".into()).await.ok();
        }
    }
}

/// Messages ready in `queue`, by a passive declare: it neither creates the
/// queue nor needs its arguments (declaring with other ones would clash).
async fn passive_depth(channel: &Channel, queue: &str) -> anyhow::Result<u32> {
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let queue = channel
        .queue_declare(queue.into(), passive, FieldTable::default())
        .await?;
    Ok(queue.message_count())
}

/// [`passive_depth`] on a connection of its own, for a vhost where no
/// [`Publisher`] may declare the topology (a stack with another queue bound).
pub async fn queue_depth(amqp_url: &str, queue: &str) -> anyhow::Result<u32> {
    let conn = Connection::connect(amqp_url, ConnectionProperties::default())
        .await
        .context("connecting to RabbitMQ")?;
    let depth = passive_depth(&conn.create_channel().await?, queue).await;
    conn.close(200, "bye".into()).await.ok();
    depth
}
