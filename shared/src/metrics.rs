//! Prometheus metrics of this process, rendered at `/metrics`.

use std::sync::LazyLock;

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

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
    reminders_sent: IntCounterVec,
    outbox_backlog: IntGaugeVec,
    outbox_oldest_age: GaugeVec,
    deadlines_running: IntGaugeVec,
    deadlines_due: IntGaugeVec,
    deliveries_finished: IntCounterVec,
    fire_lag: HistogramVec,
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
    let gauge = |name: &str, help: &str, labels: &[&str]| {
        let metric = IntGaugeVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| panic!("gauge {name}: {e}"));
        let _ = registry.register(Box::new(metric.clone()));
        metric
    };
    let outbox_backlog = gauge("nazer_outbox_backlog", "Events written but not yet published", &["producer"]);
    let deadlines_running =
        gauge("nazer_deadlines_running", "Deadlines with a reminder or warning still to come", &["service"]);
    let deadlines_due = gauge(
        "nazer_deadlines_due",
        "Deadlines whose next reminder or warning is due and not yet registered",
        &["service"],
    );
    let outbox_oldest_age = GaugeVec::new(
        Opts::new("nazer_outbox_oldest_age_seconds", "Age of the oldest event written but not yet published"),
        &["producer"],
    )
    .unwrap_or_else(|e| panic!("gauge: {e}"));
    let _ = registry.register(Box::new(outbox_oldest_age.clone()));
    let fire_lag = HistogramVec::new(
        HistogramOpts::new(
            "nazer_deadline_fire_lag_seconds",
            "From a reminder's or warning's instant to its registration",
        )
        .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0]),
        &["kind"],
    )
    .unwrap_or_else(|e| panic!("histogram: {e}"));
    let _ = registry.register(Box::new(fire_lag.clone()));
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
        reminders_sent: counter(&registry, "nazer_reminders_sent_total", "Pre-breach reminders sent", &["stage"]),
        outbox_backlog,
        outbox_oldest_age,
        deadlines_running,
        deadlines_due,
        deliveries_finished: counter(
            &registry,
            "nazer_webhook_deliveries_total",
            "Webhook deliveries by final state (delivered, failed after every attempt)",
            &["state"],
        ),
        fire_lag,
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

pub fn reminder_sent(stage: &str) {
    METRICS.reminders_sent.with_label_values(&[stage]).inc();
}

/// How late a step was registered after its instant (`reminder` or `warning`).
pub fn fire_lag(kind: &str, seconds: f64) {
    METRICS.fire_lag.with_label_values(&[kind]).observe(seconds.max(0.0));
}

pub fn outbox_backlog(producer: &str, rows: i64) {
    METRICS.outbox_backlog.with_label_values(&[producer]).set(rows);
}

/// How long the oldest unpublished event has waited (0 when none waits).
pub fn outbox_oldest_age(producer: &str, seconds: f64) {
    METRICS.outbox_oldest_age.with_label_values(&[producer]).set(seconds.max(0.0));
}

pub fn deadlines_running(service: &str, count: i64) {
    METRICS.deadlines_running.with_label_values(&[service]).set(count);
}

pub fn deadlines_due(service: &str, count: i64) {
    METRICS.deadlines_due.with_label_values(&[service]).set(count);
}

/// A webhook delivery reached its final state (`delivered` or `failed`).
pub fn delivery_finished(state: &str) {
    METRICS.deliveries_finished.with_label_values(&[state]).inc();
}

/// The Prometheus text exposition of every metric of this process.
pub fn render() -> String {
    let mut buffer = Vec::new();
    if let Err(error) = TextEncoder::new().encode(&METRICS.registry.gather(), &mut buffer) {
        tracing::warn!(%error, "metrics could not be encoded");
    }
    String::from_utf8(buffer).unwrap_or_default()
}
