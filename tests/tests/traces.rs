//! One message, one trace: the five services run as separate processes over PostgreSQL and
//! RabbitMQ and export their spans over OTLP/HTTP to a real receiver (protobuf, as a collector
//! takes it). The call centre opens the trace; intake's request, each outbox relay's publish,
//! each consumer and the webhook call must all be spans of that one trace, each a child of the
//! span that caused it. PostgreSQL and RabbitMQ (NAZER_TEST_DATABASE_URL,
//! NAZER_TEST_BROKER_URL); skipped without them, except with CI=true.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{HttpResponse, web};
use nazer_shared::testing::{ADMIN_KEY, LocalServer, WebhookReceiver};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message as _;
use serde_json::json;
use support::{CATEGORY, Endpoints, Process, World, configure};

/// One span as the receiver got it.
#[derive(Debug, Clone)]
struct ReceivedSpan {
    service: String,
    name: String,
    kind: i32,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: HashMap<String, String>,
}

/// An OTLP/HTTP trace receiver: `POST /v1/traces` with an `ExportTraceServiceRequest`.
struct OtlpReceiver {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    server: LocalServer,
}

impl OtlpReceiver {
    fn start() -> Self {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let store = spans.clone();
        let server = LocalServer::start(move |cfg| {
            let store = store.clone();
            cfg.route(
                "/v1/traces",
                web::post().to(move |body: web::Bytes| {
                    let store = store.clone();
                    async move {
                        let Ok(request) = ExportTraceServiceRequest::decode(body.as_ref()) else {
                            return HttpResponse::BadRequest().body("not an ExportTraceServiceRequest");
                        };
                        store.lock().unwrap_or_else(|p| p.into_inner()).extend(flatten(request));
                        HttpResponse::Ok()
                            .content_type("application/x-protobuf")
                            .body(ExportTraceServiceResponse::default().encode_to_vec())
                    }
                }),
            );
        });
        Self { spans, server }
    }

    fn spans_of(&self, trace_id: &str) -> Vec<ReceivedSpan> {
        let spans = self.spans.lock().unwrap_or_else(|p| p.into_inner());
        spans.iter().filter(|s| s.trace_id == trace_id).cloned().collect()
    }
}

fn text(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

fn flatten(request: ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut spans = Vec::new();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .map(|kv| text(kv.value.as_ref()))
            .unwrap_or_default();
        for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
            spans.push(ReceivedSpan {
                service: service.clone(),
                name: span.name,
                kind: span.kind,
                trace_id: hex::encode(&span.trace_id),
                span_id: hex::encode(&span.span_id),
                parent_span_id: hex::encode(&span.parent_span_id),
                attributes: span.attributes.iter().map(|kv| (kv.key.clone(), text(kv.value.as_ref()))).collect(),
            });
        }
    }
    spans
}

// OTLP span kinds.
const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const PRODUCER: i32 = 4;
const CONSUMER: i32 = 5;

/// The one span of `service` named `name` in the trace (there must be exactly one).
fn one<'a>(spans: &'a [ReceivedSpan], service: &str, name: &str) -> &'a ReceivedSpan {
    let found: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.service == service && s.name == name).collect();
    assert_eq!(found.len(), 1, "one `{name}` span of {service}, found {}: {spans:#?}", found.len());
    found[0]
}

fn assert_child(child: &ReceivedSpan, parent: &ReceivedSpan, kind: i32) {
    assert_eq!(child.kind, kind, "kind of {} ({})", child.name, child.service);
    assert_eq!(
        child.parent_span_id, parent.span_id,
        "`{}` of {} must be a child of `{}` of {}",
        child.name, child.service, parent.name, parent.service
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_is_one_trace_across_the_services_and_the_broker() {
    let otlp = OtlpReceiver::start();
    let Some(world) = World::prepare(&[
        ("NAZER__TELEMETRY__OTLP_ENDPOINT", otlp.server.url.as_str()),
        ("NAZER__OUTBOX__POLL_INTERVAL_MS", "100"),
        ("NAZER__WEBHOOKS__POLL_INTERVAL_MS", "100"),
        // The SDK's batch processor exports every half second instead of every five.
        ("OTEL_BSP_SCHEDULE_DELAY", "500"),
    ]) else {
        return;
    };
    let names = ["intake", "routing", "deadline-timer", "violation-referral", "notification"];
    let mut processes: Vec<Process> = names.iter().map(|name| world.spawn(name, name)).collect();
    for process in &mut processes {
        process.wait_ready(Duration::from_secs(30)).await;
    }
    let base = |name: &str| processes.iter().find(|p| p.name == name).map(|p| p.base.clone()).unwrap_or_default();
    let endpoints = Endpoints {
        intake: base("intake"),
        routing: base("routing"),
        deadline_timer: base("deadline-timer"),
        notification: base("notification"),
    };
    let webhooks = WebhookReceiver::start().await;
    configure(&endpoints, ADMIN_KEY, "P1D", &format!("{}/agency", webhooks.url)).await;

    // The call centre's own trace: Nazer's spans must join it.
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let caller_span = "00f067aa0ba902b7";
    let body = json!({ "kind": "complaint", "channel": "call_center", "category": CATEGORY,
                       "body": "پیام ردیابی", "province": "tehran" });
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/messages", endpoints.intake))
        .bearer_auth(ADMIN_KEY)
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("post: {e}"));
    assert_eq!(response.status().as_u16(), 201);

    let expected = [
        ("nazer-intake", "POST /api/v1/messages"),
        ("nazer-intake", "publish message.received"),
        ("nazer-routing", "consume message.received"),
        ("nazer-routing", "publish message.assigned"),
        ("nazer-deadline-timer", "consume message.assigned"),
        ("nazer-deadline-timer", "publish deadline.scheduled"),
        ("nazer-notification", "consume message.assigned"),
        ("nazer-notification", "POST webhook message.assigned"),
        ("nazer-notification", "publish notification.delivered"),
        ("nazer-intake", "consume message.assigned"),
        ("nazer-intake", "consume deadline.scheduled"),
    ];
    let complete = |spans: &[ReceivedSpan]| {
        expected.iter().all(|(service, name)| spans.iter().any(|s| s.service == *service && s.name == *name))
    };
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let spans = otlp.spans_of(&trace_id);
            if complete(&spans) {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let spans = waited.unwrap_or_else(|_| {
        let all = otlp.spans.lock().map(|s| s.clone()).unwrap_or_default();
        let seen: Vec<String> =
            all.iter().map(|s| format!("{} {} {} <- {}", s.service, s.name, s.trace_id, s.parent_span_id)).collect();
        let logs: String = processes.iter().map(|p| format!("--- {} ---\n{}", p.name, p.output())).collect();
        panic!("the message's path was not all in trace {trace_id}; spans received:\n{}\n{logs}", seen.join("\n"))
    });

    let request = one(&spans, "nazer-intake", "POST /api/v1/messages");
    assert_eq!(request.kind, SERVER);
    assert_eq!(request.parent_span_id, caller_span, "intake's request continues the caller's trace");
    assert_eq!(request.attributes.get("http.response.status_code").map(String::as_str), Some("201"));
    let received = one(&spans, "nazer-intake", "publish message.received");
    assert_child(received, request, PRODUCER);
    let routed = one(&spans, "nazer-routing", "consume message.received");
    assert_child(routed, received, CONSUMER);
    let assigned = one(&spans, "nazer-routing", "publish message.assigned");
    assert_child(assigned, routed, PRODUCER);
    let timed = one(&spans, "nazer-deadline-timer", "consume message.assigned");
    assert_child(timed, assigned, CONSUMER);
    assert_child(one(&spans, "nazer-deadline-timer", "publish deadline.scheduled"), timed, PRODUCER);
    let notified = one(&spans, "nazer-notification", "consume message.assigned");
    assert_child(notified, assigned, CONSUMER);
    let webhook = one(&spans, "nazer-notification", "POST webhook message.assigned");
    assert_child(webhook, notified, CLIENT);
    assert_child(one(&spans, "nazer-notification", "publish notification.delivered"), webhook, PRODUCER);
    assert_child(one(&spans, "nazer-intake", "consume message.assigned"), assigned, CONSUMER);
    // Every span's parent is in the trace, but the caller's own.
    for span in &spans {
        assert!(
            span.parent_span_id == caller_span || spans.iter().any(|p| p.span_id == span.parent_span_id),
            "{} of {} has a parent outside the trace",
            span.name,
            span.service
        );
    }

    // The agency's receiver got the trace context too, naming the webhook span as parent.
    let hooks = webhooks.received();
    let hook = hooks
        .iter()
        .find(|h| h.header("x-nazer-event-type") == Some("message.assigned"))
        .unwrap_or_else(|| panic!("no message.assigned webhook"));
    assert_eq!(hook.header("traceparent"), Some(format!("00-{trace_id}-{}-01", webhook.span_id).as_str()));

    // Log lines carry the trace id beside the message's id, and nothing about the reporter.
    let intake_log = processes.iter().find(|p| p.name == "intake").map(Process::output).unwrap_or_default();
    let traced_line = intake_log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["trace_id"] == trace_id.as_str() && line["message"] == "message received")
        .unwrap_or_else(|| panic!("no intake log line with the trace id:\n{intake_log}"));
    assert!(traced_line["message_id"].is_string() && traced_line["span_id"].is_string(), "{traced_line}");
    assert_eq!(traced_line["http.route"], "/api/v1/messages", "{traced_line}");

    println!("one trace {trace_id}: {} spans from the separate processes", spans.len());
    let mut ordered = spans.clone();
    ordered.sort_by(|a, b| (a.service.as_str(), a.name.as_str()).cmp(&(b.service.as_str(), b.name.as_str())));
    for span in &ordered {
        println!("  {:<22} {:<34} span {} parent {}", span.service, span.name, span.span_id, span.parent_span_id);
    }

    for process in &mut processes {
        process.terminate();
    }
    world.delete_queues().await;
    webhooks.stop().await;
    otlp.server.stop().await;
}
