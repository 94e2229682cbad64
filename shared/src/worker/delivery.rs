//! The life of one delivery, the same in every worker: decode its body,
//! open its span, check its delivery count, run the handler (waiting out
//! outages and other holders in place), and turn the result into an
//! [`Outcome`] for the consume loop to settle.

use tracing::Instrument;
use uuid::Uuid;

use super::{turns::Turns, Failure, Handler};
use crate::{
    broker::{header_str, Contract, Incoming, Outcome},
    retry,
    shutdown::Shutdown,
};

/// A handler with what the runtime keeps around it.
pub(super) struct Deliveries<H> {
    handler: H,
    max_deliveries: u64,
    shutdown: Shutdown,
    turns: Turns,
}

impl<H: Handler> Deliveries<H> {
    pub(super) fn new(handler: H, max_deliveries: u64, shutdown: Shutdown) -> Self {
        Self {
            handler,
            max_deliveries,
            shutdown,
            turns: Turns::default(),
        }
    }

    #[cfg(test)]
    pub(super) fn handler(&self) -> &H {
        &self.handler
    }

    /// What to do with `incoming`, once the handler is done with it.
    pub(super) async fn settle(&self, incoming: Incoming) -> Outcome {
        let header_id =
            header_str(&incoming.properties, "x-request-id").and_then(|s| Uuid::parse_str(&s).ok());
        let decoded = serde_json::from_slice::<H::Message>(&incoming.body);
        let request_id = decoded
            .as_ref()
            .map_or(header_id, |m| Some(m.correlation_id()));
        let span = tracing::info_span!(
            "message",
            queue = H::QUEUE,
            request_id = request_id.map(tracing::field::display),
            delivery = incoming.delivery_count
        );
        async {
            let Ok(message) = decoded else {
                return self.dead_letter(header_id, "undecodable message").await;
            };
            let request_id = Some(message.correlation_id());
            if incoming.delivery_count >= self.max_deliveries {
                return self
                    .dead_letter(request_id, "too many delivery attempts")
                    .await;
            }
            match self.attempt(&message).await {
                Ok(()) => Outcome::Ack,
                Err(Failure::Poison(reason)) => self.dead_letter(request_id, reason).await,
                Err(e) => {
                    tracing::warn!(error = %e, "message not handled for now; will retry");
                    Outcome::Retry
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn dead_letter(&self, request_id: Option<Uuid>, reason: &'static str) -> Outcome {
        tracing::error!(reason, "dead-lettering a message");
        self.handler.dead_letter(request_id, reason).await
    }

    /// Runs the handler, in its turn, until it is done or fails in a way
    /// that waiting here cannot mend. Stops waiting at shutdown.
    async fn attempt(&self, message: &H::Message) -> Result<(), Failure> {
        let _turn = match self.handler.turn_key(message) {
            Some(key) => Some(self.turns.take(key).await),
            None => None,
        };
        loop {
            let handled = retry::while_unavailable(&self.shutdown, Failure::is_unavailable, || {
                self.handler.handle(message)
            })
            .await;
            match handled {
                Err(Failure::Busy { reason, wait }) if !self.shutdown.is_triggered() => {
                    tracing::info!(wait_ms = wait.as_millis() as u64, "{reason}; waiting");
                    self.shutdown.sleep(wait).await;
                }
                other => return other,
            }
        }
    }
}
