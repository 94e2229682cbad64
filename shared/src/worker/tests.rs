//! The delivery lifecycle without a broker: a scripted handler and
//! hand-made deliveries, on a paused clock so backoffs take no time.

use std::{collections::VecDeque, sync::Mutex, time::Duration};

use lapin::BasicProperties;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{delivery::Deliveries, Failure, Handler};
use crate::{
    broker::{persistent_json, Contract, Incoming, Outcome},
    shutdown::Shutdown,
};

#[derive(Serialize, Deserialize)]
struct Job {
    id: Uuid,
}

impl Contract for Job {
    const EXCHANGE: &'static str = "jobs";

    fn routing_key(&self) -> &'static str {
        "job"
    }

    fn kind(&self) -> &'static str {
        "job.v1"
    }

    fn message_id(&self) -> Uuid {
        self.id
    }

    fn correlation_id(&self) -> Uuid {
        self.id
    }
}

/// Answers each call with the next scripted result (then `Ok`), and
/// records what it was asked to dead-letter.
#[derive(Default)]
struct Scripted {
    results: Mutex<VecDeque<Result<(), Failure>>>,
    calls: Mutex<u32>,
    dead: Mutex<Vec<(Option<Uuid>, &'static str)>>,
    /// What the dead-letter hook answers.
    keep_dead: bool,
}

impl Handler for Scripted {
    type Message = Job;
    const QUEUE: &'static str = "jobs";

    async fn handle(&self, _: &Job) -> Result<(), Failure> {
        *self.calls.lock().expect("calls") += 1;
        let next = self.results.lock().expect("results").pop_front();
        next.unwrap_or(Ok(()))
    }

    async fn dead_letter(&self, request_id: Option<Uuid>, reason: &'static str) -> Outcome {
        self.dead.lock().expect("dead").push((request_id, reason));
        if self.keep_dead {
            Outcome::Retry
        } else {
            Outcome::DeadLetter
        }
    }
}

fn delivery(id: Uuid, body: Vec<u8>, delivery_count: u64) -> Incoming {
    Incoming {
        body,
        properties: persistent_json("job.v1", id, id),
        delivery_count,
    }
}

fn job(id: Uuid) -> Vec<u8> {
    serde_json::to_vec(&Job { id }).unwrap_or_default()
}

const MAX_DELIVERIES: u64 = 5;

fn unavailable() -> Failure {
    Failure::Unavailable("down".into())
}

/// One delivery of a scripted handler, and what should become of it.
struct Case {
    script: Vec<Result<(), Failure>>,
    deliveries_before: u64,
    undecodable: bool,
    /// The dead-letter hook keeps the message.
    hook_keeps: bool,
    outcome: Outcome,
    calls: u32,
    /// How long it waits in place, on the paused clock.
    waits: Duration,
    dead_lettered_for: Option<&'static str>,
}

impl Default for Case {
    fn default() -> Self {
        Self {
            script: Vec::new(),
            deliveries_before: 0,
            undecodable: false,
            hook_keeps: false,
            outcome: Outcome::Ack,
            calls: 1,
            waits: Duration::ZERO,
            dead_lettered_for: None,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn each_failure_becomes_its_outcome() {
    let busy = || Failure::Busy {
        reason: "someone else has it",
        wait: Duration::from_secs(3),
    };
    let cases = [
        Case::default(),
        Case {
            script: vec![Err(unavailable()), Err(unavailable())],
            calls: 3,
            waits: Duration::from_millis(200 + 400),
            ..Case::default()
        },
        Case {
            script: vec![Err(busy()), Err(unavailable())],
            deliveries_before: 2,
            calls: 3,
            waits: Duration::from_millis(3_000 + 200),
            ..Case::default()
        },
        Case {
            script: vec![Err(Failure::Transient("x".into()))],
            deliveries_before: 1,
            outcome: Outcome::Retry,
            ..Case::default()
        },
        Case {
            script: vec![Err(Failure::Poison("bad"))],
            outcome: Outcome::DeadLetter,
            dead_lettered_for: Some("bad"),
            ..Case::default()
        },
        Case {
            script: vec![Err(Failure::Poison("bad"))],
            hook_keeps: true,
            outcome: Outcome::Retry,
            dead_lettered_for: Some("bad"),
            ..Case::default()
        },
        Case {
            deliveries_before: MAX_DELIVERIES,
            outcome: Outcome::DeadLetter,
            calls: 0,
            dead_lettered_for: Some("too many delivery attempts"),
            ..Case::default()
        },
        Case {
            undecodable: true,
            outcome: Outcome::DeadLetter,
            calls: 0,
            dead_lettered_for: Some("undecodable message"),
            ..Case::default()
        },
        Case {
            undecodable: true,
            hook_keeps: true,
            outcome: Outcome::Retry,
            calls: 0,
            dead_lettered_for: Some("undecodable message"),
            ..Case::default()
        },
    ];
    for case in cases {
        let label = format!(
            "{:?} after {} deliveries, undecodable {}",
            case.script, case.deliveries_before, case.undecodable
        );
        let handler = Scripted {
            results: Mutex::new(case.script.into()),
            keep_dead: case.hook_keeps,
            ..Scripted::default()
        };
        let (_trigger, shutdown) = Shutdown::new();
        let deliveries = Deliveries::new(handler, MAX_DELIVERIES, shutdown);
        let id = Uuid::new_v4();
        let body = if case.undecodable {
            b"{".to_vec()
        } else {
            job(id)
        };
        let started = tokio::time::Instant::now();
        let got = deliveries
            .settle(delivery(id, body, case.deliveries_before))
            .await;
        assert_eq!(got, case.outcome, "{label}");
        assert_eq!(started.elapsed(), case.waits, "{label}");
        let handler = deliveries.handler();
        assert_eq!(*handler.calls.lock().expect("calls"), case.calls, "{label}");
        // The request id comes from the body, or else from the header.
        let dead = handler.dead.lock().expect("dead").clone();
        let want: Vec<_> = case
            .dead_lettered_for
            .map(|r| (Some(id), r))
            .into_iter()
            .collect();
        assert_eq!(dead, want, "{label}");
    }
}

#[tokio::test(start_paused = true)]
async fn waiting_in_place_stops_at_shutdown_and_requeues() {
    let handler = Scripted {
        results: Mutex::new(vec![Err(unavailable()), Err(unavailable())].into()),
        ..Scripted::default()
    };
    let (trigger, shutdown) = Shutdown::new();
    trigger.fire();
    let deliveries = Deliveries::new(handler, MAX_DELIVERIES, shutdown);
    let id = Uuid::new_v4();
    let got = deliveries.settle(delivery(id, job(id), 0)).await;
    assert_eq!(got, Outcome::Retry);
    assert_eq!(*deliveries.handler().calls.lock().expect("calls"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_body_without_a_request_id_anywhere_is_still_dead_lettered() {
    let (_trigger, shutdown) = Shutdown::new();
    let deliveries = Deliveries::new(Scripted::default(), MAX_DELIVERIES, shutdown);
    let incoming = Incoming {
        body: b"not json".to_vec(),
        properties: BasicProperties::default(),
        delivery_count: 0,
    };
    assert_eq!(deliveries.settle(incoming).await, Outcome::DeadLetter);
    let dead = deliveries.handler().dead.lock().expect("dead").clone();
    assert_eq!(dead, [(None, "undecodable message")]);
}
