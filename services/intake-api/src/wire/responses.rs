//! The error answers many routes share, declared once as reusable OpenAPI
//! responses (`#/components/responses/...`). Their examples are rendered
//! from [`ApiError`] itself, so a changed message changes the document too.

use std::collections::BTreeMap;

use utoipa::{
    openapi::{
        example::ExampleBuilder, header::HeaderBuilder, schema::Ref, ContentBuilder, Object, RefOr,
        Response, ResponseBuilder, Type,
    },
    IntoResponses, ToResponse,
};

use crate::error::ApiError;

/// A response with the error envelope, one example per error, and headers.
fn error_response(
    description: &str,
    examples: &[(&str, ApiError)],
    headers: &[(&str, &str)],
) -> RefOr<Response> {
    let examples = examples.iter().map(|(name, error)| {
        let value = serde_json::to_value(error.body()).unwrap_or_default();
        (*name, ExampleBuilder::new().value(Some(value)).build())
    });
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .examples_from_iter(examples)
        .build();
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/json", content);
    for (name, description) in headers {
        let schema = if *name == "Retry-After" {
            Object::with_type(Type::Integer)
        } else {
            Object::with_type(Type::String)
        };
        response = response.header(
            *name,
            HeaderBuilder::new()
                .schema(schema)
                .description(Some(*description))
                .build(),
        );
    }
    response.build().into()
}

const RETRY_AFTER: (&str, &str) = ("Retry-After", "Seconds to wait before retrying");

macro_rules! shared_responses {
    ($($(#[$doc:meta])* $name:ident => $build:expr;)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                (stringify!($name), $build)
            }
        }
    )*};
}

shared_responses! {
    /// 400: the body is not JSON at all.
    MalformedJson => error_response(
        "Malformed JSON: the message says where (line and column)",
        &[("Malformed JSON", ApiError::BadRequest(
            "Malformed JSON: expected value at line 1 column 7".into()))],
        &[],
    );
    /// 401 on routes that need an access token.
    BearerRequired => error_response(
        "No access token, or one that is malformed, badly signed or expired",
        &[("Unauthenticated", ApiError::Unauthorized(crate::extract::UNAUTHENTICATED))],
        &[("WWW-Authenticate", "`Bearer`")],
    );
    /// 413: over [`crate::routes::MAX_BODY_BYTES`].
    PayloadTooLarge => error_response(
        "Body over 64 KiB",
        &[("Too large", ApiError::PayloadTooLarge)],
        &[],
    );
    /// 415: a body that does not say it is JSON.
    UnsupportedMediaType => error_response(
        "Content-Type is not `application/json` (or another `+json` type)",
        &[("Not JSON", ApiError::UnsupportedMediaType)],
        &[],
    );
    /// 429 from a rate limit.
    RateLimited => error_response(
        "Rate limited (the route's description names the limit): wait `Retry-After` seconds",
        &[("Rate limited", ApiError::TooManyRequests {
            message: crate::extract::RATE_LIMITED,
            retry_after: std::time::Duration::from_secs(30),
        })],
        &[RETRY_AFTER],
    );
    /// 503: Postgres or RabbitMQ is unreachable (or the request queue is full).
    Unavailable => error_response(
        "A dependency is down: retry later",
        &[("Unavailable", ApiError::Unavailable(anyhow::anyhow!("down")))],
        &[RETRY_AFTER],
    );
    /// 503 from the routes that check or hash a password.
    PasswordBusy => error_response(
        "A dependency is down, or too many passwords are being checked at once \
         (`PASSWORD_VERIFY_MAX_CONCURRENT`): retry shortly",
        &[
            ("Unavailable", ApiError::Unavailable(anyhow::anyhow!("down"))),
            ("Busy", ApiError::Busy),
        ],
        &[RETRY_AFTER],
    );
    /// 429 from the routes that check a password: the per-address
    /// throttle, or the lockout after wrong passwords.
    PasswordLimited => error_response(
        "Too many attempts from this address, or locked out after too many wrong passwords \
         for this account (from this address, or from everywhere): wait `Retry-After` seconds",
        &[
            ("Throttled", ApiError::TooManyRequests {
                message: crate::passwords::THROTTLED,
                retry_after: std::time::Duration::from_secs(3),
            }),
            ("Locked out", ApiError::TooManyRequests {
                message: crate::passwords::LOCKED_OUT,
                retry_after: std::time::Duration::from_secs(900),
            }),
        ],
        &[RETRY_AFTER],
    );
    /// 408: not answered within `HTTP_REQUEST_TIMEOUT`.
    TimedOut => error_response(
        "Not answered within `HTTP_REQUEST_TIMEOUT` (45 s by default; a slow body counts)",
        &[("Timed out", ApiError::RequestTimeout)],
        &[],
    );
    /// 500: a fault on our side; its cause is logged, never shown.
    Internal => error_response(
        "An unexpected fault on the server (logged with its cause, never shown)",
        &[("Internal", ApiError::Internal(anyhow::anyhow!("fault")))],
        &[],
    );
}

/// A reference to one of the responses above.
fn reference<'r, R: ToResponse<'r>>() -> RefOr<Response> {
    RefOr::Ref(Ref::new(format!(
        "#/components/responses/{}",
        R::response().0
    )))
}

/// The error answers of every route that reads a JSON body, given before
/// its handler runs: `responses(JsonBodyErrors, ...)` in a route's path.
pub struct JsonBodyErrors;

impl IntoResponses for JsonBodyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            ("400".to_owned(), reference::<MalformedJson>()),
            ("413".to_owned(), reference::<PayloadTooLarge>()),
            ("415".to_owned(), reference::<UnsupportedMediaType>()),
        ])
    }
}
