//! intake-api's metric series as `/metrics` shows them: a client that can
//! make a new one at will grows the server's memory (and every scrape)
//! without bound.

use std::collections::BTreeSet;

use crate::infra::Infra;

/// The series intake-api's `/metrics` shows: each sample's name and labels.
pub async fn scrape(infra: &Infra, base_url: &str) -> anyhow::Result<BTreeSet<String>> {
    let text = infra
        .http
        .get(format!("{base_url}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    Ok(sample_keys(&text))
}

fn sample_keys(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        // Without an exemplar (` # {...} value`), if any.
        .map(|line| line.split(" # ").next().unwrap_or(line))
        .filter_map(|line| match line.rfind('}') {
            Some(end) => Some(line[..=end].to_owned()),
            None => line.split_whitespace().next().map(str::to_owned),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::sample_keys;

    #[test]
    fn series_are_samples_by_name_and_labels() {
        let text = "# HELP http_requests Requests.\n# TYPE http_requests counter\n\
            http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"} 7\n\
            http_requests_total{method=\"GET\",route=\"/metrics\",status=\"200\"} 1\n\
            http_requests_total{method=\"GET\",route=\"/r/{id}\",status=\"200\"} 1 # {trace=\"a\"} 1\n\
            uptime_seconds 12.5\n# EOF\n";
        let keys: Vec<String> = sample_keys(text).into_iter().collect();
        assert_eq!(
            keys,
            [
                "http_requests_total{method=\"GET\",route=\"/metrics\",status=\"200\"}",
                "http_requests_total{method=\"GET\",route=\"/r/{id}\",status=\"200\"}",
                "http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"}",
                "uptime_seconds",
            ]
        );
    }
}
