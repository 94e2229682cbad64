//! The OpenAPI document tells the truth: Schemathesis, a client that knows
//! nothing but `/openapi.json`, generates requests from it against the real
//! system. A body the schema allows gets 2xx or a documented business
//! outcome, never a 4xx for its shape (`tests/schema/hooks.py` checks each
//! message); a body it forbids never gets a 2xx; every status is documented
//! and every answer matches its schema. `scripts/test` installs Schemathesis
//! (`SCHEMATHESIS` names another command line to run it with).

use std::process::Stdio;

use e2e::{Stack, StackOptions};

/// Runs Schemathesis in `mode` (`positive` or `negative`) with `checks`.
async fn schemathesis(stack: &Stack, mode: &str, checks: &str) -> (bool, String) {
    // Its configuration (schemathesis.toml) and hooks are read from here.
    let dir = e2e::repo_root().join("tests/schema");
    let command =
        std::env::var("SCHEMATHESIS").unwrap_or_else(|_| "python3 -m schemathesis.cli".into());
    let mut words = command.split_whitespace();
    let program = words.next().unwrap_or("python3");
    let output = tokio::process::Command::new(program)
        .args(words)
        .args(["run", &format!("{}/openapi.json", stack.base_url)])
        .args(["--mode", mode])
        .args(["--checks", checks, "--phases", "examples,coverage,fuzzing"])
        .args([
            "--max-examples",
            "25",
            "--seed",
            "20261130",
            "--workers",
            "2",
        ])
        .args(["--include-path-regex", "^/api/v1/patient/"])
        // Deterministic: the same cases every run, and no example database.
        .args(["--generation-deterministic", "--no-color"])
        // Negative bodies for the registration's many rules are hard to draw,
        // and slow to draw on two busy cores: a generator's limits, not
        // findings.
        .args(["--suppress-health-check", "filter_too_much,too_slow"])
        .current_dir(&dir)
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", &dir)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("{command} could not start ({e}): scripts/test installs it"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn a_client_generated_from_the_schema_meets_only_what_it_documents() {
    let stack = Stack::start_with(StackOptions {
        env: vec![
            // Fast hashing, and no limit shaping what is generated.
            ("BCRYPT_ROUNDS", "4".into()),
            ("RESEND_LIMIT_PER_EMAIL", "1000000".into()),
            ("RESEND_LIMIT_PER_CLIENT", "1000000".into()),
        ],
    })
    .await;
    let (ok, report) = schemathesis(
        &stack,
        "positive",
        "business_outcomes_only,not_a_server_error,status_code_conformance,\
         content_type_conformance,response_schema_conformance,response_headers_conformance",
    )
    .await;
    assert!(ok, "schema-valid requests:\n{report}");
    let (ok, report) = schemathesis(&stack, "negative", "negative_data_rejection").await;
    assert!(ok, "schema-invalid requests:\n{report}");
}
