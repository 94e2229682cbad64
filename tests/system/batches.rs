//! Registration batches end to end: a batch answered item by item, settled
//! by the real workers, followed at its status URL, replayed with its
//! Idempotency-Key, told of by `batch.completed`; refused whole for its
//! structure or its caller; and a request queue at its bound, which fails
//! exactly the items the broker did not confirm.

mod queue_bound;
mod refusals;

use std::time::Duration;

use e2e::{
    eventually, partner::get_as, receiver::Receiver, unique_example, Service, Stack, StackOptions,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::webhooks::{endpoint, outcomes_handled, partner_key};

const BATCHES: &str = "/api/v1/patient/registration-batches";
/// How long 480 registrations (bcrypt at cost 4) may take to settle.
const SETTLE: Duration = Duration::from_secs(300);

/// POSTs a batch with these headers: status, headers, body text.
async fn submit(
    stack: &Stack,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = stack
        .http
        .post(format!("{}{BATCHES}", stack.base_url))
        .json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// One way of getting a registration wrong per `n`: each answered inline
/// with the field errors a single registration gives.
fn spoiled(n: usize) -> Value {
    let mut body = unique_example();
    match n % 4 {
        0 => body["email"] = json!("not-an-email"),
        1 => {
            body.as_object_mut().unwrap().remove("first_name");
        }
        2 => {
            body["password"] = json!("short");
            body["confirm_password"] = json!("short");
        }
        _ => {
            body["date_of_birth"] = json!("2999-01-01");
            body["gender"] = json!("robot");
        }
    }
    body
}

/// 500 registrations, every 25th (from the fourth) invalid: 20 of them.
fn mixed_batch() -> (Value, Vec<Value>) {
    let bodies: Vec<Value> = (0..500)
        .map(|i| {
            if i % 25 == 3 {
                spoiled(i / 25)
            } else {
                unique_example()
            }
        })
        .collect();
    let items: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut item = body.clone();
            item["client_ref"] = json!(format!("row-{i}"));
            item
        })
        .collect();
    (json!({ "items": items }), bodies)
}

async fn count(stack: &Stack, sql: &str, batch_id: Uuid) -> i64 {
    sqlx::query_scalar(sql)
        .bind(batch_id)
        .fetch_one(&stack.db)
        .await
        .unwrap()
}

/// The rows there are: the batch's requests and items, and all batches
/// and requests.
async fn rows(stack: &Stack, batch_id: Uuid) -> (i64, i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM registration_requests WHERE batch_id = $1), \
                (SELECT count(*) FROM registration_batch_items WHERE batch_id = $1), \
                (SELECT count(*) FROM registration_batches), \
                (SELECT count(*) FROM registration_requests)",
    )
    .bind(batch_id)
    .fetch_one(&stack.db)
    .await
    .unwrap()
}

/// Polls the batch (as its partner) until no item is pending.
async fn settled_batch(stack: &Stack, batch_id: Uuid, key: &str) -> Value {
    let path = format!("{BATCHES}/{batch_id}?limit=1");
    eventually("the batch to settle", SETTLE, || async {
        let (code, body) = get_as(stack, &path, Some(key)).await;
        assert_eq!(code, 200, "{body}");
        (body["data"]["counts"]["pending"] == 0).then(|| body["data"].clone())
    })
    .await
}

#[tokio::test]
async fn a_batch_of_500_with_20_invalid_is_answered_inline_settles_and_replays_the_same() {
    let stack = Stack::start_with(StackOptions {
        env: vec![("BCRYPT_ROUNDS", "4".into())],
    })
    .await;
    let receiver = Receiver::start().await;
    let key = partner_key(&stack, "Acme Health").await;
    endpoint(&stack, &key, &receiver.url(), &["batch.completed"]).await;
    let (batch, bodies) = mixed_batch();
    let headers = [
        ("x-api-key", key.as_str()),
        ("idempotency-key", "batch-0001"),
    ];

    let (code, answer_headers, text) = submit(&stack, &batch, &headers).await;
    assert_eq!(code, 202, "{text}");
    let answer = json_of(&text);
    let data = &answer["data"];
    let batch_id: Uuid = data["batch_id"].as_str().unwrap().parse().unwrap();
    let status_url = format!("{BATCHES}/{batch_id}");
    assert_eq!(data["status_url"], status_url.as_str());
    assert_eq!(answer_headers["location"], status_url.as_str());
    assert!(!answer_headers.contains_key("idempotent-replayed"));
    let items = data["items"].as_array().unwrap();
    assert_eq!(items.len(), 500);
    let mut request_ids = Vec::new();
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item["client_ref"], format!("row-{i}"), "order kept");
        if i % 25 == 3 {
            // Exactly what a single registration of the same body answers.
            let single = stack.register(&bodies[i]).await;
            assert_eq!(single.status(), 422);
            let single: Value = single.json().await.unwrap();
            assert_eq!(
                item,
                &json!({"client_ref": format!("row-{i}"), "errors": single["errors"]})
            );
        } else {
            let id = item["request_id"].as_str().unwrap().to_owned();
            assert_eq!(
                item["status_url"],
                format!("/api/v1/patient/registrations/{id}")
            );
            assert_eq!(item.as_object().unwrap().len(), 3, "{item}");
            request_ids.push(id);
        }
    }
    assert_eq!(request_ids.len(), 480);
    let before = rows(&stack, batch_id).await;
    assert_eq!(before, (480, 500, 1, 480));

    // The same key and body: the same answer, byte for byte, and nothing new.
    let (code, replay_headers, replayed) = submit(&stack, &batch, &headers).await;
    assert_eq!(code, 202);
    assert_eq!(replayed, text);
    assert_eq!(replay_headers["idempotent-replayed"], "true");
    assert_eq!(rows(&stack, batch_id).await, before);
    // The same key with another body: refused.
    let mut other = batch.clone();
    other["items"].as_array_mut().unwrap().pop();
    let (code, _, refused) = submit(&stack, &other, &headers).await;
    assert_eq!(code, 422, "{refused}");
    assert_eq!(
        json_of(&refused)["errors"],
        json!({"Idempotency-Key": ["This Idempotency-Key was already used with a different request payload"]})
    );

    // Every accepted item completes; the batch says so, item by item.
    let settled = settled_batch(&stack, batch_id, &key).await;
    assert_eq!(
        settled["counts"],
        json!({"pending": 0, "completed": 480, "rejected": 0, "failed": 0, "invalid": 20})
    );
    assert_eq!(settled["total"], 500);
    let mut listed = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("{status_url}?limit=200{cursor}");
        let (code, page) = get_as(&stack, &path, Some(&key)).await;
        assert_eq!(code, 200, "{page}");
        listed.extend(page["data"]["items"].as_array().unwrap().iter().cloned());
        match page["data"]["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(listed.len(), 500);
    for (i, (item, answered)) in listed.iter().zip(items).enumerate() {
        assert_eq!(item["client_ref"], format!("row-{i}"));
        if i % 25 == 3 {
            assert_eq!(item["status"], "invalid");
            assert_eq!(item["errors"], answered["errors"]);
        } else {
            assert_eq!(item["status"], "completed", "{item}");
            assert_eq!(item["request_id"], answered["request_id"]);
        }
    }
    let patients: i64 = sqlx::query_scalar("SELECT count(*) FROM patients")
        .fetch_one(&stack.db)
        .await
        .unwrap();
    assert_eq!(patients, 480, "one patient per accepted item");

    // Each item's status URL, with the partner's key (and only with it).
    let item_url = items[0]["status_url"].as_str().unwrap();
    let (code, item) = get_as(&stack, item_url, Some(&key)).await;
    assert_eq!((code, &item["data"]["status"]), (200, &json!("completed")));
    assert_eq!(get_as(&stack, item_url, None).await.0, 404);

    // Another partner sees nothing of it: the same 404 as an unknown batch.
    let other_key = partner_key(&stack, "Other Health").await;
    let (code, theirs) = get_as(&stack, &status_url, Some(&other_key)).await;
    let unknown = format!("{BATCHES}/{}", Uuid::new_v4());
    let (unknown_code, nobody) = get_as(&stack, &unknown, Some(&key)).await;
    assert_eq!((code, unknown_code), (404, 404));
    assert_eq!(theirs, nobody);

    // batch.completed, once, with the counts.
    let delivered = receiver.wait_for(1, SETTLE).await;
    let payload = delivered[0].json();
    assert_eq!(payload["type"], "batch.completed");
    assert_eq!(
        payload["data"],
        json!({"status": "completed", "batch_id": batch_id,
               "counts": {"total": 500, "completed": 480, "rejected": 0, "failed": 0, "invalid": 20}})
    );
    // Every outcome is handled by now, so no other batch.completed can come.
    outcomes_handled(&stack, 480).await;
    eventually(
        "batch.completed to be recorded delivered",
        SETTLE,
        || async {
            let delivered = count(
            &stack,
            "SELECT count(*) FROM webhook_deliveries WHERE event_id = $1 AND status = 'delivered'",
            batch_id,
        )
        .await;
            (delivered == 1).then_some(())
        },
    )
    .await;
    assert_eq!(receiver.received().len(), 1, "batch.completed is told once");
    let deliveries = count(
        &stack,
        "SELECT count(*) FROM webhook_deliveries WHERE event_id = $1",
        batch_id,
    )
    .await;
    assert_eq!(deliveries, 1);
}
