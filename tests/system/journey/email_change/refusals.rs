//! What an email change refuses (a wrong password, bad input, a fourth
//! request in an hour), and what cancels one (a password change).

use super::*;

#[tokio::test]
async fn change_email_refuses_a_wrong_password_bad_input_and_a_fourth_request_in_an_hour() {
    let stack = Stack::start().await;
    let (patient_id, old) = patient(&stack).await;
    let (_, taken) = patient(&stack).await;
    let (access, _) = session(&stack, &old, PASSWORD).await;

    let unwanted = fresh_address();
    let (status, body) = change(&stack, &access, &unwanted, "WrongPassword1!").await;
    assert_eq!(
        (status.as_u16(), &body),
        (
            401,
            &json!({"success": false, "message": "Current password is incorrect", "errors": {}})
        )
    );
    let (status, _) = post(
        &stack,
        CHANGE,
        json!({"new_email": unwanted, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 401, "no access token");

    let refusals = [
        (
            json!({}),
            json!({"new_email": ["Email is required"], "password": ["Password is required"]}),
        ),
        (
            json!({"new_email": "not-an-email", "password": PASSWORD}),
            json!({"new_email": ["Email is not a valid email address"]}),
        ),
        (
            json!({"new_email": 5, "password": PASSWORD}),
            json!({"new_email": ["Email must be a string"]}),
        ),
        (
            json!({"new_email": old.to_uppercase(), "password": PASSWORD}),
            json!({"new_email": ["New email must be different from your current email"]}),
        ),
        (
            json!({"new_email": taken, "password": PASSWORD}),
            json!({"new_email": ["Email is already registered"]}),
        ),
    ];
    for (request, errors) in refusals {
        let (status, body) = authed(&stack, CHANGE, &access, request.clone()).await;
        assert_eq!(status, 422, "{request}: {body}");
        assert_eq!(body["success"], false);
        assert_eq!(body["errors"], errors, "{request}");
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM email_changes")
        .fetch_one(&stack.db)
        .await
        .unwrap();
    assert_eq!(rows, 0, "a refused request left a pending change");

    // Three an hour; each request revokes the links before it.
    let addresses = [fresh_address(), fresh_address(), fresh_address()];
    let mut tokens = Vec::new();
    for address in &addresses {
        let (status, body) = change(&stack, &access, address, PASSWORD).await;
        assert_eq!(status, 202, "{body}");
        tokens.push(link_token(address, 1).await);
    }
    let response = stack
        .http
        .post(format!("{}{CHANGE}", stack.base_url))
        .bearer_auth(&access)
        .json(&json!({"new_email": fresh_address(), "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3000..=3600).contains(&wait), "Retry-After: {wait}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["message"],
        "Too many email change requests. Please try again later."
    );
    // Three notices to the old address, beside its verification email.
    nth_email(&old, 4).await;

    let (status, _) = post(&stack, CONFIRM, json!({"token": tokens[0]})).await;
    assert_eq!(status, 400, "a revoked link");
    let (status, body) = post(&stack, CONFIRM, json!({"token": tokens[2]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!({"patient_id": patient_id, "email_verified": true})
    );
    assert_eq!(owners(&stack, &addresses[2]).await, [patient_id.as_str()]);

    // Nothing ever went to the address asked for with a wrong password.
    assert!(Inbox::from_env().to(&unwanted).await.is_empty());
    let audited = audited(&stack, &patient_id).await;
    let outcomes: Vec<&str> = audited
        .iter()
        .filter(|(action, _)| action == "email_change_request")
        .map(|(_, outcome)| outcome.as_str())
        .collect();
    assert_eq!(
        outcomes,
        [
            "invalid_credentials",
            "same_email",
            "email_taken",
            "sent",
            "sent",
            "sent",
            "too_many"
        ]
    );
}

#[tokio::test]
async fn a_password_change_cancels_a_pending_email_change() {
    let stack = Stack::start().await;
    let (patient_id, old) = patient(&stack).await;
    let (access, _) = session(&stack, &old, PASSWORD).await;
    let new = fresh_address();
    assert_eq!(change(&stack, &access, &new, PASSWORD).await.0, 202);
    let token = link_token(&new, 1).await;

    // The notice's advice: whoever asked with the old password cannot
    // finish the change once the password is changed.
    let (status, body) = authed(
        &stack,
        "/api/v1/patient/change-password",
        &access,
        json!({"current_password": PASSWORD, "new_password": super::super::NEW_PASSWORD,
               "confirm_password": super::super::NEW_PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(&stack, CONFIRM, json!({"token": token})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(owners(&stack, &old).await, [patient_id]);
    assert!(owners(&stack, &new).await.is_empty());
}
