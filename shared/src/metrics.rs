//! Prometheus metrics, one registry per process, rendered as text at
//! `GET /metrics` (intake-api's port, each worker's `HEALTH_ADDR`).

use std::sync::OnceLock;

use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
    },
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    pub queue: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_buckets() -> Histogram {
    // 0.5 ms … ~8 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

pub struct Metrics {
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Histograms<RouteLabels>,
    pub consumed: Family<QueueLabels, Counter>,
    pub acked: Family<QueueLabels, Counter>,
    pub retried: Family<QueueLabels, Counter>,
    pub dead_lettered: Family<QueueLabels, Counter>,
    pub queue_depth: Family<QueueLabels, Gauge>,
    pub bcrypt_duration: Histogram,
    pub emails_sent: Counter,
    pub emails_failed: Counter,
    /// Text messages handed to the SMS transport, and attempts that failed.
    pub sms_sent: Counter,
    pub sms_failed: Counter,
    pub refused_queue_full: Counter,
    /// Webhook attempts by what came of them: `delivered`, `retried`
    /// (a retry is scheduled) or `failed` (the delivery gave up).
    pub webhook_deliveries: Family<OutcomeLabels, Counter>,
    pub webhook_attempt_duration: Histogram,
    pub webhook_retry_queue_depth: Family<QueueLabels, Gauge>,
    registry: Registry,
}

impl Metrics {
    fn new() -> Self {
        let m = Self {
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_buckets as fn() -> Histogram),
            consumed: Family::default(),
            acked: Family::default(),
            retried: Family::default(),
            dead_lettered: Family::default(),
            queue_depth: Family::default(),
            bcrypt_duration: Histogram::new(exponential_buckets(0.01, 1.5, 12)),
            emails_sent: Counter::default(),
            emails_failed: Counter::default(),
            sms_sent: Counter::default(),
            sms_failed: Counter::default(),
            refused_queue_full: Counter::default(),
            webhook_deliveries: Family::default(),
            // 5 ms … ~10 s (the default WEBHOOK_TIMEOUT)
            webhook_attempt_duration: Histogram::new(exponential_buckets(0.005, 2.0, 12)),
            webhook_retry_queue_depth: Family::default(),
            registry: Registry::default(),
        };
        let mut r = Registry::default();
        r.register(
            "http_requests",
            "HTTP requests by route and status",
            m.http_requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            m.http_duration.clone(),
        );
        r.register(
            "messages_consumed",
            "Messages delivered to this consumer",
            m.consumed.clone(),
        );
        r.register(
            "messages_acked",
            "Messages acknowledged after their effects were durable",
            m.acked.clone(),
        );
        r.register(
            "messages_retried",
            "Messages requeued for a later try",
            m.retried.clone(),
        );
        r.register(
            "messages_dead_lettered",
            "Messages rejected into the dead-letter queue",
            m.dead_lettered.clone(),
        );
        r.register(
            "queue_depth",
            "Messages ready in a queue, read at scrape time",
            m.queue_depth.clone(),
        );
        r.register(
            "bcrypt_hash_duration_seconds",
            "Time to hash one password",
            m.bcrypt_duration.clone(),
        );
        r.register(
            "emails_sent",
            "Verification emails sent",
            m.emails_sent.clone(),
        );
        r.register(
            "emails_failed",
            "SMTP send attempts that failed",
            m.emails_failed.clone(),
        );
        r.register(
            "sms_sent",
            "Text messages (phone verification codes) accepted by the SMS transport",
            m.sms_sent.clone(),
        );
        r.register(
            "sms_failed",
            "SMS send attempts that failed",
            m.sms_failed.clone(),
        );
        r.register(
            "registrations_refused_queue_full",
            "Registrations answered 503 because the request queue was at its bound",
            m.refused_queue_full.clone(),
        );
        r.register(
            "webhook_deliveries",
            "Webhook attempts by outcome: delivered, retried (a retry is scheduled) or failed (given up)",
            m.webhook_deliveries.clone(),
        );
        r.register(
            "webhook_attempt_duration_seconds",
            "Time from sending a webhook to its answer (or error)",
            m.webhook_attempt_duration.clone(),
        );
        r.register(
            "webhook_retry_queue_depth",
            "Webhook attempts waiting out their delay in a retry queue, refreshed periodically",
            m.webhook_retry_queue_depth.clone(),
        );
        Self { registry: r, ..m }
    }

    /// The Prometheus text exposition of everything.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// A webhook attempt's outcome, counted.
    pub fn webhook_outcome(&self, outcome: &'static str) {
        self.webhook_deliveries
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub fn queue(name: &str) -> QueueLabels {
        QueueLabels {
            queue: name.to_owned(),
        }
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text_with_labels() {
        let m = Metrics::new();
        m.acked.get_or_create(&Metrics::queue("q")).inc();
        m.bcrypt_duration.observe(0.25);
        let text = m.render();
        assert!(
            text.contains("messages_acked_total{queue=\"q\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("bcrypt_hash_duration_seconds_count 1"),
            "{text}"
        );
        assert!(text.trim_end().ends_with("# EOF"));
    }
}
