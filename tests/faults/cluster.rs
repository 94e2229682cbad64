//! A three-node RabbitMQ cluster (`RABBITMQ_NODES=3 scripts/services up`)
//! loses, to `kill -9`, the node that leads `registration.requests`, under a
//! steady registration load: intake answers 503 + `Retry-After` for a
//! moment, nothing accepted is lost, no patient is doubled, the workers go
//! on with the survivors, and the node rejoins.

use std::time::Duration;

use e2e::{
    faults::{self, mid_batch, FINAL_REQUESTS},
    Answer, Api, Batch, Stack, StackOptions,
};
use futures_util::{stream, StreamExt};
use tokio::time::Instant;

use super::finish;

/// The scenario's load: long enough to span the failover.
const CLUSTER_BATCH: usize = 600;

/// How long intake may answer 503 while the request queue elects a new
/// leader and the services reconnect to surviving nodes (the target).
const FAILOVER_WINDOW: Duration = Duration::from_secs(5);

#[tokio::test]
async fn kill_9_the_request_queues_leader_in_a_three_node_cluster() {
    let _serial = faults::serial().await;
    let name = "kill -9 the leader node";
    // Every node up (an earlier run may have stopped short of restarting one).
    faults::services_with(&[("RABBITMQ_NODES", "3")], "up").await;
    let stack = Stack::start_on(
        e2e::cluster_servers(),
        StackOptions {
            env: vec![("BCRYPT_ROUNDS", "4".to_owned())],
        },
    )
    .await;
    let management = stack_kit::Management::new(e2e::cluster_servers());
    let queue = format!("queues/{}/registration.requests", stack.id);
    let described = management.get(&queue).await.unwrap();
    let members = described["members"].as_array().map_or(0, Vec::len);
    assert_eq!(members, 3, "the request queue's members: {described}");

    // A steady load, each answer stamped with when it came.
    let (api, batch) = (Api::of(&stack), Batch::with_duplicates(CLUSTER_BATCH));
    let started = Instant::now();
    let load = stream::iter(0..CLUSTER_BATCH)
        .map(|index| {
            let (api, body) = (&api, &batch.bodies[index]);
            async move {
                let answer = api.register(index, body).await;
                (started.elapsed(), answer)
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>();
    let (stamped, killed_at) = tokio::join!(load, async {
        mid_batch(&stack.db, name, FINAL_REQUESTS, 100).await;
        let leader = management.get(&queue).await.unwrap()["leader"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let node = leader
            .strip_prefix("rabbit-")
            .and_then(|rest| rest.split('@').next())
            .unwrap_or_else(|| panic!("a leader named rabbit-N@host, not {leader:?}"))
            .to_owned();
        let at = started.elapsed();
        faults::services(&format!("rabbitmq-node kill {node}")).await;
        eprintln!("faults: {name}: killed {leader} at {at:?}");
        (node, at)
    });
    let (node, killed_at) = killed_at;
    // The node comes back before anything is asserted, so that a failure
    // leaves the cluster whole for the next run.
    faults::services(&format!("rabbitmq-node start {node}")).await;
    let refused: Vec<Duration> = stamped
        .iter()
        .filter(|(_, a)| !a.accepted())
        .map(|(at, _)| *at)
        .collect();
    let (first, last) = (refused.iter().min(), refused.iter().max());
    let window = match (first, last) {
        (Some(first), Some(last)) => *last - *first,
        _ => Duration::ZERO,
    };
    let after_kill =
        |at: Option<&Duration>| at.map(|at| at.as_secs_f64() - killed_at.as_secs_f64());
    eprintln!(
        "faults: {name}: {} of {} answers were not 202, within {window:?}: the first {:?} s after the kill, the last {:?} s",
        refused.len(),
        stamped.len(),
        after_kill(first),
        after_kill(last),
    );
    let not_503: Vec<_> = stamped
        .iter()
        .filter(|(_, a)| !(a.accepted() || (a.code == Some(503) && a.retry_after)))
        .collect();
    assert!(
        not_503.is_empty(),
        "refusals other than 503 + Retry-After: {not_503:?}"
    );
    assert!(window < FAILOVER_WINDOW, "503s for {window:?}");

    let answers: Vec<Answer> = stamped.into_iter().map(|(_, a)| a).collect();
    let report = finish(name, &stack, &batch, &answers).await;

    // The node is back and the queue has its three members again.
    let members: usize = e2e::eventually(
        "three online members again",
        Duration::from_secs(60),
        || async {
            let described = management.get(&queue).await.ok()?;
            let online = described["online"].as_array().map_or(0, Vec::len);
            (online == 3).then_some(online)
        },
    )
    .await;
    assert_eq!(members, 3);
    report.assert_clean(name, &stack, 0);
}
