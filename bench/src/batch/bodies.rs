//! A batch's body, built from a template: the load builds one for every
//! request, and a serializer would cost the shared cores more.

use anyhow::Context;

use crate::data::{body, phone};

/// Batches of registrations as a partner posts them: `{"items": [...]}`,
/// each item [`body`] (the full one) with a `client_ref`. Built from a
/// template, as a batch is built for every request of the load.
pub struct BatchBodies {
    /// The body's fields other than the email and the phone number, as
    /// JSON object members (no braces).
    rest: String,
}

impl BatchBodies {
    pub fn new() -> anyhow::Result<Self> {
        let mut fixed = body("", 0, false);
        let object = fixed
            .as_object_mut()
            .context("the registration body is an object")?;
        object.remove("email");
        object.remove("phone_number");
        let text = serde_json::to_string(&fixed)?;
        let rest = text
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .context("an object serializes in braces")?
            .to_owned();
        Ok(Self { rest })
    }

    /// `n` items: registrations `first..first + n` (emails under
    /// `email_prefix`, which must need no JSON escaping), `client_ref` 0 to n-1.
    pub fn items(&self, email_prefix: &str, first: u64, n: usize) -> Vec<u8> {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(16 + n * (self.rest.len() + 120));
        out.push_str("{\"items\":[");
        for k in 0..n as u64 {
            if k > 0 {
                out.push(',');
            }
            let i = first + k;
            let _ = write!(
                out,
                "{{\"client_ref\":\"{k}\",\"email\":\"{email_prefix}{i}@example.com\",\"phone_number\":\"{}\",{}}}",
                phone(i),
                self.rest
            );
        }
        out.push_str("]}");
        out.into_bytes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::Value;

    use super::BatchBodies;
    use crate::data::body;

    #[test]
    fn a_batch_item_is_the_registration_body_with_a_client_ref() {
        let bytes = BatchBodies::new().unwrap().items("p.", 7, 3);
        let batch: Value = serde_json::from_slice(&bytes).unwrap();
        let items = batch["items"].as_array().unwrap();
        assert_eq!(items.len(), 3);
        for (k, item) in items.iter().enumerate() {
            let mut item = item.clone();
            let reference = item.as_object_mut().unwrap().remove("client_ref").unwrap();
            assert_eq!(reference, Value::from(k.to_string()));
            assert_eq!(item, body("p.", 7 + k as u64, false));
        }
    }
}
