//! AMQP properties of our messages: persistent JSON with the request id in
//! `message_id`, `correlation_id` and an `x-request-id` header.

use lapin::{
    types::{AMQPValue, FieldTable},
    BasicProperties,
};
use uuid::Uuid;

/// Persistent (delivery mode 2) JSON properties for a message of `kind`.
pub fn persistent_json(kind: &str, message_id: Uuid, request_id: Uuid) -> BasicProperties {
    let mut headers = FieldTable::default();
    // W3C trace context: the trace id is the request id, so a registration
    // is one trace across all three services; each hop gets its own span id
    // (the first 64 bits of a random UUID, never all zero).
    let span_id = Uuid::new_v4().as_u64_pair().0;
    let traceparent = format!("00-{}-{span_id:016x}-01", request_id.simple());
    headers.insert(
        "traceparent".into(),
        AMQPValue::LongString(traceparent.into()),
    );
    let request_id = request_id.to_string();
    headers.insert(
        "x-request-id".into(),
        AMQPValue::LongString(request_id.as_str().into()),
    );
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_type(kind.into())
        .with_message_id(message_id.to_string().into())
        .with_correlation_id(request_id.into())
        .with_timestamp(
            chrono::Utc::now()
                .timestamp()
                .try_into()
                .unwrap_or_default(),
        )
        .with_headers(headers)
}

/// A header's value as text, if it is a string.
pub fn header_str(properties: &BasicProperties, name: &str) -> Option<String> {
    let headers = properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

/// How many times the broker delivered this message before (quorum queues
/// count it in `x-delivery-count`).
pub fn delivery_count(properties: &BasicProperties) -> u64 {
    let Some(headers) = properties.headers().as_ref() else {
        return 0;
    };
    match headers.inner().get("x-delivery-count") {
        Some(AMQPValue::LongLongInt(n)) => u64::try_from(*n).unwrap_or(0),
        Some(AMQPValue::LongInt(n)) => u64::try_from(*n).unwrap_or(0),
        Some(AMQPValue::LongUInt(n)) => u64::from(*n),
        Some(AMQPValue::ShortInt(n)) => u64::try_from(*n).unwrap_or(0),
        _ => 0,
    }
}
