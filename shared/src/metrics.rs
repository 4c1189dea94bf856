//! Prometheus metrics of this process, rendered at `/metrics`.

use std::sync::LazyLock;

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    events_published: IntCounterVec,
    publish_failures: IntCounterVec,
    events_consumed: IntCounterVec,
    acks_lost: IntCounterVec,
    warnings_issued: IntCounterVec,
    webhook_attempts: IntCounterVec,
    gauges: IntGaugeVec,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    // Registering a fresh metric in a fresh registry only fails on a programming error.
    let _ = registry.register(Box::new(metric.clone()));
    metric
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new();
    let http_duration = HistogramVec::new(
        HistogramOpts::new("nazer_http_request_duration_seconds", "HTTP request latency")
            .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
        &["method", "route"],
    )
    .unwrap_or_else(|e| panic!("histogram: {e}"));
    let _ = registry.register(Box::new(http_duration.clone()));
    let gauges = IntGaugeVec::new(
        Opts::new("nazer_gauge", "Point-in-time levels (outbox backlog, pending deadlines)"),
        &["name", "service"],
    )
    .unwrap_or_else(|e| panic!("gauge: {e}"));
    let _ = registry.register(Box::new(gauges.clone()));
    Metrics {
        http_requests: counter(
            &registry,
            "nazer_http_requests_total",
            "HTTP requests by route and status",
            &["method", "route", "status"],
        ),
        http_duration,
        events_published: counter(
            &registry,
            "nazer_events_published_total",
            "Events published from the outbox",
            &["producer", "type"],
        ),
        publish_failures: counter(
            &registry,
            "nazer_publish_failures_total",
            "Outbox publishes not confirmed",
            &["producer"],
        ),
        events_consumed: counter(
            &registry,
            "nazer_events_consumed_total",
            "Deliveries by outcome (applied, duplicate, retried, parked)",
            &["consumer", "type", "outcome"],
        ),
        acks_lost: counter(
            &registry,
            "nazer_acks_lost_total",
            "Acknowledgements the broker never received",
            &["consumer"],
        ),
        warnings_issued: counter(&registry, "nazer_warnings_issued_total", "Warnings registered", &["level"]),
        webhook_attempts: counter(
            &registry,
            "nazer_webhook_attempts_total",
            "Webhook delivery attempts by outcome",
            &["outcome"],
        ),
        gauges,
        registry,
    }
});

pub fn http_request(method: &str, route: &str, status: u16, seconds: f64) {
    let m = &*METRICS;
    m.http_requests.with_label_values(&[method, route, &status.to_string()]).inc();
    m.http_duration.with_label_values(&[method, route]).observe(seconds);
}

pub fn event_published(producer: &str, event_type: &str) {
    METRICS.events_published.with_label_values(&[producer, event_type]).inc();
}

pub fn publish_failed(producer: &str) {
    METRICS.publish_failures.with_label_values(&[producer]).inc();
}

pub fn events_consumed(consumer: &str, event_type: &str, outcome: &str) {
    METRICS.events_consumed.with_label_values(&[consumer, event_type, outcome]).inc();
}

pub fn ack_lost(consumer: &str) {
    METRICS.acks_lost.with_label_values(&[consumer]).inc();
}

pub fn warnings_issued(level: i32, count: u64) {
    METRICS.warnings_issued.with_label_values(&[&level.to_string()]).inc_by(count);
}

pub fn webhook_attempt(outcome: &str) {
    METRICS.webhook_attempts.with_label_values(&[outcome]).inc();
}

pub fn set_gauge(name: &str, service: &str, value: i64) {
    METRICS.gauges.with_label_values(&[name, service]).set(value);
}

/// The Prometheus text exposition of every metric of this process.
pub fn render() -> String {
    let mut buffer = Vec::new();
    if let Err(error) = TextEncoder::new().encode(&METRICS.registry.gather(), &mut buffer) {
        tracing::warn!(%error, "metrics could not be encoded");
    }
    String::from_utf8(buffer).unwrap_or_default()
}
