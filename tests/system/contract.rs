//! The registration contract end to end: concurrency (duplicates, and rows
//! recorded before their 202), the synchronous mode, and bad input that
//! must never be a panic or a 500.

#![allow(clippy::unwrap_used)]

use std::{collections::HashMap, time::Duration};

use e2e::{eventually, unique_example, Service, Stack};
use futures_util::future::join_all;
use serde_json::{json, Value};

/// Sends `bodies` at once and returns each final status.
async fn settle_all(stack: &Stack, bodies: Vec<Value>) -> Vec<Value> {
    let ids = join_all(bodies.iter().map(|b| stack.register_accepted(b))).await;
    join_all(ids.iter().map(|id| stack.settled(id))).await
}

fn count_by_status(finals: &[Value]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for f in finals {
        *counts
            .entry(f["status"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    counts
}

/// Twenty concurrent registrations whose `field` is one value, alternately
/// written as `writings.0` and `writings.1`: one completes, the others are
/// rejected with `message` on that field.
async fn twenty_with_one_value(field: &str, writings: (String, String), message: &str) {
    let stack = Stack::start().await;
    let bodies = (0..20)
        .map(|i| {
            let mut body = unique_example();
            let written = if i % 2 == 0 { &writings.0 } else { &writings.1 };
            body[field] = json!(written);
            body
        })
        .collect();
    let finals = settle_all(&stack, bodies).await;
    let counts = count_by_status(&finals);
    assert_eq!(counts.get("completed"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("rejected"), Some(&19), "{counts:?}");
    for f in finals.iter().filter(|f| f["status"] == "rejected") {
        assert_eq!(f["errors"], json!({ field: [message] }));
    }
}

#[tokio::test]
async fn twenty_concurrent_registrations_with_one_email_make_one_patient() {
    let email = unique_example()["email"].as_str().unwrap().to_owned();
    twenty_with_one_value(
        "email",
        (email.to_uppercase(), email),
        "Email is already registered",
    )
    .await;
}

#[tokio::test]
async fn twenty_concurrent_registrations_with_one_phone_make_one_patient() {
    let phone = unique_example()["phone_number"]
        .as_str()
        .unwrap()
        .to_owned();
    // The same number, written with and without '+'.
    let digits = phone.trim_start_matches('+').to_owned();
    twenty_with_one_value(
        "phone_number",
        (phone, digits),
        "Phone number is already registered",
    )
    .await;
}

#[tokio::test]
async fn every_concurrently_accepted_request_is_recorded_before_its_202() {
    // intake-api writes the rows of concurrent requests in shared batches
    // (group commit): each 202 must still mean that request's row is there.
    let mut stack = Stack::start().await;
    stack.stop(Service::Registration).await;
    let bodies: Vec<_> = (0..64).map(|_| unique_example()).collect();
    // Each status is read as soon as its 202 arrives, while others are in flight.
    join_all(bodies.iter().map(|b| async {
        let id = stack.register_accepted(b).await;
        let (code, json) = stack.status(&id).await;
        assert_eq!(
            (code, json["data"]["status"].as_str()),
            (200, Some("pending")),
            "{id}"
        );
    }))
    .await;
    let pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM registration_requests WHERE status = 'pending'")
            .fetch_one(&stack.db)
            .await
            .unwrap();
    assert_eq!(pending, 64);
}

async fn register_waiting(stack: &Stack, body: &Value, wait: &str) -> reqwest::Response {
    stack.register_with(body, &[("prefer", wait)]).await
}

#[tokio::test]
async fn prefer_wait_answers_201_then_422_exactly_as_the_synchronous_api() {
    let stack = Stack::start().await;
    let body = unique_example();
    let response = register_waiting(&stack, &body, "wait=30").await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["preference-applied"], "wait=30");
    let json: Value = response.json().await.unwrap();
    let data = &json["data"];
    assert_eq!(json["success"], true);
    assert_eq!(
        json["message"],
        "Patient registered successfully. Verification email sent."
    );
    assert_eq!(data["email"], body["email"]);
    assert_eq!(data["phone_number"], body["phone_number"]);
    assert_eq!(data["email_verified"], false);
    assert_eq!(data["phone_verified"], false);
    assert!(uuid::Uuid::parse_str(data["patient_id"].as_str().unwrap()).is_ok());
    let keys: Vec<&String> = data.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 5, "{keys:?}");

    let mut twin = unique_example();
    twin["email"] = body["email"].clone();
    let response = register_waiting(&stack, &twin, "wait=30").await;
    assert_eq!(response.status(), 422);
    assert_eq!(response.headers()["preference-applied"], "wait=30");
    let json: Value = response.json().await.unwrap();
    assert_eq!(
        json,
        json!({"success": false, "message": "Validation failed", "errors": {"email": ["Email is already registered"]}})
    );
}

#[tokio::test]
async fn prefer_wait_still_answers_202_when_the_outcome_takes_longer() {
    let mut stack = Stack::start().await;
    // Keep the worker busy: the request cannot settle within one second.
    stack.stop(Service::Registration).await;
    let started = std::time::Instant::now();
    let response = register_waiting(&stack, &unique_example(), "wait=1").await;
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["preference-applied"], "wait=1");
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn bad_input_gets_a_clear_answer_and_never_a_500() {
    let stack = Stack::start().await;
    let url = format!("{}/api/v1/patient/register", stack.base_url);
    let post = |body: Vec<u8>, content_type: Option<&'static str>| {
        let mut request = stack.http.post(&url).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        request.send()
    };
    let big = vec![b' '; 65 * 1024];
    let cases: Vec<(Vec<u8>, Option<&str>, u16)> = vec![
        (b"{}".to_vec(), None, 415),
        (b"{}".to_vec(), Some("text/plain"), 415),
        (b"{\"a\": }".to_vec(), Some("application/json"), 400),
        (big, Some("application/json"), 413),
        (b"[]".to_vec(), Some("application/json"), 422),
        (
            b"{\"gender\": 5, \"address\": \"x\", \"ssn\": \"1\"}".to_vec(),
            Some("application/json"),
            422,
        ),
    ];
    let mut json = Value::Null;
    for (body, content_type, want) in cases {
        let response = post(body, content_type).await.unwrap();
        assert_eq!(response.status().as_u16(), want, "{content_type:?}");
        json = response.json().await.unwrap();
        assert_eq!(json["success"], false);
        assert!(json["message"].is_string());
        assert!(json["errors"].is_object());
    }
    // The last case names every wrong, unknown and missing field.
    for field in ["gender", "address", "ssn", "email", "first_name"] {
        assert!(json["errors"][field].is_array(), "{field}: {json}");
    }
}

#[tokio::test]
async fn sql_and_script_content_is_stored_and_returned_verbatim() {
    let stack = Stack::start().await;
    let mut body = unique_example();
    let street = "1 Main St'); DROP TABLE patients;-- <script>alert(1)</script>";
    body["address"]["street"] = json!(street);
    body["address"]["city"] = json!("<b>Zoë</b>");
    body["first_name"] = json!("O'Brien-Zoë");
    let id = stack.register_accepted(&body).await;
    assert_eq!(stack.settled(&id).await["status"], "completed");
    let (first, city, stored): (String, String, String) =
        sqlx::query_as("SELECT first_name, address_city, address_street FROM patients")
            .fetch_one(&stack.db)
            .await
            .unwrap();
    assert_eq!(
        (first.as_str(), city.as_str(), stored.as_str()),
        ("O'Brien-Zoë", "<b>Zoë</b>", street)
    );
}

#[tokio::test]
async fn invalid_registrations_get_422_with_every_field_error_and_enqueue_nothing() {
    let stack = Stack::start().await;
    let mut body = unique_example();
    body["email"] = json!("not-an-email");
    body["password"] = json!("short");
    body["confirm_password"] = json!("different");
    body["date_of_birth"] = json!("2020-01-01");
    let response = stack.register(&body).await;
    assert_eq!(response.status(), 422);
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["success"], false);
    assert_eq!(json["message"], "Validation failed");
    for field in ["email", "password", "confirm_password", "date_of_birth"] {
        assert!(
            json["errors"][field]
                .as_array()
                .is_some_and(|m| !m.is_empty()),
            "{field}: {json}"
        );
    }
    assert!(json["errors"]["password"]
        .as_array()
        .unwrap()
        .contains(&json!("Password must contain at least 8 characters")));
    assert_eq!(
        json["errors"]["date_of_birth"],
        json!(["Must be at least 13 years old"])
    );
    let requests: i64 = sqlx::query_scalar("SELECT count(*) FROM registration_requests")
        .fetch_one(&stack.db)
        .await
        .unwrap();
    assert_eq!(requests, 0);
}

#[tokio::test]
async fn unknown_requests_routes_and_methods_answer_in_the_envelope() {
    let stack = Stack::start().await;
    for (method, path, code) in [
        (
            "GET",
            format!("/api/v1/patient/registrations/{}", uuid::Uuid::new_v4()),
            404,
        ),
        (
            "GET",
            "/api/v1/patient/registrations/not-a-uuid".to_owned(),
            404,
        ),
        ("GET", "/api/v1/nowhere".to_owned(), 404),
        ("GET", "/api/v1/patient/register".to_owned(), 405),
    ] {
        let response = stack
            .http
            .request(method.parse().unwrap(), format!("{}{path}", stack.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), code, "{path}");
        let json: Value = response.json().await.unwrap();
        assert_eq!(json["success"], false, "{path}");
        assert!(
            json["message"].is_string() && json["errors"].is_object(),
            "{path}: {json}"
        );
    }
    let wrong_type = stack
        .http
        .post(format!("{}/api/v1/patient/register", stack.base_url))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 415);
    let malformed = stack
        .http
        .post(format!("{}/api/v1/patient/register", stack.base_url))
        .header("content-type", "application/json")
        .body("{\"first_name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let json: Value = malformed.json().await.unwrap();
    assert!(
        json["message"].as_str().unwrap().contains("line 1"),
        "{json}"
    );
}

mod arbitrary_input {
    use proptest::prelude::*;

    use super::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            ".{0,20}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::hash_map("[a-z_]{1,12}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A body: the example with some fields replaced by arbitrary JSON, or
    /// arbitrary JSON altogether, or arbitrary bytes.
    fn body() -> impl Strategy<Value = Vec<u8>> {
        let fields = prop::sample::select(vec![
            "first_name",
            "email",
            "phone_number",
            "password",
            "date_of_birth",
            "gender",
            "address",
            "emergency_contact",
            "medical_history",
            "insurance_info",
            "extra",
        ]);
        prop_oneof![
            prop::collection::vec((fields, json_value()), 1..4).prop_map(|changes| {
                let mut body = unique_example();
                for (field, value) in changes {
                    body[field] = value;
                }
                serde_json::to_vec(&body).unwrap()
            }),
            json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
            prop::collection::vec(any::<u8>(), 0..64),
        ]
    }

    #[test]
    fn the_handler_answers_every_arbitrary_body_with_a_contract_status() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let stack = runtime.block_on(Stack::start());
        let url = format!("{}/api/v1/patient/register", stack.base_url);
        let config = ProptestConfig {
            cases: 96,
            ..ProptestConfig::default()
        };
        proptest!(config, |(body in body())| {
            let status = runtime.block_on(async {
                stack.http.post(&url).header("content-type", "application/json").body(body).send().await.unwrap().status()
            });
            prop_assert!([202, 400, 413, 415, 422].contains(&status.as_u16()), "status {status}");
        });
        // Whatever was accepted settles: nothing the validator let through breaks the worker.
        let count = |sql: &'static str| async {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&stack.db)
                .await
                .unwrap()
        };
        let failed = runtime.block_on(async {
            eventually(
                "every accepted body to settle",
                Duration::from_secs(90),
                || async {
                    let pending = count(
                        "SELECT count(*) FROM registration_requests WHERE status = 'pending'",
                    )
                    .await;
                    (pending == 0).then_some(())
                },
            )
            .await;
            count("SELECT count(*) FROM registration_requests WHERE status = 'failed'").await
        });
        assert_eq!(failed, 0);
    }
}
