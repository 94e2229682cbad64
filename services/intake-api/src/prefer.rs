//! The `Prefer: wait=N` request header (RFC 7240).

use std::time::Duration;

use axum::http::HeaderMap;

/// The longest a client may ask to wait.
pub const MAX_WAIT_SECS: u64 = 30;

/// The wait a client asked for, capped at [`MAX_WAIT_SECS`]; `None` when it
/// did not ask (or asked for zero).
pub fn requested_wait(headers: &HeaderMap) -> Option<Duration> {
    let secs = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|preference| {
            let token = preference.split(';').next()?.trim();
            let (name, value) = token.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("wait")
                .then(|| value.trim().trim_matches('"').parse::<u64>().ok())
                .flatten()
        })
        .next()?;
    (secs > 0).then(|| Duration::from_secs(secs.min(MAX_WAIT_SECS)))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn wait(value: &str) -> Option<u64> {
        let mut headers = HeaderMap::new();
        headers.insert("prefer", HeaderValue::from_str(value).expect("header"));
        requested_wait(&headers).map(|d| d.as_secs())
    }

    #[test]
    fn wait_preferences_are_read_and_capped() {
        let cases = [
            ("wait=5", Some(5)),
            ("WAIT = 7", Some(7)),
            ("respond-async, wait=10", Some(10)),
            ("wait=\"3\"", Some(3)),
            ("wait=10; foo=bar", Some(10)),
            ("wait=31", Some(30)),
            ("wait=999999999999", Some(30)),
            ("wait=0", None),
            ("wait=-1", None),
            ("wait=soon", None),
            ("respond-async", None),
            ("", None),
        ];
        for (value, want) in cases {
            assert_eq!(wait(value), want, "{value}");
        }
    }
}
