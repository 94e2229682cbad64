//! The OpenAPI document: what it declares, lists and states.

use super::*;

#[tokio::test]
async fn the_document_references_only_responses_it_declares() {
    let answer = spec().await;
    assert_eq!(answer.status, StatusCode::OK);
    let spec = answer.body;
    let declared = spec["components"]["responses"].as_object().unwrap();
    for name in [
        "MalformedJson",
        "BearerRequired",
        "PayloadTooLarge",
        "UnsupportedMediaType",
        "RateLimited",
        "Unavailable",
        "Internal",
        "TimedOut",
    ] {
        let example = &declared[name]["content"]["application/json"]["examples"];
        let example = example.as_object().unwrap().values().next().unwrap();
        assert_eq!(example["value"]["success"], false, "{name}");
    }
    let text = spec.to_string();
    let references: Vec<&str> = text
        .split("#/components/responses/")
        .skip(1)
        .map(|reference| reference.split('"').next().unwrap())
        .collect();
    assert!(!references.is_empty(), "no shared response is referenced");
    for name in references {
        assert!(
            declared.contains_key(name),
            "{name} is referenced, not declared"
        );
    }
    // The JSON routes document the answers their body extractor gives.
    for route in JSON_ROUTES {
        let responses = &spec["paths"][route]["post"]["responses"];
        for status in ["400", "413", "415", "422", "503"] {
            assert!(responses[status].is_object(), "{route} documents {status}");
        }
    }
}

/// A response, with a `$ref` to a shared one followed.
fn resolve<'a>(spec: &'a Value, response: &'a Value) -> &'a Value {
    match response["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/responses/");
            &spec["components"]["responses"][name]
        }
        None => response,
    }
}

#[tokio::test]
async fn the_document_lists_every_endpoint_with_its_answers() {
    let answer = spec().await;
    assert!(answer.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let spec = answer.body;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1."));
    let documented: &[(&str, &str, &[&str])] = &[
        (
            REGISTER,
            "post",
            &[
                "201", "202", "400", "401", "408", "409", "413", "415", "422", "429", "500", "503",
            ],
        ),
        (
            "/api/v1/patient/registrations/{request_id}",
            "get",
            &["200", "401", "404", "408", "500", "503"],
        ),
        (
            "/api/v1/partner/registrations",
            "get",
            &["200", "401", "408", "422", "500", "503"],
        ),
        (
            "/api/v1/patient/registration-batches",
            "post",
            &[
                "202", "400", "401", "408", "409", "413", "415", "422", "429", "500", "503",
            ],
        ),
        (
            "/api/v1/patient/registration-batches/{batch_id}",
            "get",
            &["200", "401", "404", "408", "422", "500", "503"],
        ),
        (
            LOGIN,
            "post",
            &[
                "200", "400", "401", "403", "408", "413", "415", "422", "429", "500", "503",
            ],
        ),
        (
            VERIFY,
            "post",
            &[
                "200", "400", "408", "413", "415", "422", "429", "500", "503",
            ],
        ),
        (
            "/api/v1/patient/token/refresh",
            "post",
            &[
                "200", "400", "401", "408", "413", "415", "422", "429", "500", "503",
            ],
        ),
        (
            "/api/v1/patient/logout",
            "post",
            &["200", "401", "408", "500", "503"],
        ),
        (
            "/api/v1/patient/forgot-password",
            "post",
            &[
                "202", "400", "408", "413", "415", "422", "429", "500", "503",
            ],
        ),
        (
            "/api/v1/patient/reset-password",
            "post",
            &[
                "200", "400", "408", "413", "415", "422", "429", "500", "503",
            ],
        ),
        (
            "/api/v1/patient/change-password",
            "post",
            &[
                "200", "400", "401", "403", "408", "413", "415", "422", "429", "500", "503",
            ],
        ),
        (
            "/api/v1/patient/change-email",
            "post",
            &[
                "202", "400", "401", "403", "408", "413", "415", "422", "429", "500", "503",
            ],
        ),
        (
            "/api/v1/patient/confirm-email-change",
            "post",
            &[
                "200", "400", "408", "413", "415", "422", "429", "500", "503",
            ],
        ),
        ("/verify-email", "get", &["200", "400"]),
        ("/verify-email", "post", &["200", "400", "429", "503"]),
        ("/reset-password", "get", &["200", "400"]),
        ("/confirm-email-change", "get", &["200", "400"]),
        (
            "/confirm-email-change",
            "post",
            &["200", "400", "429", "503"],
        ),
        (
            "/reset-password",
            "post",
            &["200", "400", "422", "429", "503"],
        ),
        (
            RESEND,
            "post",
            &[
                "202", "400", "408", "413", "415", "422", "429", "500", "503",
            ],
        ),
        (
            "/api/v1/patient/profile/{patient_id}",
            "get",
            &["200", "401", "403", "404", "408", "500", "503"],
        ),
        (
            "/api/v1/patient/phone/verification",
            "post",
            &[
                "202", "401", "403", "404", "408", "409", "429", "500", "503",
            ],
        ),
        (
            "/api/v1/patient/phone/verification/confirm",
            "post",
            &[
                "200", "400", "401", "408", "413", "415", "422", "429", "500", "503",
            ],
        ),
        (
            "/api/v1/patient/profile/{patient_id}",
            "patch",
            &[
                "200", "400", "401", "403", "404", "408", "412", "413", "415", "422", "500", "503",
            ],
        ),
        (
            "/api/v1/patient/profile/{patient_id}",
            "delete",
            &[
                "200", "400", "401", "403", "404", "408", "413", "415", "422", "429", "500", "503",
            ],
        ),
        (
            "/api/v1/partner/webhook-endpoints",
            "post",
            &[
                "201", "400", "401", "408", "409", "413", "415", "422", "500", "503",
            ],
        ),
        (
            "/api/v1/partner/webhook-endpoints",
            "get",
            &["200", "401", "408", "500", "503"],
        ),
        (
            "/api/v1/partner/webhook-endpoints/{endpoint_id}",
            "delete",
            &["200", "401", "404", "408", "500", "503"],
        ),
        (
            "/api/v1/partner/webhook-endpoints/{endpoint_id}/rotate-secret",
            "post",
            &["200", "401", "404", "408", "500", "503"],
        ),
        (
            "/api/v1/partner/webhook-deliveries",
            "get",
            &["200", "401", "408", "422", "500", "503"],
        ),
        (
            "/api/v1/partner/webhook-deliveries/{delivery_id}/retry",
            "post",
            &["202", "401", "404", "408", "409", "500", "503"],
        ),
        ("/health/live", "get", &["200"]),
        ("/health/ready", "get", &["200", "503"]),
        ("/metrics", "get", &["200"]),
    ];
    for &(path, method, statuses) in documented {
        let responses = spec["paths"][path][method]["responses"]
            .as_object()
            .unwrap();
        let mut listed: Vec<&str> = responses.keys().map(String::as_str).collect();
        listed.sort_unstable();
        assert_eq!(&listed, statuses, "{method} {path}");
    }
    let register = &spec["paths"][REGISTER]["post"];
    let responses = &register["responses"];
    let headers = &responses["202"]["headers"];
    assert!(headers["Location"].is_object() && headers["Retry-After"].is_object());
    assert!(headers["Idempotent-Replayed"].is_object());
    for status in ["409", "429", "503"] {
        let response = resolve(&spec, &responses[status]);
        assert!(
            response["headers"]["Retry-After"].is_object(),
            "register's {status} has no Retry-After"
        );
    }
    let header_parameter = |name: &str| {
        register["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == name && p["in"] == "header")
    };
    assert!(header_parameter("Prefer") && header_parameter("Idempotency-Key"));
    assert_eq!(
        register["requestBody"]["content"]["application/json"]["example"],
        shared::domain::registration_example()
    );

    // Partners' key is optional; the profile needs an access token.
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["api_key"]["in"], "header");
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    assert_eq!(schemes["bearer_auth"]["scheme"], "bearer");
    assert_eq!(register["security"], json!([{}, {"api_key": []}]));
    let profile = &spec["paths"]["/api/v1/patient/profile/{patient_id}"]["get"];
    assert_eq!(profile["security"], json!([{"bearer_auth": []}]));
    let profile_401 = resolve(&spec, &profile["responses"]["401"]);
    assert!(profile_401["headers"]["WWW-Authenticate"].is_object());
    // Deactivating the account needs the same token, and the password.
    let deactivate = &spec["paths"]["/api/v1/patient/profile/{patient_id}"]["delete"];
    assert_eq!(deactivate["security"], json!([{"bearer_auth": []}]));
    assert!(deactivate["responses"]["401"]["headers"]["WWW-Authenticate"].is_object());
    assert!(resolve(&spec, &deactivate["responses"]["429"])["headers"]["Retry-After"].is_object());
    assert_eq!(
        deactivate["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/DeactivateRequest"
    );
    // A partner's webhooks need its key, and say so in a 401.
    for (path, method) in [
        ("/api/v1/partner/webhook-endpoints", "post"),
        ("/api/v1/partner/webhook-endpoints", "get"),
        ("/api/v1/partner/webhook-endpoints/{endpoint_id}", "delete"),
        (
            "/api/v1/partner/webhook-endpoints/{endpoint_id}/rotate-secret",
            "post",
        ),
        ("/api/v1/partner/webhook-deliveries", "get"),
        (
            "/api/v1/partner/webhook-deliveries/{delivery_id}/retry",
            "post",
        ),
    ] {
        let operation = &spec["paths"][path][method];
        assert_eq!(
            operation["security"],
            json!([{"api_key": []}]),
            "{method} {path}"
        );
        assert!(
            operation["responses"]["401"]["headers"]["WWW-Authenticate"].is_object(),
            "{method} {path}"
        );
    }
    let login = &spec["paths"][LOGIN]["post"]["responses"];
    assert!(login["401"]["headers"]["WWW-Authenticate"].is_object());
    assert!(login["429"]["headers"]["Retry-After"].is_object());
    let resend = &spec["paths"][RESEND]["post"]["responses"];
    assert!(resend["429"]["headers"]["Retry-After"].is_object());
    let gender = &spec["components"]["schemas"]["Gender"]["enum"];
    assert_eq!(
        gender,
        &json!(["male", "female", "other", "prefer_not_to_say"])
    );
}

#[tokio::test]
async fn the_request_schemas_state_the_rules_the_server_enforces() {
    let spec = spec().await.body;
    let schemas = &spec["components"]["schemas"];
    let body = &schemas["RegistrationBody"];
    assert_eq!(body["additionalProperties"], false);
    let property = |schema: &Value, name: &str| schema["properties"][name].clone();
    for (name, min, max) in [
        ("first_name", 2, 50),
        ("last_name", 2, 50),
        ("password", 8, 72),
    ] {
        let field = property(body, name);
        assert_eq!(
            (field["minLength"].as_u64(), field["maxLength"].as_u64()),
            (Some(min), Some(max)),
            "{name}"
        );
        assert!(field["pattern"].is_string(), "{name}");
    }
    assert_eq!(property(body, "email")["format"], "email");
    assert_eq!(property(body, "date_of_birth")["format"], "date");
    assert!(property(body, "phone_number")["pattern"].is_string());
    let address = &schemas["AddressBody"];
    assert_eq!(
        address["properties"]["country"]["enum"]
            .as_array()
            .map(Vec::len),
        Some(249)
    );
    assert!(address["allOf"]
        .as_array()
        .is_some_and(|rules| rules.len() == 8));
    // The small bodies: every field required, none blank.
    for (schema, fields) in [
        ("LoginRequest", &["email", "password"][..]),
        ("VerifyEmailRequest", &["token"]),
        ("ResendVerificationRequest", &["email"]),
    ] {
        let required = &schemas[schema]["required"];
        assert_eq!(required, &json!(fields), "{schema}");
        for field in fields {
            assert!(schemas[schema]["properties"][field]["minLength"].as_u64() >= Some(1));
        }
    }
}
