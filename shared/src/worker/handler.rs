//! What a worker writes: a [`Handler`] for its queue's message type, which
//! says what happened to one message with a [`Failure`]; the runtime turns
//! that into waiting in place, a requeue or a dead letter.

use std::{future::Future, time::Duration};

use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::{
    broker::{BrokerError, Contract, Outcome},
    db,
};

/// The work of one queue.
pub trait Handler: Send + Sync + 'static {
    /// What the queue carries. A body that does not decode into it is
    /// dead-lettered.
    type Message: Contract + DeserializeOwned;

    /// The queue it consumes.
    const QUEUE: &'static str;

    /// How many of its publishes may await their confirm at once.
    const PUBLISH_CHANNELS: usize = 2;

    /// Does the work of one message; `Ok` acks it. Called again for the
    /// same message after [`Failure::Unavailable`] and [`Failure::Busy`],
    /// and on every redelivery, so it must be idempotent.
    fn handle(&self, message: &Self::Message) -> impl Future<Output = Result<(), Failure>> + Send;

    /// Runs before a message goes to the dead-letter queue (poison,
    /// undecodable, or delivered `MAX_DELIVERIES` times), with the request
    /// id of its body or, failing that, of its `x-request-id` header.
    /// Answers [`Outcome::DeadLetter`], or [`Outcome::Retry`] to keep the
    /// message until what must be recorded about it is recorded.
    fn dead_letter(
        &self,
        request_id: Option<Uuid>,
        reason: &'static str,
    ) -> impl Future<Output = Outcome> + Send {
        let _ = (request_id, reason);
        std::future::ready(Outcome::DeadLetter)
    }

    /// Deliveries of messages with the same key take turns in this
    /// process (the key of none runs alone). For a handler whose claims
    /// this process may retake, so that it never races itself.
    fn turn_key(&self, message: &Self::Message) -> Option<Uuid> {
        let _ = message;
        None
    }
}

/// Why a message was not handled, and so what becomes of it.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// It can never succeed: dead-letter it.
    #[error("poison message: {0}")]
    Poison(&'static str),
    /// A retry may fix it: requeue it after a backoff. Counts toward
    /// `MAX_DELIVERIES`.
    #[error("transient: {0}")]
    Transient(String),
    /// A dependency (Postgres, RabbitMQ) is unreachable: wait for it in
    /// place with backoff, spending none of the delivery budget.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Someone else holds the work (another worker's lease): look again
    /// in place after `wait`, spending none of the delivery budget.
    #[error("{reason}")]
    Busy {
        reason: &'static str,
        wait: Duration,
    },
}

impl Failure {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// An unreachable database is waited for; a statement that keeps failing
/// ends in the dead-letter queue after `MAX_DELIVERIES`.
impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        if db::is_transient(&e) {
            Self::Unavailable(format!("database: {e}"))
        } else {
            Self::Transient(format!("database: {e}"))
        }
    }
}

/// A publish that did not get through is waited for in place: the broker
/// is a dependency. A body that cannot be encoded is tried again later.
impl From<BrokerError> for Failure {
    fn from(e: BrokerError) -> Self {
        match e {
            BrokerError::Encode(_) => Self::Transient(e.to_string()),
            e => Self::Unavailable(e.to_string()),
        }
    }
}
