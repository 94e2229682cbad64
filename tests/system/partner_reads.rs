//! What a partner reads: its own registrations' status URLs (nobody
//! else's), contact details only for a while after settling, and a listing
//! that pages without skipping or repeating while registrations arrive.

use std::{collections::HashSet, time::Duration};

use e2e::{
    eventually,
    partner::{create_partner, get_as, register_as},
    unique_example, Stack, StackOptions,
};
use serde_json::Value;

async fn settled_as(stack: &Stack, key: &str, id: &str) -> Value {
    let path = format!("/api/v1/patient/registrations/{id}");
    eventually("the request to settle", Duration::from_secs(60), || async {
        let (status, body) = get_as(stack, &path, Some(key)).await;
        assert_eq!(status, 200, "{body}");
        (body["data"]["status"] != "pending").then(|| body["data"].clone())
    })
    .await
}

#[tokio::test]
async fn a_partner_s_registration_is_read_only_with_its_key() {
    let stack = Stack::start().await;
    let (alpha, _) = create_partner(&stack, "Alpha").await;
    let (beta, _) = create_partner(&stack, "Beta").await;
    let id = register_as(&stack, &alpha, &unique_example()).await;
    let data = settled_as(&stack, &alpha, &id).await;
    assert_eq!(data["status"], "completed");
    assert!(
        data["email"].is_string() && data["phone_number"].is_string(),
        "{data}"
    );

    let path = format!("/api/v1/patient/registrations/{id}");
    let (unknown_status, unknown) = get_as(
        &stack,
        &format!("/api/v1/patient/registrations/{}", uuid::Uuid::new_v4()),
        None,
    )
    .await;
    assert_eq!(unknown_status, 404);
    for key in [None, Some(beta.as_str())] {
        let (status, body) = get_as(&stack, &path, key).await;
        assert_eq!((status, &body), (404, &unknown), "read with {key:?}");
    }
    assert_eq!(get_as(&stack, &path, Some("pk_not_a_key")).await.0, 401);

    // A self-registration stays readable by id, with or without a key.
    let own = stack.register_accepted(&unique_example()).await;
    let own_path = format!("/api/v1/patient/registrations/{own}");
    assert_eq!(get_as(&stack, &own_path, None).await.0, 200);
    assert_eq!(get_as(&stack, &own_path, Some(&beta)).await.0, 200);
}

#[tokio::test]
async fn contact_details_leave_the_status_after_status_contact_ttl() {
    let stack = Stack::start_with(StackOptions {
        env: vec![("STATUS_CONTACT_TTL", "2s".into())],
    })
    .await;
    let (key, _) = create_partner(&stack, "Alpha").await;
    let id = register_as(&stack, &key, &unique_example()).await;
    let data = settled_as(&stack, &key, &id).await;
    assert!(data["email"].is_string(), "{data}");
    let path = format!("/api/v1/patient/registrations/{id}");
    let later = eventually(
        "the contact details to expire",
        Duration::from_secs(30),
        || async {
            let (_, body) = get_as(&stack, &path, Some(&key)).await;
            body["data"]
                .get("email")
                .is_none()
                .then(|| body["data"].clone())
        },
    )
    .await;
    assert!(later.get("phone_number").is_none(), "{later}");
    assert_eq!(later["status"], "completed");
    assert!(later["patient_id"].is_string() && later["request_id"] == id.as_str());
}

/// Every page of `GET /api/v1/partner/registrations?{query}` from the
/// first, registering `between` more after each page.
async fn all_pages(stack: &Stack, key: &str, query: &str, between: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 1.. {
        assert!(page <= 100, "the cursor never ends");
        let mut path = format!("/api/v1/partner/registrations?{query}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let (status, body) = get_as(stack, &path, Some(key)).await;
        assert_eq!(status, 200, "{body}");
        items.extend(body["data"]["items"].as_array().unwrap().iter().cloned());
        for _ in 0..between {
            register_as(stack, key, &unique_example()).await;
        }
        match body["data"]["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
    unreachable!("the pages above end or fail")
}

#[tokio::test]
async fn the_listing_pages_newest_first_without_skips_or_repeats() {
    let stack = Stack::start().await;
    let (alpha, _) = create_partner(&stack, "Alpha").await;
    let (beta, _) = create_partner(&stack, "Beta").await;
    let mut mine = Vec::new();
    for _ in 0..7 {
        mine.push(register_as(&stack, &alpha, &unique_example()).await);
    }
    register_as(&stack, &beta, &unique_example()).await;
    stack.register_accepted(&unique_example()).await;

    // Pages of 3 while two more arrive after each page.
    let listed = all_pages(&stack, &alpha, "limit=3", 2).await;
    let ids: Vec<&str> = listed
        .iter()
        .map(|i| i["request_id"].as_str().unwrap())
        .collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "an item was repeated: {ids:?}");
    let newest_first: Vec<&str> = mine.iter().rev().map(String::as_str).collect();
    assert_eq!(
        ids, newest_first,
        "exactly the 7 that existed, newest first"
    );
    for item in &listed {
        assert!(
            item.get("email").is_none() && item.get("phone_number").is_none(),
            "{item}"
        );
        let id = item["request_id"].as_str().unwrap();
        assert_eq!(
            item["status_url"],
            format!("/api/v1/patient/registrations/{id}")
        );
    }

    // Another partner sees only its own; no key, nothing.
    let (status, body) = get_as(&stack, "/api/v1/partner/registrations", Some(&beta)).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        get_as(&stack, "/api/v1/partner/registrations", None)
            .await
            .0,
        401
    );

    let (status, body) = get_as(
        &stack,
        "/api/v1/partner/registrations?status=done&limit=0&since=yesterday&cursor=zzz",
        Some(&alpha),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let named: Vec<&String> = body["errors"].as_object().unwrap().keys().collect();
    assert_eq!(named, ["cursor", "limit", "since", "status"]);
}

#[tokio::test]
async fn the_listing_filters_by_status_and_time() {
    let stack = Stack::start().await;
    let (key, _) = create_partner(&stack, "Alpha").await;
    let first = register_as(&stack, &key, &unique_example()).await;
    settled_as(&stack, &key, &first).await;
    // The same email again: rejected.
    let mut twin = unique_example();
    let (_, body) = get_as(
        &stack,
        &format!("/api/v1/patient/registrations/{first}"),
        Some(&key),
    )
    .await;
    twin["email"] = body["data"]["email"].clone();
    let rejected = register_as(&stack, &key, &twin).await;
    assert_eq!(
        settled_as(&stack, &key, &rejected).await["status"],
        "rejected"
    );

    let (_, body) = get_as(
        &stack,
        "/api/v1/partner/registrations?status=rejected",
        Some(&key),
    )
    .await;
    let items = body["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{body}");
    assert_eq!(items[0]["request_id"], rejected.as_str());
    assert_eq!(
        items[0]["errors"]["email"][0],
        "Email is already registered"
    );

    let future = "2999-01-01T00:00:00Z";
    let (_, body) = get_as(
        &stack,
        &format!("/api/v1/partner/registrations?since={future}"),
        Some(&key),
    )
    .await;
    assert_eq!(body["data"]["items"], serde_json::json!([]));
    let (_, body) = get_as(
        &stack,
        &format!("/api/v1/partner/registrations?until={future}"),
        Some(&key),
    )
    .await;
    assert_eq!(body["data"]["items"].as_array().unwrap().len(), 2);
}
