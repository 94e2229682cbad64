//! A request queue at its bound: exactly the items the broker did not
//! confirm fail, and the batch still completes.

use super::*;

#[tokio::test]
async fn a_full_request_queue_fails_exactly_the_unconfirmed_items_and_the_batch_still_completes() {
    let mut stack = Stack::start_with(StackOptions {
        env: vec![
            ("REQUEST_QUEUE_MAX_LENGTH", "3".into()),
            ("BCRYPT_ROUNDS", "4".into()),
        ],
    })
    .await;
    let receiver = Receiver::start().await;
    let key = partner_key(&stack, "Acme Health").await;
    endpoint(&stack, &key, &receiver.url(), &["batch.completed"]).await;
    stack.stop(Service::Registration).await;
    let batch = |n: usize, tag: &str| {
        let items: Vec<Value> = (0..n)
            .map(|i| {
                let mut item = unique_example();
                item["client_ref"] = json!(format!("{tag}-{i}"));
                item
            })
            .collect();
        json!({ "items": items })
    };

    // Twenty items into a queue bounded at three: some confirmed, the rest
    // nacked, and failed at once. The answer is a 202 all the same.
    let first = batch(20, "a");
    let headers = [("x-api-key", key.as_str()), ("idempotency-key", "full-1")];
    let (code, _, text) = submit(&stack, &first, &headers).await;
    assert_eq!(code, 202, "{text}");
    let batch_id: Uuid = json_of(&text)["data"]["batch_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let (_, page) = get_as(&stack, &format!("{BATCHES}/{batch_id}"), Some(&key)).await;
    let counts = page["data"]["counts"].clone();
    let (pending, failed) = (
        counts["pending"].as_u64().unwrap(),
        counts["failed"].as_u64().unwrap(),
    );
    assert!(
        pending >= 1 && failed >= 1 && pending + failed == 20,
        "{counts}"
    );

    // Once the refusal's shedding is over, a batch the broker confirms
    // nothing of is refused whole (503); its requests are failed, none
    // pending, and its key is free again.
    // (Until the shedding is over the refusal comes before anything is
    // recorded, and frees the key too: submit again until the broker itself
    // refused the whole batch, its five requests failed.)
    let second = batch(5, "b");
    let retry = [("x-api-key", key.as_str()), ("idempotency-key", "full-2")];
    let headers = eventually("the broker to refuse the whole batch", SETTLE, || async {
        let (code, headers, text) = submit(&stack, &second, &retry).await;
        assert_eq!(code, 503, "{text}");
        let failed = count(
            &stack,
            "SELECT count(*) FROM registration_requests WHERE status = 'failed' AND batch_id <> $1",
            batch_id,
        )
        .await;
        (failed == 5).then_some(headers)
    })
    .await;
    assert!(headers.contains_key("retry-after"));
    let stuck: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM registration_requests WHERE status = 'pending' AND batch_id <> $1",
    )
    .bind(batch_id)
    .fetch_one(&stack.db)
    .await
    .unwrap();
    assert_eq!(stuck, 0);

    // The worker back: what was confirmed completes, and the batch with it.
    stack.spawn(Service::Registration);
    stack.wait_ready(Service::Registration).await;
    let settled = settled_batch(&stack, batch_id, &key).await;
    assert_eq!(settled["counts"]["completed"].as_u64(), Some(pending));
    assert_eq!(settled["counts"]["failed"].as_u64(), Some(failed));
    // Both batches completed: the refused one too, every item failed (its
    // partner hears of each request that exists, whichever side failed it).
    let told: Vec<Value> = receiver
        .wait_for(2, SETTLE)
        .await
        .iter()
        .map(|r| r.json())
        .collect();
    let (ours, refused): (Vec<&Value>, Vec<&Value>) = told
        .iter()
        .partition(|t| t["data"]["batch_id"] == batch_id.to_string());
    assert_eq!((ours.len(), refused.len()), (1, 1), "{told:?}");
    let counts = |completed: u64, failed: u64, total: u64| json!({"total": total, "completed": completed, "rejected": 0, "failed": failed, "invalid": 0});
    assert_eq!(ours[0]["data"]["counts"], counts(pending, failed, 20));
    assert_eq!(refused[0]["data"]["counts"], counts(0, 5, 5));
    // Past the shedding that followed the refusal, the released key is
    // taken afresh.
    eventually("the released key to be taken afresh", SETTLE, || async {
        let (code, _, text) = submit(&stack, &second, &retry).await;
        assert!(code == 202 || code == 503, "{code}: {text}");
        (code == 202).then_some(())
    })
    .await;
}
