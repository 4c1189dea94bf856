//! Each service's queue is bound to exactly the event types its handlers declare, each for the
//! subjects it follows: an event of every known type — about no subject, about a violation case,
//! about another kind of subject — is published to a host running one service on the in-process
//! bus, and what reached the service (applied, or refused and parked) must be exactly its handled
//! types. A binding without a handler would deliver an event nobody handles; it would be parked
//! here, and the test names it. Runs on SQLite or PostgreSQL; the bus is always the in-process
//! one, the only one whose deliveries can be read back.

mod support;

use std::collections::BTreeSet;

use chrono::Utc;
use nazer_shared::db::{DbConnection, count_rows};
use nazer_shared::events::Envelope;
use nazer_shared::testing::TestApp;

/// Every event type the services publish (`shared/src/events.rs`).
const EVENT_TYPES: [&str; 33] = [
    "message.received",
    "message.assigned",
    "message.needs_triage",
    "message.declined",
    "message.closed",
    "message.reopened",
    "message.reopen_window_set",
    "response.rated",
    "response.reviewed",
    "message.responded",
    "message.acknowledged",
    "deadline.scheduled",
    "deadline.moved",
    "deadline.paused",
    "deadline.resumed",
    "deadline.met",
    "deadline.reminder",
    "warning.issued",
    "violation.case_opened",
    "violation.classified",
    "violation.remedial_step",
    "violation.verdict",
    "violation.culpability_opened",
    "violation.culpability_referred",
    "committee.decision_recorded",
    "violation.culpability_closed",
    "stage.opened",
    "stage.closed",
    "stage.paused",
    "stage.resumed",
    "notification.delivered",
    "notification.failed",
    "areas.imported",
];

/// The subjects each event is published about: none (a message), a violation case, another.
const SUBJECTS: [Option<&str>; 3] = [None, Some("violation_case"), Some("instruction")];

/// An event of `event_type` about `subject` whose payload no handler can read: handled or not,
/// a bound consumer refuses it and parks it, which tells which events reached the consumer.
fn unreadable(event_type: &str, subject: Option<&str>) -> Envelope {
    Envelope {
        event_id: uuid::Uuid::now_v7(),
        event_type: event_type.into(),
        version: 1,
        occurred_at: Utc::now(),
        aggregate_id: "bindings-test".into(),
        producer: "bindings-test".into(),
        payload: match subject {
            Some(kind) => serde_json::json!({ "unreadable": true, "subject": { "kind": kind } }),
            None => serde_json::json!({ "unreadable": true }),
        },
        trace_parent: None,
    }
}

fn types_of(app: &TestApp, table: &str, consumer: &str) -> BTreeSet<String> {
    let mut conn = app.db().get().unwrap();
    EVENT_TYPES
        .iter()
        .filter(|t| {
            let query =
                format!("SELECT count(*) AS n FROM {table} WHERE consumer = '{consumer}' AND event_type = '{t}'");
            count_rows(&mut conn, &query).unwrap() > 0
        })
        .map(|t| t.to_string())
        .collect()
}

/// The routing keys of the events parked by `consumer`.
fn parked_keys(app: &TestApp, consumer: &str) -> BTreeSet<String> {
    #[derive(diesel::QueryableByName)]
    struct Parked {
        #[diesel(sql_type = diesel::sql_types::Text)]
        envelope: String,
    }
    let mut conn = app.db().get().unwrap();
    let query = format!("SELECT envelope FROM parked_events WHERE consumer = '{consumer}'");
    let parked: Vec<Parked> = match &mut *conn {
        DbConnection::Pg(c) => diesel::RunQueryDsl::load(diesel::sql_query(query), c).unwrap(),
        DbConnection::Sqlite(c) => diesel::RunQueryDsl::load(diesel::sql_query(query), c).unwrap(),
    };
    parked.iter().map(|p| Envelope::from_bytes(p.envelope.as_bytes()).unwrap().routing_key()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_is_bound_to_exactly_the_events_it_handles() {
    for entry in support::SERVICES {
        let mut app = TestApp::start_with(&[entry], |settings| settings.broker.url = None).await;
        let bus = app.host.as_ref().map(|host| host.bus.clone()).unwrap();
        for event_type in EVENT_TYPES {
            for subject in SUBJECTS {
                bus.publish(&unreadable(event_type, subject)).await.unwrap();
            }
        }
        let bindings = (entry.consumes)();
        let handled: BTreeSet<String> =
            bindings.iter().map(|b| b.split('.').take(2).collect::<Vec<_>>().join(".")).collect();
        assert!(!handled.is_empty(), "{} handles nothing", entry.name);
        let reached = types_of(&app, "parked_events", entry.name);
        assert_eq!(reached, handled, "{}: the event types bound to its queue are not the ones it handles", entry.name);
        let keys = parked_keys(&app, entry.name);
        match entry.name {
            // The cases' clocks only: no message's clock event, nor another subject's.
            "violation-referral" => assert!(
                keys.iter().all(
                    |k| !k.starts_with("deadline.") && !k.starts_with("warning.") || k.ends_with(".violation_case")
                ),
                "{keys:?}"
            ),
            // A message's view shows the message's own clocks only.
            "intake" => assert!(keys.iter().all(|k| k.split('.').count() == 2), "{keys:?}"),
            // Deadline-timer runs the stages of any subject; notification tells of them all.
            "deadline-timer" => assert!(keys.contains("stage.opened.instruction"), "{keys:?}"),
            "notification" => {
                assert!(keys.contains("warning.issued.violation_case") && keys.contains("warning.issued"), "{keys:?}")
            }
            _ => {}
        }
        let acknowledged = types_of(&app, "inbox", entry.name);
        assert!(acknowledged.is_empty(), "{}: unreadable events acknowledged: {acknowledged:?}", entry.name);
        app.stop().await;
    }
}
