//! Fault injection end to end. Each scenario submits a batch of 200
//! registrations (one in five reusing another's email or phone), injects
//! its fault while the batch is in flight, waits for the system to settle,
//! then checks from Postgres, the status endpoint and the SMTP sink that
//! every 202 ended final, no email or phone has two patients, and every
//! patient got exactly one email. Scenarios restart servers all tests
//! share, so they are a test binary of their own (cargo runs it apart from
//! `system`) and run one at a time ([`faults::serial`]).

#![allow(clippy::unwrap_used)]

use std::{collections::HashSet, time::Duration};

use e2e::{
    faults::{self, mid_batch, start, BrokerOutage, ALL_REQUESTS, FINAL_REQUESTS, SENT_EMAILS},
    log_excerpt, settle, unique_example, Answer, Api, Batch, Report, Service, Stack, TcpProxy,
};
use futures_util::future::join_all;

/// A three-node RabbitMQ cluster losing the node that leads the request queue.
#[path = "faults/cluster.rs"]
mod cluster;

const BATCH: usize = 200;
const SETTLE: Duration = Duration::from_secs(120);

/// Settles the batch and prints its summary line.
async fn finish(scenario: &str, stack: &Stack, batch: &Batch, answers: &[Answer]) -> Report {
    let report = settle(stack, batch, answers, SETTLE).await;
    report.print(scenario, stack);
    report
}
/// How long a SIGTERM'd service may take to exit.
const EXIT: Duration = Duration::from_secs(40);

#[tokio::test]
async fn kill_9_registration_worker_mid_batch() {
    let _serial = faults::serial().await;
    let name = "kill -9 registration-worker";
    let mut stack = start(vec![]).await;
    let (api, batch, db) = (
        Api::of(&stack),
        Batch::with_duplicates(BATCH),
        stack.db.clone(),
    );
    let (answers, ()) = tokio::join!(batch.submit(&api, 8), async {
        mid_batch(&db, name, FINAL_REQUESTS, 50).await;
        // SIGKILL, then start it again.
        stack.restart(Service::Registration).await;
    });
    finish(name, &stack, &batch, &answers)
        .await
        .assert_clean(name, &stack, 0);
}

#[tokio::test]
async fn kill_9_notification_worker_mid_batch() {
    let _serial = faults::serial().await;
    let name = "kill -9 notification-worker";
    let mut stack = start(vec![]).await;
    let (api, batch, db) = (
        Api::of(&stack),
        Batch::with_duplicates(BATCH),
        stack.db.clone(),
    );
    let (answers, interrupted) = tokio::join!(batch.submit(&api, 8), async {
        mid_batch(&db, name, SENT_EMAILS, 40).await;
        stack.stop(Service::Notification).await;
        // Claims the dead worker left mid-send: the only emails that may
        // arrive twice (the contract's "crash inside an SMTP send").
        let interrupted: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM notification_deliveries WHERE status = 'sending'",
        )
        .fetch_one(&db)
        .await
        .unwrap();
        stack.spawn(Service::Notification);
        stack.wait_ready(Service::Notification).await;
        usize::try_from(interrupted).unwrap()
    });
    eprintln!("faults: {name}: {interrupted} send(s) interrupted by the kill");
    finish(name, &stack, &batch, &answers)
        .await
        .assert_clean_but(name, &stack, 0, interrupted);
}

#[tokio::test]
async fn rabbitmq_restart_mid_batch() {
    let _serial = faults::serial().await;
    let name = "RabbitMQ restart";
    let stack = start(vec![]).await;
    let (api, batch) = (Api::of(&stack), Batch::with_duplicates(BATCH));
    let mut answers = batch.submit_part(&api, 0..120, 8).await;
    mid_batch(&stack.db, name, FINAL_REQUESTS, 30).await;
    let mut outage = BrokerOutage::begin(5).await;
    let during = batch.submit_part(&api, 120..136, 16).await;
    let still_down = !outage.is_over();
    outage.end().await;
    stack.wait_ready(Service::Intake).await;
    let after = batch.submit_part(&api, 136..BATCH, 8).await;
    answers.extend(during.iter().cloned());
    answers.extend(after.iter().cloned());
    let report = finish(name, &stack, &batch, &answers).await;
    // Answers that came after the broker was back may be 202s.
    let refused: Vec<_> = during
        .iter()
        .filter(|a| !(a.code == Some(503) && a.retry_after) && (still_down || !a.accepted()))
        .collect();
    assert!(
        refused.is_empty(),
        "during the outage, not 503 + Retry-After: {refused:?}"
    );
    let not_accepted: Vec<_> = after.iter().filter(|a| !a.accepted()).collect();
    assert!(
        not_accepted.is_empty(),
        "after the outage, not 202: {not_accepted:?}"
    );
    report.assert_clean(name, &stack, 0);
}

#[tokio::test]
async fn postgres_restart_mid_batch() {
    let _serial = faults::serial().await;
    let name = "Postgres restart";
    let stack = start(vec![]).await;
    let (api, batch) = (Api::of(&stack), Batch::with_duplicates(BATCH));
    let (answers, ()) = tokio::join!(batch.submit(&api, 8), async {
        mid_batch(&stack.db, name, FINAL_REQUESTS, 50).await;
        faults::restart_postgres().await;
    });
    finish(name, &stack, &batch, &answers)
        .await
        .assert_clean(name, &stack, 0);
}

#[tokio::test]
async fn smtp_sink_down_for_a_while_then_back() {
    let _serial = faults::serial().await;
    let name = "SMTP sink down and back";
    let mut proxy = TcpProxy::start(faults::smtp_sink()).await;
    let stack = start(vec![("SMTP_PORT", proxy.port().to_string())]).await;
    let (api, batch) = (Api::of(&stack), Batch::with_duplicates(BATCH));
    let (answers, ()) = tokio::join!(batch.submit(&api, 8), async {
        mid_batch(&stack.db, name, SENT_EMAILS, 40).await;
        proxy.cut().await;
        tokio::time::sleep(faults::OUTAGE).await;
        proxy.restore().await;
    });
    let report = finish(name, &stack, &batch, &answers).await;
    assert!(
        proxy.accepted() > 0,
        "the notification worker never used the proxy"
    );
    report.assert_clean(name, &stack, 0);
}

#[tokio::test]
async fn two_registration_workers_one_killed() {
    let _serial = faults::serial().await;
    let name = "two registration-workers, one killed";
    let mut stack = start(vec![]).await;
    let extra = stack.spawn_extra(Service::Registration).await;
    let (api, batch, db) = (
        Api::of(&stack),
        Batch::with_duplicates(BATCH),
        stack.db.clone(),
    );
    let (answers, ()) = tokio::join!(batch.submit(&api, 8), async {
        mid_batch(&db, name, FINAL_REQUESTS, 60).await;
        stack.stop_extra(extra).await;
    });
    let report = finish(name, &stack, &batch, &answers).await;
    for log in [stack.log(Service::Registration), stack.extra_log(extra)] {
        assert!(
            log.contains("patient created"),
            "both workers should have consumed"
        );
    }
    report.assert_clean(name, &stack, 0);
}

#[tokio::test]
async fn sigterm_to_each_service_mid_batch() {
    let _serial = faults::serial().await;
    let name = "SIGTERM each service";
    let mut stack = start(vec![]).await;
    let (api, batch, db) = (
        Api::of(&stack),
        Batch::with_duplicates(BATCH),
        stack.db.clone(),
    );
    let (answers, exits) = tokio::join!(batch.submit(&api, 4), async {
        let mut exits = Vec::new();
        for (service, sql, n) in [
            (Service::Intake, ALL_REQUESTS, 60),
            (Service::Registration, FINAL_REQUESTS, 90),
            (Service::Notification, SENT_EMAILS, 80),
        ] {
            mid_batch(&db, &format!("{name}: {}", service.binary()), sql, n).await;
            let status = stack.terminate(service, EXIT).await;
            exits.push((service.binary(), status.and_then(|s| s.code())));
            stack.spawn(service);
            stack.wait_ready(service).await;
        }
        exits
    });
    let report = finish(name, &stack, &batch, &answers).await;
    eprintln!("faults: {name}: exit codes {exits:?} (None: no exit within {EXIT:?}, or killed by a signal)");
    assert!(
        exits.iter().all(|(_, code)| *code == Some(0)),
        "{exits:?}\n{}",
        log_excerpt(&stack)
    );
    report.assert_clean(name, &stack, 0);
}

#[tokio::test]
async fn poison_messages_are_dead_lettered_and_the_rest_unaffected() {
    let _serial = faults::serial().await;
    let name = "poison messages";
    let stack = start(vec![]).await;
    let conn = stack.amqp().await;
    let channel = conn.create_channel().await.unwrap();
    let poison = [
        faults::poison_messages(&unique_example()),
        faults::poison_messages(&unique_example()),
    ]
    .concat();
    let (api, batch) = (Api::of(&stack), Batch::with_duplicates(BATCH));
    let (answers, ()) = tokio::join!(batch.submit(&api, 8), async {
        mid_batch(&stack.db, name, FINAL_REQUESTS, 50).await;
        for (_, id, body) in &poison {
            faults::publish_raw(&channel, *id, body).await;
        }
    });
    let report = finish(name, &stack, &batch, &answers).await;
    let mut dead: Vec<Vec<u8>> = Vec::new();
    let started = tokio::time::Instant::now();
    while dead.len() < poison.len() && started.elapsed() < Duration::from_secs(60) {
        dead.extend(faults::drain(&channel, "registration.requests.dlq", 100).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut expected: Vec<Vec<u8>> = poison.iter().map(|(_, _, b)| b.clone()).collect();
    expected.sort();
    dead.sort();
    assert!(
        dead == expected,
        "the DLQ holds {} messages, not the {} poison",
        dead.len(),
        expected.len()
    );
    for (what, id, _) in &poison {
        let status = api.status(&id.to_string()).await;
        let failed = status.as_ref().is_some_and(|d| d["status"] == "failed");
        let readable = matches!(*what, "sealed with another key" | "tampered");
        // Unreadable ones have no request the worker can name: 404, or failed.
        assert!(
            failed || (!readable && status.is_none()),
            "{what}: {status:?}"
        );
    }
    report.assert_clean(name, &stack, 0);
}

#[tokio::test]
async fn one_idempotency_key_sent_50_times_at_once_is_one_request() {
    let _serial = faults::serial().await;
    let name = "Idempotency-Key x50";
    let stack = start(vec![]).await;
    let api = Api::of(&stack);
    let body = unique_example();
    let key = uuid::Uuid::new_v4().to_string();
    let batch = Batch {
        bodies: vec![body.clone(); 50],
    };
    let answers = join_all((0..50).map(|i| api.register_with(i, &body, Some(&key)))).await;
    let ids: HashSet<&str> = answers
        .iter()
        .filter(|a| a.code.is_some_and(|c| (200..300).contains(&c)))
        .filter_map(|a| a.request_id.as_deref())
        .collect();
    let mut seen = HashSet::new();
    let firsts: Vec<Answer> = answers
        .iter()
        .filter(|a| a.accepted() && seen.insert(a.request_id.clone()))
        .cloned()
        .collect();
    let report = finish(name, &stack, &batch, &firsts).await;
    let rows: i64 = sqlx::query_scalar(ALL_REQUESTS)
        .fetch_one(&stack.db)
        .await
        .unwrap();
    let codes: Vec<Option<u16>> = answers.iter().map(|a| a.code).collect();
    let again = api.register_with(0, &body, Some(&key)).await;
    let different = api.register_with(0, &unique_example(), Some(&key)).await;
    eprintln!(
        "faults: {name}: codes {codes:?}, {} distinct request ids, {rows} rows; replay {:?}, other body {:?}",
        ids.len(),
        again.code,
        different.code
    );
    assert!(
        codes.iter().all(|c| matches!(c, Some(202 | 409))),
        "{codes:?}"
    );
    assert_eq!((ids.len(), rows), (1, 1), "one request for one key");
    assert_eq!(again.code, Some(202), "the same key and body again");
    assert!(again
        .request_id
        .as_deref()
        .is_some_and(|id| ids.contains(id)));
    assert_eq!(different.code, Some(422), "the same key with another body");
    report.assert_clean(name, &stack, 0);
}
