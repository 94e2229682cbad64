//! Deactivation: the patient's own (`DELETE /api/v1/patient/profile/{id}`
//! with their password) and the operator's (`admin patient deactivate`,
//! `admin patient reactivate`). The record is kept; the sessions end.

use e2e::{
    accounts::{login, nth_email, profile, PASSWORD},
    partner::admin,
    Stack, StackOptions,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{authed, patient, refresh, session, NEW_PASSWORD};

const WRONG: &str = "WrongPassword1!";

/// `DELETE /api/v1/patient/profile/{patient_id}` with `token` (if any) and
/// `body`: status and body.
async fn deactivate(
    stack: &Stack,
    patient_id: &str,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut request = stack
        .http
        .delete(format!(
            "{}/api/v1/patient/profile/{patient_id}",
            stack.base_url
        ))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn is_active(stack: &Stack, patient_id: &str) -> bool {
    sqlx::query_scalar("SELECT is_active FROM patients WHERE id = $1::uuid")
        .bind(patient_id)
        .fetch_one(&stack.db)
        .await
        .unwrap()
}

async fn audited(stack: &Stack, action: &str, patient_id: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT outcome FROM audit_log WHERE action = $1 AND patient_id = $2::uuid ORDER BY id",
    )
    .bind(action)
    .bind(patient_id)
    .fetch_all(&stack.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_patient_deactivates_their_account_with_their_password_and_every_session_ends() {
    let stack = Stack::start().await;
    let (patient_id, address) = patient(&stack).await;
    let (other_id, other_address) = patient(&stack).await;
    let (access, refresh_token) = session(&stack, &address, PASSWORD).await;
    let (second_access, second_refresh) = session(&stack, &address, PASSWORD).await;
    let (other_access, _) = session(&stack, &other_address, PASSWORD).await;

    // A wrong password: answered as change-password answers it; nothing changes.
    let (status, body) = deactivate(
        &stack,
        &patient_id,
        Some(&access),
        json!({"password": WRONG}),
    )
    .await;
    assert_eq!(
        (status.as_u16(), &body),
        (
            401,
            &json!({"success": false, "message": "Current password is incorrect", "errors": {}})
        )
    );
    assert!(is_active(&stack, &patient_id).await);
    assert_eq!(profile(&stack, &patient_id, Some(&access)).await.0, 200);

    // No password, no token, or another patient's token: refused as the
    // profile refuses them.
    for body in [json!({}), json!({"password": ""}), json!({"password": 7})] {
        let (status, answer) = deactivate(&stack, &patient_id, Some(&access), body).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["success"], false);
        assert_eq!(answer["errors"].as_object().unwrap().len(), 1, "{answer}");
        assert!(answer["errors"]["password"].is_array(), "{answer}");
    }
    let right = json!({"password": PASSWORD});
    let (status, answer) = deactivate(&stack, &patient_id, None, right.clone()).await;
    assert_eq!(status, 401, "{answer}");
    let (status, answer) =
        deactivate(&stack, &patient_id, Some(&other_access), right.clone()).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["success"], false);
    assert_eq!(
        profile(&stack, &patient_id, Some(&other_access)).await.0,
        403,
        "the profile answers the same"
    );
    let (status, _) = deactivate(&stack, &other_id, Some(&access), right.clone()).await;
    assert_eq!(status, 403);
    assert!(is_active(&stack, &patient_id).await && is_active(&stack, &other_id).await);

    let (status, body) = deactivate(&stack, &patient_id, Some(&access), right.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"success": true, "message": "Account deactivated",
               "data": {"id": patient_id, "is_active": false}})
    );

    // Every session ended at once; login refused as for any inactive account.
    for token in [&access, &second_access] {
        assert_eq!(profile(&stack, &patient_id, Some(token)).await.0, 401);
    }
    for token in [&refresh_token, &second_refresh] {
        assert_eq!(refresh(&stack, token).await.0, 401);
    }
    let (status, body) = login(&stack, &address, PASSWORD).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        deactivate(&stack, &patient_id, Some(&access), right)
            .await
            .0,
        401
    );
    // The other patient is untouched.
    assert_eq!(profile(&stack, &other_id, Some(&other_access)).await.0, 200);

    // The record is kept, inactive; the sessions say why they ended.
    assert!(!is_active(&stack, &patient_id).await);
    let ended: Vec<String> = sqlx::query_scalar(
        "SELECT revoked_reason FROM sessions WHERE patient_id = $1::uuid ORDER BY created_at",
    )
    .bind(&patient_id)
    .fetch_all(&stack.db)
    .await
    .unwrap();
    assert_eq!(ended, ["deactivation", "deactivation"]);
    assert_eq!(
        audited(&stack, "account_deactivate", &patient_id).await,
        [
            "invalid_credentials",
            "unauthenticated",
            "forbidden",
            "success",
            "unauthenticated"
        ]
    );
    assert_eq!(
        audited(&stack, "account_deactivate", &other_id).await,
        ["forbidden"]
    );

    let notice = nth_email(&address, 2).await;
    assert_eq!(notice.subject, "Your account was deactivated");
    for part in [&notice.text, &notice.html] {
        assert!(part.contains("Your patient account was deactivated on"));
        assert!(part.contains("Your records are kept"));
    }
}

#[tokio::test]
async fn wrong_passwords_at_deactivation_count_towards_the_lockout() {
    let stack = Stack::start().await;
    let (patient_id, address) = patient(&stack).await;
    let (access, _) = session(&stack, &address, PASSWORD).await;
    let wrong = json!({"password": WRONG});
    for _ in 0..5 {
        let (status, body) = deactivate(&stack, &patient_id, Some(&access), wrong.clone()).await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, body) = deactivate(&stack, &patient_id, Some(&access), wrong).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        body["message"],
        "Too many failed login attempts. Please try again later."
    );
    assert_eq!(
        login(&stack, &address, PASSWORD).await.0,
        429,
        "the login lockout is the same"
    );
    assert!(is_active(&stack, &patient_id).await);
}

#[tokio::test]
async fn deactivation_shares_the_addresss_password_budget_and_is_throttled_before_hashing() {
    let stack = Stack::start_with(StackOptions {
        env: vec![("LOGIN_RATE_LIMIT_PER_CLIENT", "3".into())],
    })
    .await;
    let (patient_id, address) = patient(&stack).await;
    let (access, _) = session(&stack, &address, PASSWORD).await;
    let (status, body) = deactivate(
        &stack,
        &patient_id,
        Some(&access),
        json!({"password": WRONG}),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    let change = json!({"current_password": WRONG, "new_password": NEW_PASSWORD,
                        "confirm_password": NEW_PASSWORD});
    let (status, body) = authed(&stack, "/api/v1/patient/change-password", &access, change).await;
    assert_eq!(status, 401, "{body}");
    // The login, the change and the deactivation share the address's budget:
    // refused before the password is looked at, even the right one.
    let (status, body) = deactivate(
        &stack,
        &patient_id,
        Some(&access),
        json!({"password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        body["message"],
        "Too many password attempts from this address. Please try again later."
    );
    assert!(is_active(&stack, &patient_id).await);
    assert_eq!(
        audited(&stack, "account_deactivate", &patient_id).await,
        ["invalid_credentials"]
    );
}

#[tokio::test]
async fn an_operator_deactivates_and_reactivates_a_patient_whose_record_is_kept() {
    let stack = Stack::start().await;
    let (patient_id, address) = patient(&stack).await;
    let (access, refresh_token) = session(&stack, &address, PASSWORD).await;

    let report = admin(&stack, &["patient", "deactivate", &patient_id]).await;
    assert!(
        report.starts_with("deactivated (record kept); 1 session(s) ended"),
        "{report}"
    );
    assert!(!is_active(&stack, &patient_id).await);
    assert_eq!(login(&stack, &address, PASSWORD).await.0, 403);
    assert_eq!(refresh(&stack, &refresh_token).await.0, 401);
    assert_eq!(profile(&stack, &patient_id, Some(&access)).await.0, 401);
    let again = admin(&stack, &["patient", "deactivate", &patient_id]).await;
    assert!(again.starts_with("already deactivated"), "{again}");

    let report = admin(&stack, &["patient", "reactivate", &patient_id]).await;
    assert_eq!(report, "reactivated\n");
    let (access, _) = session(&stack, &address, PASSWORD).await;
    assert_eq!(profile(&stack, &patient_id, Some(&access)).await.0, 200);
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        admin(&stack, &["patient", "reactivate", &unknown]).await,
        "no such patient\n"
    );

    // Each run audited with the operator and the patient: started, then its outcome.
    let rows: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT action, outcome, operator_user IS NOT NULL AND operator_host IS NOT NULL \
         FROM audit_log WHERE action LIKE 'admin_patient_%' AND patient_id = $1::uuid ORDER BY id",
    )
    .bind(&patient_id)
    .fetch_all(&stack.db)
    .await
    .unwrap();
    let row = |action: &str, outcome: &str| (action.to_owned(), outcome.to_owned(), true);
    assert_eq!(
        rows,
        [
            row("admin_patient_deactivate", "started"),
            row("admin_patient_deactivate", "success"),
            row("admin_patient_deactivate", "started"),
            row("admin_patient_deactivate", "unchanged"),
            row("admin_patient_reactivate", "started"),
            row("admin_patient_reactivate", "success"),
        ]
    );
}
