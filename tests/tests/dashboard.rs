//! The Grafana dashboard is built on metrics the services really expose: every `nazer_…`
//! series a panel queries must be in the `/metrics` text, and every metric the issue asks an
//! operator to watch must have a panel.

use std::collections::BTreeSet;

use nazer_shared::metrics;

fn dashboard() -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../helm/nazer/dashboards/nazer.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `nazer_…` names in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("nazer_") {
        let name: String = rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        rest = &rest[at + name.len()..];
        names.push(name);
    }
    names
}

#[test]
fn every_panel_queries_metrics_the_services_expose() {
    // Give every labelled metric one series, as a running service would.
    metrics::http_request("GET", "/api/v1/messages", 200, 0.01);
    metrics::event_published("intake", "message.received");
    metrics::publish_failed("intake");
    metrics::events_consumed("routing", "message.received", "applied");
    metrics::ack_lost("routing");
    metrics::warnings_issued(1, 1);
    metrics::webhook_attempt("delivered");
    metrics::delivery_finished("failed");
    metrics::reminder_sent("respond");
    metrics::fire_lag("warning", 0.1);
    metrics::outbox_backlog("intake", 3);
    metrics::outbox_oldest_age("intake", 1.5);
    metrics::deadlines_running("deadline-timer", 10);
    metrics::deadlines_due("deadline-timer", 0);
    let exposed = metrics::render();

    let dashboard = dashboard();
    let panels = dashboard["panels"].as_array().cloned().unwrap_or_default();
    let mut queried = BTreeSet::new();
    for panel in &panels {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or_default();
            assert!(!expr.is_empty() || panel["type"] == "row", "panel {} has an empty query", panel["title"]);
            for name in metric_names(expr) {
                assert!(
                    exposed.contains(&format!("\n{name}{{")) || exposed.contains(&format!("\n{name} ")),
                    "panel {} queries {name}, which /metrics does not expose",
                    panel["title"]
                );
                queried.insert(name);
            }
        }
    }
    // What operators must be able to watch (the deployment issue's list).
    for needed in [
        "nazer_http_requests_total",
        "nazer_http_request_duration_seconds_bucket",
        "nazer_events_consumed_total",
        "nazer_events_published_total",
        "nazer_outbox_backlog",
        "nazer_outbox_oldest_age_seconds",
        "nazer_deadlines_running",
        "nazer_deadlines_due",
        "nazer_warnings_issued_total",
        "nazer_webhook_deliveries_total",
    ] {
        assert!(queried.contains(needed), "no panel shows {needed}");
    }
    assert!(panels.len() >= 10, "{} panels", panels.len());
}
