//! Bodies and routes that never reach a handler's logic: every refusal in
//! the envelope, every field named.

use super::*;

#[tokio::test]
async fn unknown_routes_and_methods_are_answered_in_the_envelope() {
    let app = app().await;
    let cases = [
        (
            Request::get("/nope").body(Body::empty()).unwrap(),
            404,
            "Route not found",
        ),
        (
            Request::get(REGISTER).body(Body::empty()).unwrap(),
            405,
            "Method not allowed",
        ),
        (
            Request::delete("/api/v1/patient/login")
                .body(Body::empty())
                .unwrap(),
            405,
            "Method not allowed",
        ),
    ];
    for (request, status, message) in cases {
        let answer = send(app.clone(), request).await;
        assert_error(&answer, status, message, &json!({}));
    }
}

#[tokio::test]
async fn bodies_that_are_not_json_are_refused_before_any_handler_runs() {
    let app = app().await;
    let too_large = format!("{{\"x\": \"{}\"}}", "a".repeat(65 * 1024));
    for route in JSON_ROUTES {
        let cases = [
            (
                post(route, None, "{}"),
                415,
                "Content-Type must be application/json",
            ),
            (
                post(route, Some("text/plain"), "{}"),
                415,
                "Content-Type must be application/json",
            ),
            (
                post(route, Some("application/json"), too_large.clone()),
                413,
                "Request body is too large (at most 64 KiB)",
            ),
            (
                post(route, Some("application/json"), "{\"a\":\n  ?}"),
                400,
                "Malformed JSON: expected value at line 2 column 3",
            ),
        ];
        for (request, status, message) in cases {
            let answer = send(app.clone(), request).await;
            assert_error(&answer, status, message, &json!({}));
        }
    }
}

#[tokio::test]
async fn small_bodies_name_every_missing_or_wrong_field() {
    let app = app().await;
    let cases = [
        (
            LOGIN,
            json!({}),
            json!({"email": ["Email is required"], "password": ["Password is required"]}),
        ),
        (
            LOGIN,
            json!({"email": 5, "password": "  "}),
            json!({"email": ["Email must be a string"], "password": ["Password is required"]}),
        ),
        (
            VERIFY,
            json!({"token": null}),
            json!({"token": ["Token is required"]}),
        ),
        (RESEND, json!({}), json!({"email": ["Email is required"]})),
        (
            RESEND,
            json!({"email": "not-an-email"}),
            json!({"email": ["Email is not a valid email address"]}),
        ),
        (
            LOGIN,
            json!(["a", "list"]),
            json!({"email": ["Email is required"], "password": ["Password is required"]}),
        ),
        (
            VERIFY,
            json!("a string"),
            json!({"token": ["Token is required"]}),
        ),
    ];
    for (route, body, errors) in cases {
        let answer = send(app.clone(), post_json(route, &body)).await;
        assert_error(&answer, 422, "Validation failed", &errors);
    }
}

#[tokio::test]
async fn a_registration_gets_every_field_error_at_once() {
    let mut body = shared::domain::registration_example();
    body["email"] = json!("nope");
    body["confirm_password"] = json!("Different123!");
    body["address"]["zip"] = json!("ABC");
    body["surprise"] = json!(true);
    let answer = send(app().await, post_json(REGISTER, &body)).await;
    assert_error(
        &answer,
        422,
        "Validation failed",
        &json!({
            "email": ["Email is not a valid email address"],
            "confirm_password": ["Passwords do not match"],
            "address.zip": ["ZIP code is not valid for US"],
            "surprise": ["Unknown field"],
        }),
    );
}

#[tokio::test]
async fn a_malformed_idempotency_key_is_refused() {
    let mut request = post_json(REGISTER, &shared::domain::registration_example());
    request
        .headers_mut()
        .insert("idempotency-key", "tab\there".parse().unwrap());
    let answer = send(app().await, request).await;
    assert_error(
        &answer,
        400,
        "Idempotency-Key must be 1 to 255 printable ASCII characters",
        &json!({}),
    );
}
