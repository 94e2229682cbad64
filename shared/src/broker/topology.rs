//! The durable topology. Every queue is a quorum queue (replicated, durable)
//! that dead-letters into `dead-letter`, where a `<queue>.dlq` twin keeps
//! what could not be processed for inspection and replay.
//!
//! | exchange (type) | routing key | queue |
//! |---|---|---|
//! | `registration` (direct) | `registration.requested` | `registration.requests` |
//! | `patient.events` (topic) | `patient.created`, `patient.verification_requested`, `patient.password_reset_requested`, `patient.password_changed`, `patient.account_deactivated`, `patient.phone_verification_requested`, `patient.email_change_requested`, `patient.profile_changed` | `notification.patient-created` |
//! | `patient.events` (topic) | `registration.completed`, `registration.rejected`, `registration.failed`, `patient.email_verified` | `webhook.events` |
//! | `webhooks` (direct) | `webhook.attempt` | `webhook.attempts` |
//! | `dead-letter` (direct) | `<queue>` | `<queue>.dlq` |

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex},
};

use lapin::{
    options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable},
    Channel, Connection, ExchangeKind,
};

pub const REGISTRATION_EXCHANGE: &str = "registration";
pub const REGISTRATION_REQUESTED: &str = "registration.requested";
pub const REGISTRATION_QUEUE: &str = "registration.requests";
pub const EVENTS_EXCHANGE: &str = "patient.events";
pub const PATIENT_CREATED: &str = "patient.created";
pub const VERIFICATION_REQUESTED: &str = "patient.verification_requested";
pub const PASSWORD_RESET_REQUESTED: &str = "patient.password_reset_requested";
pub const PASSWORD_CHANGED: &str = "patient.password_changed";
pub const ACCOUNT_DEACTIVATED: &str = "patient.account_deactivated";
pub const PHONE_VERIFICATION_REQUESTED: &str = "patient.phone_verification_requested";
pub const EMAIL_CHANGE_REQUESTED: &str = "patient.email_change_requested";
pub const PROFILE_CHANGED: &str = "patient.profile_changed";
pub const NOTIFICATION_QUEUE: &str = "notification.patient-created";
pub const REGISTRATION_COMPLETED: &str = "registration.completed";
pub const REGISTRATION_REJECTED: &str = "registration.rejected";
pub const REGISTRATION_FAILED: &str = "registration.failed";
pub const EMAIL_VERIFIED: &str = "patient.email_verified";
/// The webhook worker's queue of outcomes to fan out to partner endpoints.
pub const WEBHOOK_EVENTS_QUEUE: &str = "webhook.events";
/// Attempts at deliveries: the webhook worker POSTs each.
pub const WEBHOOKS_EXCHANGE: &str = "webhooks";
pub const WEBHOOK_ATTEMPT: &str = "webhook.attempt";
pub const WEBHOOK_ATTEMPTS_QUEUE: &str = "webhook.attempts";
pub const DEAD_LETTER_EXCHANGE: &str = "dead-letter";

pub fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}.dlq")
}

/// A work queue and the bindings that feed it.
#[derive(Debug)]
pub struct WorkQueue {
    pub name: &'static str,
    pub exchange: &'static str,
    /// Exact keys, no wildcards: on the topic exchange too, a message
    /// lands here when its routing key is one of these.
    pub routing_keys: &'static [&'static str],
    /// Whether [`Topology::request_queue_max_length`] bounds it.
    pub bounded: bool,
}

/// Every work queue, as [`Topology::declare`] makes it.
pub const WORK_QUEUES: [WorkQueue; 4] = [
    WorkQueue {
        name: REGISTRATION_QUEUE,
        exchange: REGISTRATION_EXCHANGE,
        routing_keys: &[REGISTRATION_REQUESTED],
        bounded: true,
    },
    WorkQueue {
        name: NOTIFICATION_QUEUE,
        exchange: EVENTS_EXCHANGE,
        routing_keys: &[
            PATIENT_CREATED,
            VERIFICATION_REQUESTED,
            PASSWORD_RESET_REQUESTED,
            PASSWORD_CHANGED,
            ACCOUNT_DEACTIVATED,
            PHONE_VERIFICATION_REQUESTED,
            EMAIL_CHANGE_REQUESTED,
            PROFILE_CHANGED,
        ],
        bounded: false,
    },
    WorkQueue {
        name: WEBHOOK_EVENTS_QUEUE,
        exchange: EVENTS_EXCHANGE,
        routing_keys: &[
            REGISTRATION_COMPLETED,
            REGISTRATION_REJECTED,
            REGISTRATION_FAILED,
            EMAIL_VERIFIED,
        ],
        bounded: false,
    },
    WorkQueue {
        name: WEBHOOK_ATTEMPTS_QUEUE,
        exchange: WEBHOOKS_EXCHANGE,
        routing_keys: &[WEBHOOK_ATTEMPT],
        bounded: false,
    },
];

/// The work queues a message published to `exchange` with `routing_key`
/// lands in.
pub fn queues_for(exchange: &str, routing_key: &str) -> Vec<&'static str> {
    WORK_QUEUES
        .iter()
        .filter(|q| q.exchange == exchange && q.routing_keys.contains(&routing_key))
        .map(|q| q.name)
        .collect()
}

/// Settings of the topology that operators may tune.
#[derive(Debug, Clone)]
pub struct Topology {
    /// The broker's own backstop for poison messages: after this many
    /// deliveries a quorum queue dead-letters a message even if no consumer
    /// ever gets to reject it (a message that crashes the worker).
    pub delivery_limit: i64,
    /// `REQUEST_QUEUE_MAX_LENGTH`: the request queue holds at most this
    /// many messages; past it the broker refuses publishes
    /// (`reject-publish`), which intake-api turns into 503 + Retry-After.
    /// A flood becomes backpressure, not a broker memory alarm.
    pub request_queue_max_length: i64,
    /// Members of each new queue's Raft group (`x-quorum-initial-group-size`):
    /// three tolerate one node lost. A smaller cluster gets every node.
    pub quorum_group_size: i64,
    /// Queues declared by an earlier release without a group size: it is
    /// left out of their later declarations (a queue made again without
    /// one still gets every node up to the broker's default of three), so
    /// that each new channel does not meet the same refusal.
    predating: Arc<Mutex<HashSet<String>>>,
}

impl Default for Topology {
    fn default() -> Self {
        Self {
            // Set explicitly: RabbitMQ 3.x has no default limit, 4.x one of 20.
            delivery_limit: 20,
            request_queue_max_length: 250_000,
            quorum_group_size: 3,
            predating: Arc::default(),
        }
    }
}

const GROUP_SIZE_ARG: &str = "x-quorum-initial-group-size";
const DELIVERY_LIMIT_ARG: &str = "x-delivery-limit";
/// A dead-letter queue keeps what it holds however often it is read
/// (`admin dlq list` returns what it looks at): RabbitMQ 4.x gives a quorum
/// queue a limit of 20 unless told, and 3.10 takes -1 as "none at all"
/// (every message dropped at its first return), so a limit no reading
/// reaches is set.
const DEAD_LETTER_DELIVERY_LIMIT: i64 = 1_000_000_000;

impl Topology {
    /// Declares every exchange, queue and binding on a channel of its own;
    /// idempotent.
    pub async fn declare(&self, conn: &Connection) -> lapin::Result<()> {
        let mut ch = conn.create_channel().await?;
        self.declare_on(conn, &mut ch).await?;
        ch.close(200, "declared".into()).await
    }

    async fn declare_on(&self, conn: &Connection, ch: &mut Channel) -> lapin::Result<()> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        let none = FieldTable::default();
        for (exchange, kind) in [
            (REGISTRATION_EXCHANGE, ExchangeKind::Direct),
            (EVENTS_EXCHANGE, ExchangeKind::Topic),
            (WEBHOOKS_EXCHANGE, ExchangeKind::Direct),
            (DEAD_LETTER_EXCHANGE, ExchangeKind::Direct),
        ] {
            ch.exchange_declare(exchange.into(), kind, durable, none.clone())
                .await?;
        }
        for work in &WORK_QUEUES {
            let queue = work.name;
            let dlq = dead_letter_queue(queue);
            let mut dlq_args = self.quorum();
            dlq_args.insert(
                DELIVERY_LIMIT_ARG.into(),
                AMQPValue::LongLongInt(DEAD_LETTER_DELIVERY_LIMIT),
            );
            self.declare_queue(conn, ch, &dlq, dlq_args).await?;
            ch.queue_bind(
                dlq.as_str().into(),
                DEAD_LETTER_EXCHANGE.into(),
                queue.into(),
                QueueBindOptions::default(),
                none.clone(),
            )
            .await?;
            let mut args = self.quorum();
            args.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString(DEAD_LETTER_EXCHANGE.into()),
            );
            args.insert(
                "x-dead-letter-routing-key".into(),
                AMQPValue::LongString(queue.into()),
            );
            args.insert(
                DELIVERY_LIMIT_ARG.into(),
                AMQPValue::LongLongInt(self.delivery_limit),
            );
            if work.bounded {
                args.insert(
                    "x-max-length".into(),
                    AMQPValue::LongLongInt(self.request_queue_max_length),
                );
                args.insert(
                    "x-overflow".into(),
                    AMQPValue::LongString("reject-publish".into()),
                );
            }
            self.declare_queue(conn, ch, queue, args).await?;
            for &key in work.routing_keys {
                ch.queue_bind(
                    queue.into(),
                    work.exchange.into(),
                    key.into(),
                    QueueBindOptions::default(),
                    none.clone(),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// A queue declared by an earlier release lacks the arguments added
    /// since (the group size; a dead-letter queue's delivery limit), and
    /// RabbitMQ refuses a declaration that adds one (406, the channel
    /// closes): that queue is declared again, on a new channel, as it is,
    /// with a warning. Any other difference still fails.
    async fn declare_queue(
        &self,
        conn: &Connection,
        ch: &mut Channel,
        name: &str,
        args: FieldTable,
    ) -> lapin::Result<()> {
        let options = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        let mut later = vec![GROUP_SIZE_ARG];
        if name.ends_with(".dlq") {
            // Never left out for good: a dead-letter queue made again
            // (a broker reset) must get its limit.
            later.push(DELIVERY_LIMIT_ARG);
        }
        let mut args = args;
        if self.predates_group_size(name) {
            later.retain(|arg| *arg != GROUP_SIZE_ARG);
            args = without(&args, GROUP_SIZE_ARG);
        }
        loop {
            let error = match ch.queue_declare(name.into(), options, args.clone()).await {
                Ok(_) => return Ok(()),
                Err(error) => error,
            };
            // Only the refusal of an argument the queue does not have at
            // all; a different value (a changed limit) still fails.
            let text = error.to_string();
            let missing = |arg: &&str| {
                text.contains(&format!("inequivalent arg '{arg}'"))
                    && text.contains("current is none")
            };
            let Some(index) = later.iter().position(missing) else {
                return Err(error);
            };
            let arg = later.remove(index);
            if arg == GROUP_SIZE_ARG {
                if let Ok(mut predating) = self.predating.lock() {
                    predating.insert(name.to_owned());
                }
            }
            tracing::warn!(
                queue = name,
                argument = arg,
                "queue declared by an earlier release without this argument; kept as it is (on RabbitMQ 4.x, give dead-letter queues a delivery-limit policy)"
            );
            *ch = conn.create_channel().await?;
            args = without(&args, arg);
        }
    }

    fn predates_group_size(&self, name: &str) -> bool {
        self.predating
            .lock()
            .is_ok_and(|predating| predating.contains(name))
    }

    fn quorum(&self) -> FieldTable {
        let mut args = FieldTable::default();
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        args.insert(
            GROUP_SIZE_ARG.into(),
            AMQPValue::LongLongInt(self.quorum_group_size),
        );
        args
    }
}

/// `args` less `left_out`.
fn without(args: &FieldTable, left_out: &str) -> FieldTable {
    args.inner()
        .iter()
        .filter(|(key, _)| key.as_str() != left_out)
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect::<BTreeMap<_, _>>()
        .into()
}
