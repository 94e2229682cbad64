//! A batch refused whole: for its caller, its Idempotency-Key, its size
//! or its structure.

use super::*;

#[tokio::test]
async fn a_batch_is_refused_whole_for_its_caller_its_key_its_size_or_its_structure() {
    let stack = Stack::start_with(StackOptions {
        env: vec![("REGISTER_RATE_LIMIT_PER_PARTNER", "30".into())],
    })
    .await;
    let key = partner_key(&stack, "Acme Health").await;
    let item = |r: &str| {
        let mut item = unique_example();
        item["client_ref"] = json!(r);
        item
    };
    let one = json!({"items": [item("a")]});
    let with_key = [("x-api-key", key.as_str()), ("idempotency-key", "k-1")];

    let (code, headers, _) = submit(&stack, &one, &[("idempotency-key", "k-1")]).await;
    assert_eq!(code, 401);
    assert_eq!(headers["www-authenticate"], "Bearer");
    assert_eq!(
        submit(
            &stack,
            &one,
            &[("x-api-key", "pk_wrong"), ("idempotency-key", "k")]
        )
        .await
        .0,
        401
    );
    let (code, _, text) = submit(&stack, &one, &[("x-api-key", key.as_str())]).await;
    assert_eq!(code, 400);
    assert!(json_of(&text)["message"]
        .as_str()
        .unwrap()
        .starts_with("Idempotency-Key is required"));
    let (code, _, text) = submit(
        &stack,
        &one,
        &[("x-api-key", key.as_str()), ("idempotency-key", "")],
    )
    .await;
    assert_eq!(code, 400, "{text}");

    let many: Vec<Value> = (0..501)
        .map(|i| json!({"client_ref": format!("r{i}")}))
        .collect();
    let (code, _, text) = submit(&stack, &json!({"items": many}), &with_key).await;
    assert_eq!(code, 422);
    assert_eq!(
        json_of(&text)["errors"],
        json!({"items": ["Items must hold at most 500 registrations"]})
    );
    let twice = json!({"items": [item("a"), item("b"), item("a"), 5]});
    let (code, _, text) = submit(&stack, &twice, &with_key).await;
    assert_eq!(code, 422);
    assert_eq!(
        json_of(&text)["errors"],
        json!({"items[2].client_ref": ["Client ref is already used by an earlier item"],
               "items[3]": ["Each item must be a JSON object"]})
    );
    let huge = json!({"items": [{"client_ref": "a", "first_name": "x".repeat(4 * 1024 * 1024)}]});
    let (code, _, text) = submit(&stack, &huge, &with_key).await;
    assert_eq!(code, 413);
    assert_eq!(
        json_of(&text)["message"],
        "Request body is too large (at most 4 MiB)"
    );
    let response = stack
        .http
        .post(format!("{}{BATCHES}", stack.base_url))
        .header("x-api-key", &key)
        .header("idempotency-key", "k-1")
        .header("content-type", "text/plain")
        .body(one.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    // Nothing of this was recorded, and the key is still free.
    let batches: i64 = sqlx::query_scalar("SELECT count(*) FROM registration_batches")
        .fetch_one(&stack.db)
        .await
        .unwrap();
    assert_eq!(batches, 0);
    let (code, _, text) = submit(&stack, &one, &with_key).await;
    assert_eq!(code, 202, "{text}");
    let (code, body) = get_as(
        &stack,
        &format!("{BATCHES}/{}?cursor=nope", Uuid::new_v4()),
        Some(&key),
    )
    .await;
    assert_eq!(
        (code, &body["errors"]["cursor"]),
        (422, &json!(["Cursor is not one this API returned"]))
    );
    assert_eq!(
        get_as(&stack, &format!("{BATCHES}/not-a-uuid"), Some(&key))
            .await
            .0,
        404
    );
    assert_eq!(
        get_as(&stack, &format!("{BATCHES}/{}", Uuid::new_v4()), None)
            .await
            .0,
        401
    );

    // A batch counts as its items against the partner's rate limit (30 a
    // minute here; the requests above took seven): the rest of them all at
    // once, or none.
    let items: Vec<Value> = (0..29).map(|i| item(&format!("r{i}"))).collect();
    let headers = [("x-api-key", key.as_str()), ("idempotency-key", "k-2")];
    let (code, answer, _) = submit(&stack, &json!({"items": items}), &headers).await;
    assert_eq!(code, 429);
    assert!(answer.contains_key("retry-after"));
    let headers = [("x-api-key", key.as_str()), ("idempotency-key", "k-3")];
    let (code, _, text) = submit(&stack, &json!({"items": [item("z")]}), &headers).await;
    assert_eq!(
        code, 202,
        "the refused batch took only its first token: {text}"
    );
}
