//! Partners in tests: the `admin` binary against a stack, a partner and its
//! key, and the partner-key reads.

use serde_json::Value;

use crate::Stack;

/// Runs `admin` against the stack's database and vhost; its stdout.
pub async fn admin(stack: &Stack, args: &[&str]) -> String {
    let out = tokio::process::Command::new(crate::binary_path("admin"))
        .args(args)
        .env_clear()
        .env("APP_ENV", "test")
        .env("DATABASE_URL", &stack.database_url)
        .env("AMQP_URL", &stack.amqp_url)
        .env("PHI_ENCRYPTION_KEY", crate::TEST_PHI_KEY)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Creates a partner; returns its key (shown once) and what `admin` printed.
pub async fn create_partner(stack: &Stack, name: &str) -> (String, String) {
    let created = admin(stack, &["partner", "create", name]).await;
    let key = created
        .lines()
        .find_map(|l| l.split("store it now): ").nth(1))
        .unwrap()
        .to_owned();
    (key, created)
}

/// `GET path` with `x-api-key: key` (none if `None`): status and body.
pub async fn get_as(stack: &Stack, path: &str, key: Option<&str>) -> (u16, Value) {
    let mut request = stack.http.get(format!("{}{path}", stack.base_url));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

/// Registers `body` as the partner whose key this is; the request id.
pub async fn register_as(stack: &Stack, key: &str, body: &Value) -> String {
    let response = stack.register_with(body, &[("x-api-key", key)]).await;
    assert_eq!(response.status(), 202);
    let json: Value = response.json().await.unwrap();
    json["data"]["request_id"].as_str().unwrap().to_owned()
}
