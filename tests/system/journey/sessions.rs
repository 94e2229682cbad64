//! Sessions: refresh and its reuse detection, logout, expiry, and a
//! password changed from inside one (with the lockout it counts towards).

use e2e::{
    accounts::{login, nth_email, post, profile, PASSWORD},
    Stack,
};
use serde_json::json;

use super::{authed, forgot, patient, refresh, reset, session, NEW_PASSWORD};

#[tokio::test]
async fn an_expired_reset_link_and_an_expired_refresh_token_are_refused() {
    let stack = Stack::start().await;
    let (_, address) = patient(&stack).await;
    let (_, refresh_token) = session(&stack, &address, PASSWORD).await;
    assert_eq!(forgot(&stack, &address).await.0, 202);
    let token = nth_email(&address, 2).await.token().unwrap();
    for table in ["password_reset_tokens", "refresh_tokens"] {
        sqlx::query(&format!(
            "UPDATE {table} SET expires_at = now() - interval '1 second'"
        ))
        .execute(&stack.db)
        .await
        .unwrap();
    }
    assert_eq!(
        reset(&stack, &token, NEW_PASSWORD, NEW_PASSWORD).await.0,
        400
    );
    assert_eq!(refresh(&stack, &refresh_token).await.0, 401);
    assert_eq!(
        login(&stack, &address, PASSWORD).await.0,
        200,
        "the password is unchanged"
    );
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_refresh_token_ends_its_session() {
    let stack = Stack::start().await;
    let (patient_id, address) = patient(&stack).await;
    let (first_access, first_refresh) = session(&stack, &address, PASSWORD).await;
    let (other_access, _) = session(&stack, &address, PASSWORD).await;

    let (status, body) = refresh(&stack, &first_refresh).await;
    assert_eq!(status, 200, "{body}");
    let next_access = body["data"]["access_token"].as_str().unwrap().to_owned();
    let next_refresh = body["data"]["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(next_refresh, first_refresh);
    assert_eq!(body["data"]["patient_id"], json!(patient_id));
    assert_eq!(
        profile(&stack, &patient_id, Some(&next_access)).await.0,
        200
    );

    // Two exchanges of one token at once: one wins, the other is reuse.
    let (_, racing) = session(&stack, &address, PASSWORD).await;
    let (first, second) = tokio::join!(refresh(&stack, &racing), refresh(&stack, &racing));
    let mut statuses = [first.0.as_u16(), second.0.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401]);
    let winner = if first.0 == 200 { first.1 } else { second.1 };
    let winner_refresh = winner["data"]["refresh_token"].as_str().unwrap();
    assert_eq!(
        refresh(&stack, winner_refresh).await.0,
        401,
        "the session ended"
    );

    // The rotated token again: someone else holds it. The session ends.
    assert_eq!(refresh(&stack, &first_refresh).await.0, 401);
    for access in [&first_access, &next_access] {
        assert_eq!(profile(&stack, &patient_id, Some(access)).await.0, 401);
    }
    assert_eq!(refresh(&stack, &next_refresh).await.0, 401);
    // Another session of the patient goes on.
    assert_eq!(
        profile(&stack, &patient_id, Some(&other_access)).await.0,
        200
    );

    for (body, status) in [
        (json!({"refresh_token": "unknown"}), 401),
        (json!({"refresh_token": ""}), 422),
        (json!({}), 422),
    ] {
        assert_eq!(
            post(&stack, "/api/v1/patient/token/refresh", body.clone())
                .await
                .0,
            status,
            "{body}"
        );
    }
    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT outcome FROM audit_log WHERE action = 'token_refresh' AND patient_id = $1::uuid ORDER BY id",
    )
    .bind(&patient_id)
    .fetch_all(&stack.db)
    .await
    .unwrap();
    assert_eq!(
        audited,
        [
            "success",
            "success",
            "reuse_detected",
            "invalid_token",
            "reuse_detected",
            "invalid_token",
        ]
    );
}

#[tokio::test]
async fn logout_ends_the_session_at_once() {
    let stack = Stack::start().await;
    let (patient_id, address) = patient(&stack).await;
    let (access, refresh_token) = session(&stack, &address, PASSWORD).await;
    let (other_access, _) = session(&stack, &address, PASSWORD).await;

    let (status, body) = authed(&stack, "/api/v1/patient/logout", &access, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(profile(&stack, &patient_id, Some(&access)).await.0, 401);
    assert_eq!(refresh(&stack, &refresh_token).await.0, 401);
    assert_eq!(
        authed(&stack, "/api/v1/patient/logout", &access, json!({}))
            .await
            .0,
        401
    );
    assert_eq!(
        profile(&stack, &patient_id, Some(&other_access)).await.0,
        200
    );
}

#[tokio::test]
async fn change_password_keeps_this_session_and_ends_the_others() {
    let stack = Stack::start().await;
    let (patient_id, address) = patient(&stack).await;
    let (access, refresh_token) = session(&stack, &address, PASSWORD).await;
    let (other_access, other_refresh) = session(&stack, &address, PASSWORD).await;
    let change = |current: &str, new: &str, confirm: &str| json!({"current_password": current, "new_password": new, "confirm_password": confirm});
    let path = "/api/v1/patient/change-password";

    let (status, body) = authed(
        &stack,
        path,
        &access,
        change("WrongPassword1!", NEW_PASSWORD, NEW_PASSWORD),
    )
    .await;
    assert_eq!(
        (status.as_u16(), body["message"].as_str()),
        (401, Some("Current password is incorrect"))
    );
    let (status, body) = authed(
        &stack,
        path,
        &access,
        change(PASSWORD, "alllowercase1!", "alllowercase1!"),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["errors"],
        json!({"new_password": ["Password must contain an uppercase letter"]})
    );
    let (status, body) = authed(
        &stack,
        path,
        "not.a.token",
        change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD),
    )
    .await;
    assert_eq!(status, 401, "{body}");

    let (status, body) = authed(
        &stack,
        path,
        &access,
        change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let new_access = body["data"]["access_token"].as_str().unwrap().to_owned();

    // This session goes on with the new access token and its refresh token;
    // its earlier access token, and the other session, end at once.
    assert_eq!(profile(&stack, &patient_id, Some(&new_access)).await.0, 200);
    assert_eq!(profile(&stack, &patient_id, Some(&access)).await.0, 401);
    assert_eq!(
        profile(&stack, &patient_id, Some(&other_access)).await.0,
        401
    );
    assert_eq!(refresh(&stack, &other_refresh).await.0, 401);
    assert_eq!(refresh(&stack, &refresh_token).await.0, 200);

    assert_eq!(login(&stack, &address, PASSWORD).await.0, 401);
    session(&stack, &address, NEW_PASSWORD).await;
    let notice = nth_email(&address, 2).await;
    assert_eq!(notice.subject, "Your password was changed");
}

#[tokio::test]
async fn wrong_current_passwords_count_towards_the_lockout() {
    let stack = Stack::start().await;
    let (_, address) = patient(&stack).await;
    let (access, _) = session(&stack, &address, PASSWORD).await;
    let change = json!({"current_password": "WrongPassword1!", "new_password": NEW_PASSWORD,
                        "confirm_password": NEW_PASSWORD});
    for _ in 0..5 {
        let (status, body) = authed(
            &stack,
            "/api/v1/patient/change-password",
            &access,
            change.clone(),
        )
        .await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, body) = authed(&stack, "/api/v1/patient/change-password", &access, change).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        login(&stack, &address, PASSWORD).await.0,
        429,
        "the login lockout is the same"
    );
}
