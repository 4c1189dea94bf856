//! The whole flow in one process, as `nazer up` runs it: the five services on one host (SQLite
//! and the in-process bus, or PostgreSQL and RabbitMQ when their test URLs are set).

mod support;

use std::time::Duration;

use nazer_shared::http::Scope;
use nazer_shared::testing::{ADMIN_KEY, TestApp, WebhookReceiver, eventually, fixtures};
use serde_json::json;
use support::{
    AGENCY, Endpoints, configure, expect_assigned_and_warned_once, expect_one_warning_per_message,
    expect_signed_webhooks, post_messages,
};

const ALL: [nazer_shared::runtime::ServiceEntry; 5] = [
    nazer_intake::SERVICE,
    nazer_routing::SERVICE,
    nazer_deadline_timer::SERVICE,
    nazer_violation_referral::SERVICE,
    nazer_notification::SERVICE,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_routed_warned_once_and_notified_in_one_process() {
    let receiver = WebhookReceiver::start().await;
    let mut app = TestApp::start(&ALL).await;
    let endpoints = Endpoints::single(&app.base);
    configure(&endpoints, ADMIN_KEY, "PT2S", &format!("{}/agency", receiver.url)).await;

    let codes = post_messages(&app.base, ADMIN_KEY, 12).await;
    expect_assigned_and_warned_once(&app.base, ADMIN_KEY, &codes, Duration::from_secs(30)).await;
    // Wait past another firing round: still one warning each.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    expect_one_warning_per_message(&app.base, ADMIN_KEY, codes.len()).await;
    eventually(Duration::from_secs(20), "every webhook", || async {
        let received = receiver.received();
        let warnings = received.iter().filter(|r| r.header("x-nazer-event-type") == Some("warning.issued")).count();
        (warnings >= codes.len()).then_some(())
    })
    .await;
    expect_signed_webhooks(&receiver.received(), codes.len());

    let (status, cases) = app.get("/api/v1/violation-cases?limit=100", ADMIN_KEY).await;
    assert_eq!(status, 200);
    assert_eq!(
        cases["violation_cases"].as_array().map(Vec::len),
        Some(codes.len() / 2),
        "one case per violation report"
    );
    app.stop().await;
    receiver.stop().await;
}

/// All five services with a respond budget of `budget`, the assigned agency's key, and one
/// message posted (its page's path).
struct OneMessage {
    receiver: WebhookReceiver,
    app: TestApp,
    agency_key: String,
    path: String,
}

async fn one_message(budget: &str) -> OneMessage {
    let receiver = WebhookReceiver::start().await;
    let app = TestApp::start(&ALL).await;
    configure(&Endpoints::single(&app.base), ADMIN_KEY, budget, &format!("{}/agency", receiver.url)).await;
    let agency_key = fixtures::api_key(&app, &[Scope::Agency], Some(AGENCY));
    let code = post_messages(&app.base, ADMIN_KEY, 1).await.remove(0);
    OneMessage { receiver, app, agency_key, path: format!("/api/v1/messages/{code}") }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_before_the_due_time_stops_the_clock() {
    let OneMessage { receiver, mut app, agency_key, path } = one_message("PT4S").await;
    eventually(Duration::from_secs(10), "assignment", || async {
        let (_, view) = app.get(&path, ADMIN_KEY).await;
        (view["status"] == "assigned" && view["deadlines"].as_array().is_some_and(|d| !d.is_empty())).then_some(())
    })
    .await;
    let (status, answer) = app
        .post(
            &format!("{path}/responses"),
            &agency_key,
            &json!({"outcome": "resolved", "body": "پرونده به کمیسیون ماده صد رفت"}),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let met = eventually(Duration::from_secs(10), "the deadline met", || async {
        let (_, view) = app.get(&path, ADMIN_KEY).await;
        (view["deadlines"][0]["state"] == "met").then_some(view)
    })
    .await;
    assert_eq!(met["status"], "responded");
    // Past the due time: no warning.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (_, view) = app.get(&path, ADMIN_KEY).await;
    assert_eq!(view["warnings"], json!([]), "{view}");
    let (_, warnings) = app.get("/api/v1/warnings", ADMIN_KEY).await;
    assert_eq!(warnings["warnings"], json!([]));
    app.stop().await;
    receiver.stop().await;
}

/// A clock that ran out and was then answered says `answered_late` in both places that show it:
/// deadline-timer's deadlines and intake's message view (one vocabulary for the same clock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_after_the_due_time_is_answered_late_in_both_views() {
    let OneMessage { receiver, mut app, agency_key, path } = one_message("PT2S").await;
    let breached = eventually(Duration::from_secs(20), "the deadline breached", || async {
        let (_, view) = app.get(&path, ADMIN_KEY).await;
        (view["deadlines"][0]["state"] == "breached").then_some(view)
    })
    .await;
    let message_id = breached["id"].as_str().unwrap_or_default().to_string();
    let (status, answer) = app
        .post(&format!("{path}/responses"), &agency_key, &json!({"outcome": "resolved", "body": "پاسخ پس از مهلت"}))
        .await;
    assert_eq!(status, 201, "{answer}");
    let deadlines = format!("/api/v1/deadlines?message_id={message_id}");
    let (message, clocks) = eventually(Duration::from_secs(10), "answered_late in both views", || async {
        let (_, message) = app.get(&path, ADMIN_KEY).await;
        let (_, clocks) = app.get(&deadlines, ADMIN_KEY).await;
        (message["deadlines"][0]["state"] == "answered_late" && clocks["deadlines"][0]["state"] == "answered_late")
            .then_some((message, clocks))
    })
    .await;
    assert_eq!(message["status"], "responded", "{message}");
    assert_eq!(clocks["deadlines"].as_array().map(Vec::len), Some(1), "{clocks}");
    app.stop().await;
    receiver.stop().await;
}
