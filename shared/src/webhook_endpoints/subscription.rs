//! What a partner subscribes with, parsed once: the URL deliveries are
//! POSTed to and the event types it wants. Both the API and `admin webhook
//! create` go through here, so they accept and refuse the same things.

use url::Url;

use crate::webhook::EVENT_TYPES;

/// The longest URL stored (the column's CHECK says the same).
pub const MAX_URL_CHARS: usize = 2048;

/// An absolute `http`/`https` URL with a host, no user name or password and
/// no fragment, at most [`MAX_URL_CHARS`] characters, in its normalised
/// form (what the webhook worker will parse again). Its address is not
/// resolved here: the worker checks it at delivery time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl(String);

const NOT_A_URL: &str = "URL must be an absolute http:// or https:// URL";

impl EndpointUrl {
    /// `https_only` in production. Every problem found, as messages.
    pub fn parse(raw: &str, https_only: bool) -> Result<Self, Vec<String>> {
        let raw = raw.trim();
        let too_long = || format!("URL must be at most {MAX_URL_CHARS} characters");
        if raw.chars().count() > MAX_URL_CHARS {
            return Err(vec![too_long()]);
        }
        // The URL standard drops tabs and newlines inside a URL silently:
        // what is stored must be what the partner sees they typed.
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(vec![
                "URL must not contain spaces or control characters".into()
            ]);
        }
        let url = Url::parse(raw).map_err(|_| vec![NOT_A_URL.to_owned()])?;
        let mut problems = Vec::new();
        match url.scheme() {
            "https" => {}
            "http" if !https_only => {}
            "http" => problems.push("URL must use https".to_owned()),
            _ => return Err(vec![NOT_A_URL.to_owned()]),
        }
        if url.host_str().is_none_or(str::is_empty) {
            problems.push("URL must name a host".to_owned());
        }
        if !url.username().is_empty() || url.password().is_some() {
            problems.push("URL must not contain a user name or password".to_owned());
        }
        if url.fragment().is_some() {
            problems.push("URL must not contain a fragment (#...)".to_owned());
        }
        let normalised = String::from(url);
        if normalised.chars().count() > MAX_URL_CHARS {
            problems.push(too_long());
        }
        if problems.is_empty() {
            Ok(Self(normalised))
        } else {
            Err(problems)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One or more distinct event types, each one of [`EVENT_TYPES`], in the
/// order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypes(Vec<&'static str>);

/// What an unknown event type is told.
pub fn allowed_event_types() -> String {
    format!("allowed are {}", EVENT_TYPES.join(", "))
}

impl EventTypes {
    /// Every problem found, as messages (positions count from 1).
    pub fn parse(names: &[&str]) -> Result<Self, Vec<String>> {
        if names.is_empty() {
            return Err(vec!["At least one event type is required".into()]);
        }
        let mut problems = Vec::new();
        let mut known: Vec<&'static str> = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            match EVENT_TYPES.iter().find(|t| **t == name.trim()) {
                Some(t) if known.contains(t) => {
                    problems.push(format!("Event types must be distinct: {t} is listed twice"));
                }
                Some(t) => known.push(t),
                None => problems.push(format!(
                    "Unknown event type at position {}: {}",
                    i + 1,
                    allowed_event_types()
                )),
            }
        }
        problems.dedup();
        if problems.is_empty() {
            Ok(Self(known))
        } else {
            Err(problems)
        }
    }

    pub fn as_slice(&self) -> &[&'static str] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_absolute_web_urls_without_credentials_or_fragments() {
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        let cases: [(&str, bool, Result<&str, &str>); 16] = [
            (
                "https://example.com/hooks",
                true,
                Ok("https://example.com/hooks"),
            ),
            (" https://EXAMPLE.com ", true, Ok("https://example.com/")),
            (
                "http://127.0.0.1:9000/h?x=1",
                false,
                Ok("http://127.0.0.1:9000/h?x=1"),
            ),
            ("HTTP://example.com", false, Ok("http://example.com/")),
            ("http://example.com", true, Err("URL must use https")),
            ("ftp://example.com", false, Err(NOT_A_URL)),
            ("/relative/path", false, Err(NOT_A_URL)),
            ("example.com", false, Err(NOT_A_URL)),
            ("", false, Err(NOT_A_URL)),
            ("javascript:alert(1)", false, Err(NOT_A_URL)),
            (
                "https://user:pw@example.com",
                true,
                Err("URL must not contain a user name or password"),
            ),
            (
                "https://user@example.com",
                true,
                Err("URL must not contain a user name or password"),
            ),
            (
                "https://example.com/#top",
                true,
                Err("URL must not contain a fragment (#...)"),
            ),
            (
                "https://example.com/#",
                true,
                Err("URL must not contain a fragment (#...)"),
            ),
            (
                "https://exa\tmple.com",
                true,
                Err("URL must not contain spaces or control characters"),
            ),
            (&long, true, Err("URL must be at most 2048 characters")),
        ];
        for (raw, https_only, want) in cases {
            let got = EndpointUrl::parse(raw, https_only);
            match want {
                Ok(url) => assert_eq!(got.map(|u| u.0), Ok(url.to_owned()), "{raw}"),
                Err(message) => {
                    let problems = got.expect_err(raw);
                    assert!(problems.iter().any(|p| p == message), "{raw}: {problems:?}");
                }
            }
        }
    }

    #[test]
    fn every_problem_of_a_url_is_told_at_once() {
        let problems = EndpointUrl::parse("http://u:p@example.com/#x", true).expect_err("bad");
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn event_types_are_known_distinct_and_not_none() {
        let ok = EventTypes::parse(&["registration.completed", "batch.completed"]);
        assert_eq!(
            ok.map(|t| t.0),
            Ok(vec!["registration.completed", "batch.completed"])
        );
        assert_eq!(
            EventTypes::parse(&[]),
            Err(vec!["At least one event type is required".to_owned()])
        );
        let unknown = EventTypes::parse(&["registration.completed", "nope"]).expect_err("unknown");
        assert!(
            unknown[0].starts_with(
                "Unknown event type at position 2: allowed are registration.completed,"
            ),
            "{unknown:?}"
        );
        let twice = EventTypes::parse(&["batch.completed", "batch.completed"]).expect_err("twice");
        assert_eq!(
            twice,
            vec!["Event types must be distinct: batch.completed is listed twice".to_owned()]
        );
    }
}
