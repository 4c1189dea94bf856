//! The culpability track before the compliance committee, over the API: the unit refers a case
//! (no body needed), the committee holds a session and records one decision per case, records
//! the outcome — an Article 9 penalty or a judicial result — and closes the watched outcome; a
//! `no_fault` decision closes the track at once. Agencies never reach any of it.

use chrono::Utc;
use nazer_shared::events::{CommitteeDecisionRecorded, StageClosed, StageOpened, ViolationCulpabilityClosed};
use nazer_shared::http::Scope;
use nazer_shared::testing::TestApp;
use nazer_shared::testing::fixtures::{api_key, message_assigned, unit_key, write};
use nazer_violation_referral::{store, types};
use serde_json::{Value, json};

const CASES: &str = "/api/v1/violation-cases";
const SESSIONS: &str = "/api/v1/compliance-committee/sessions";
const UNIT: &str = "inspection-urban-planning";

/// A host with the shipped catalogue and `count` classified cases of `district-3`, each with its
/// findings recorded by the unit; the cases' paths.
async fn start(count: usize) -> (TestApp, Vec<String>) {
    let app = TestApp::start(&[nazer_violation_referral::SERVICE]).await;
    write(&app, |conn| types::store::seed_catalogue(conn, Utc::now()));
    let inspector = api_key(&app, &[Scope::Supervisor], None);
    let unit = unit_key(&app, &[Scope::CounterpartUnit], UNIT);
    let mut cases = Vec::new();
    for n in 0..count {
        let assigned = nazer_shared::events::MessageAssigned {
            kind: "violation_report".into(),
            ..message_assigned(&format!("message-{n}"), "district-3")
        };
        let id = write(&app, move |conn| store::open_case(conn, &assigned, Utc::now())).expect("a case opens");
        let case = format!("{CASES}/{id}");
        let classification = json!({"violation_type": "building.unauthorized"});
        assert_eq!(app.post(&format!("{case}/classification"), &inspector, &classification).await.0, 200);
        let referral = json!({"unit": UNIT, "reason": "بررسی قصور ناظران"});
        assert_eq!(app.post(&format!("{case}/culpability"), &inspector, &referral).await.0, 201);
        let findings = json!({"summary": "ناظر تخلف را گزارش نکرده است", "fault": "negligence",
            "officials": [{"full_name": "رضا محمدی", "position": "ناظر ساختمان"}]});
        assert_eq!(app.post(&format!("{case}/culpability/findings"), &unit, &findings).await.0, 201);
        cases.push(case);
    }
    (app, cases)
}

fn fields(body: &Value) -> Vec<String> {
    nazer_shared::testing::problem_fields(body)
}

fn id_of(case: &str) -> &str {
    case.rsplit('/').next().unwrap_or_default()
}

/// Sends `POST path` with no body at all.
async fn post_empty(app: &TestApp, path: &str, key: &str) -> (u16, Value) {
    let response = reqwest::Client::new().post(app.url(path)).bearer_auth(key).send().await.unwrap();
    nazer_shared::testing::read(response).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_case_goes_before_the_committee_is_decided_and_its_outcome_watched_until_closed() {
    let (mut app, cases) = start(1).await;
    let case = &cases[0];
    let unit = unit_key(&app, &[Scope::CounterpartUnit], UNIT);
    let committee = api_key(&app, &[Scope::ComplianceCommittee], None);
    let inspector = api_key(&app, &[Scope::Supervisor], None);
    let agency = api_key(&app, &[Scope::Agency], Some("district-3"));

    // Another unit cannot reach the case (404, as a missing one); the committee and inspectors
    // do not refer for the unit.
    let other_unit = unit_key(&app, &[Scope::CounterpartUnit], "inspection-finance-transactions");
    assert_eq!(post_empty(&app, &format!("{case}/culpability/referral"), &other_unit).await.0, 404);
    assert_eq!(post_empty(&app, &format!("{case}/culpability/referral"), &committee).await.0, 403);
    assert_eq!(post_empty(&app, &format!("{case}/culpability/referral"), &inspector).await.0, 403);
    assert_eq!(post_empty(&app, &format!("{case}/culpability/referral"), "").await.0, 401);
    // The unit refers it with no body at all; a second referral is refused.
    let (status, body) = post_empty(&app, &format!("{case}/culpability/referral"), &unit).await;
    assert_eq!((status, body["culpability"]["state"].as_str()), (201, Some("at_committee")), "{body}");
    assert_eq!(post_empty(&app, &format!("{case}/culpability/referral"), &unit).await.0, 409);
    assert_eq!(app.post(&format!("{case}/culpability/referral"), &agency, &json!({})).await.0, 403);
    let (status, body) =
        app.post(&format!("{case}/culpability/referral"), &unit, &json!({"reference_date": "x"})).await;
    assert_eq!((status, fields(&body)), (422, vec!["reference_date".to_string()]), "bad input is named first: {body}");

    // On the committee's agenda, as JSON and as CSV; in the lists filtered by track state and unit.
    let (status, agenda) = app.get("/api/v1/compliance-committee/agenda", &committee).await;
    assert_eq!((status, agenda["agenda"][0]["case_id"].as_str()), (200, Some(id_of(case))), "{agenda}");
    assert_eq!(agenda["agenda"][0]["fault"], "negligence");
    let response = reqwest::Client::new()
        .get(app.url("/api/v1/compliance-committee/agenda?format=csv"))
        .bearer_auth(&committee)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    let text = response.text().await.unwrap();
    assert!(text.starts_with("\u{feff}case_id,tracking_code,") && text.contains(id_of(case)), "{text}");
    assert_eq!(app.get("/api/v1/compliance-committee/agenda?format=xml", &committee).await.0, 422);
    assert_eq!(app.get("/api/v1/compliance-committee/agenda", &agency).await.0, 403);
    assert_eq!(app.get("/api/v1/compliance-committee/agenda", &unit).await.0, 403);
    let listed = |body: &Value| body["violation_cases"].as_array().map(Vec::len);
    let (_, list) = app.get(&format!("{CASES}?culpability_state=at_committee&unit_id={UNIT}"), &committee).await;
    assert_eq!(listed(&list), Some(1), "{list}");
    let (_, list) = app.get(&format!("{CASES}?culpability_state=closed"), &inspector).await;
    assert_eq!(listed(&list), Some(0), "{list}");
    let (status, body) = app.get(&format!("{CASES}?culpability_state=lost"), &inspector).await;
    assert_eq!((status, fields(&body)), (422, vec!["culpability_state".to_string()]), "{body}");
    // An agency's filter on the track it must not know of changes nothing.
    let (_, list) = app.get(&format!("{CASES}?culpability_state=closed"), &agency).await;
    assert_eq!(listed(&list), Some(1), "{list}");

    // A session: bad ones named field by field; only the committee holds one.
    let (status, body) =
        app.post(SESSIONS, &committee, &json!({"held_on": "soon", "members": [{"position": "p"}]})).await;
    assert_eq!((status, fields(&body)), (422, vec!["held_on".to_string(), "members[0].name".to_string()]), "{body}");
    let session = json!({"held_on": "1405-09-17", "members": [{"name": "دبیر کمیته", "position": "دبیر"}]});
    assert_eq!(app.post(SESSIONS, &inspector, &session).await.0, 403);
    assert_eq!(app.post(SESSIONS, &unit, &session).await.0, 403);
    let (status, held) = app.post(SESSIONS, &committee, &session).await;
    assert_eq!((status, held["held_on"].as_str()), (201, Some("1405/09/17")), "{held}");
    let decisions = format!("{SESSIONS}/{}/decisions", held["id"].as_str().unwrap());

    // The decision: named refusals, an unknown session or case, then once per case.
    let (status, body) = app.post(&decisions, &committee, &json!({"case_id": "x", "decision": "jail"})).await;
    assert_eq!(
        (status, fields(&body)),
        (422, vec!["case_id".to_string(), "decision".to_string(), "reasoning".to_string()]),
        "{body}"
    );
    let decision = json!({"case_id": id_of(case), "decision": "violations_board", "reasoning": "قصور محرز است"});
    let unknown = format!("{SESSIONS}/{}/decisions", uuid::Uuid::now_v7());
    assert_eq!(app.post(&unknown, &committee, &decision).await.0, 404);
    let missing = json!({"case_id": uuid::Uuid::now_v7().to_string(), "decision": "no_fault", "reasoning": "r"});
    assert_eq!(app.post(&decisions, &committee, &missing).await.0, 404);
    assert_eq!(app.post(&decisions, &inspector, &decision).await.0, 403);
    let (status, body) = app.post(&decisions, &committee, &decision).await;
    assert_eq!((status, body["decision"].as_str()), (201, Some("violations_board")), "{body}");
    let (status, body) = app.post(&decisions, &committee, &decision).await;
    assert_eq!(status, 409, "one decision per case: {body}");
    let (_, session_read) = app.get(&format!("{SESSIONS}/{}", held["id"].as_str().unwrap()), &inspector).await;
    assert_eq!(session_read["decisions"][0]["case_id"], id_of(case), "{session_read}");
    let (_, list) = app.get(SESSIONS, &committee).await;
    assert_eq!(list["sessions"].as_array().map(Vec::len), Some(1), "{list}");
    let (_, agenda) = app.get("/api/v1/compliance-committee/agenda", &committee).await;
    assert_eq!(agenda["agenda"], json!([]), "decided, off the agenda: {agenda}");
    assert_eq!(app.get(SESSIONS, &agency).await.0, 403);

    // The outcome: it must fit the decision, and name a real Article 9 clause — as the law's
    // data lists them, beside Article 8's 38 items.
    let (status, law) = app.get("/api/v1/administrative-violations", &committee).await;
    assert_eq!(status, 200);
    assert_eq!(
        (law["violations"].as_array().map(Vec::len), law["penalties"].as_array().map(Vec::len)),
        (Some(38), Some(11))
    );
    assert_eq!(law["penalties"][1]["clause"], "ب", "{law}");
    assert_eq!(app.get("/api/v1/administrative-violations", "").await.0, 401);
    let outcome = format!("{case}/culpability/outcome");
    let (status, body) = app.post(&outcome, &committee, &json!({"penalty": "ل", "body": ""})).await;
    assert_eq!((status, fields(&body)), (422, vec!["penalty".to_string(), "body".to_string()]), "{body}");
    let (status, body) = app.post(&outcome, &committee, &json!({"body": "رأی هیئت صادر شد"})).await;
    assert_eq!(status, 409, "a penalty or a judicial result is required: {body}");
    assert_eq!(app.post(&outcome, &unit, &json!({"penalty": "ب", "body": "b"})).await.0, 403);
    let (status, body) = app
        .post(
            &outcome,
            &committee,
            &json!({"penalty": "ب", "body": "توبیخ کتبی با درج در پرونده", "reference": "۱۲/ک"}),
        )
        .await;
    assert_eq!((status, body["culpability"]["state"].as_str()), (201, Some("outcome_recorded")), "{body}");
    let steps = body["culpability"]["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().filter_map(|s| s["step"].as_str()).collect();
    assert_eq!(names, ["opened", "findings", "referred", "decided", "outcome"], "{body}");
    assert_eq!(steps[4]["detail"]["penalty"], "ب");

    // Closed once watched; then nothing more.
    let closure = format!("{case}/culpability/closure");
    assert_eq!(app.post(&closure, &committee, &json!({})).await.0, 422);
    for key in [&unit, &inspector, &agency] {
        assert_eq!(app.post(&closure, key, &json!({"body": "b"})).await.0, 403);
    }
    let (status, body) = app.post(&closure, &committee, &json!({"body": "حکم اجرا شد"})).await;
    assert_eq!((status, body["culpability"]["state"].as_str()), (200, Some("closed")), "{body}");
    assert_eq!(app.post(&closure, &committee, &json!({"body": "again"})).await.0, 409);

    // Each stage on the clock: the decision, the outcome, the watch; all stopped once closed.
    // The unit answers for its findings and referral, the committee for the rest.
    let opened: Vec<(String, String)> = app
        .outbox_events("violation-referral", "stage.opened")
        .iter()
        .map(|e| e.decode::<StageOpened>().unwrap())
        .filter(|s| s.stage.starts_with("culpability."))
        .map(|s| (s.stage, s.agency_id))
        .collect();
    let unit_recipient = format!("unit:{UNIT}");
    let expected = [
        ("culpability.findings_recorded", unit_recipient.as_str()),
        ("culpability.at_committee", unit_recipient.as_str()),
        ("culpability.decided", "committee:compliance"),
        ("culpability.outcome_recorded", "committee:compliance"),
        ("culpability.closed", "committee:compliance"),
    ];
    assert_eq!(opened, expected.map(|(s, a)| (s.to_string(), a.to_string())));
    let closed: Vec<String> = app
        .outbox_events("violation-referral", "stage.closed")
        .iter()
        .map(|e| e.decode::<StageClosed>().unwrap().stage)
        .filter(|s| s.starts_with("culpability."))
        .collect();
    assert_eq!(closed.len(), opened.len(), "every stage's clock stops: {closed:?}");

    // Announced, naming no agency.
    let referred = app.outbox_events("violation-referral", "violation.culpability_referred");
    let recorded = app.outbox_events("violation-referral", "committee.decision_recorded");
    let ended = app.outbox_events("violation-referral", "violation.culpability_closed");
    assert_eq!((referred.len(), recorded.len(), ended.len()), (1, 1, 1));
    let recorded: CommitteeDecisionRecorded = recorded[0].decode().unwrap();
    assert_eq!((recorded.decision.as_str(), recorded.unit_id.as_str()), ("violations_board", UNIT));
    let ended_event: ViolationCulpabilityClosed = ended[0].decode().unwrap();
    assert_eq!(ended_event.state, "closed");
    for event in referred.iter().chain(&ended) {
        assert!(event.payload.get("agency_id").is_none(), "{:?}", event.payload);
    }

    // The agency's view holds nothing of it.
    let (status, body) = app.get(case, &agency).await;
    assert_eq!(status, 200);
    assert!(!body.to_string().contains("culpability") && !body.to_string().contains("committee"), "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_fault_closes_the_track_and_a_prosecutor_case_records_a_judicial_result() {
    let (mut app, cases) = start(2).await;
    let unit = unit_key(&app, &[Scope::CounterpartUnit], UNIT);
    let committee = api_key(&app, &[Scope::ComplianceCommittee], None);
    // Before the unit refers it, the committee cannot decide it.
    let (_, held) = app.post(SESSIONS, &committee, &json!({"held_on": "2026-12-08", "members": [{"name": "م"}]})).await;
    assert_eq!(held["held_on"], "1405/09/17", "a Gregorian day is kept as Solar Hijri: {held}");
    let decisions = format!("{SESSIONS}/{}/decisions", held["id"].as_str().unwrap());
    let no_fault = json!({"case_id": id_of(&cases[0]), "decision": "no_fault", "reasoning": "قصوری احراز نشد"});
    let (status, body) = app.post(&decisions, &committee, &no_fault).await;
    assert_eq!(status, 409, "not referred yet: {body}");
    for case in &cases {
        assert_eq!(post_empty(&app, &format!("{case}/culpability/referral"), &unit).await.0, 201);
    }
    assert_eq!(app.post(&decisions, &committee, &no_fault).await.0, 201);
    let (_, body) = app.get(&cases[0], &committee).await;
    assert_eq!(body["culpability"]["state"], "closed_no_fault", "{body}");
    let (status, body) =
        app.post(&format!("{}/culpability/outcome", cases[0]), &committee, &json!({"body": "b"})).await;
    assert_eq!(status, 409, "no outcome after no fault: {body}");

    let prosecutor = json!({"case_id": id_of(&cases[1]), "decision": "prosecutor", "reasoning": "شائبه جرم"});
    assert_eq!(app.post(&decisions, &committee, &prosecutor).await.0, 201);
    let outcome = format!("{}/culpability/outcome", cases[1]);
    assert_eq!(app.post(&outcome, &committee, &json!({"penalty": "الف", "body": "b"})).await.0, 409);
    let judged = json!({"judicial_result": "محکومیت به انفصال موقت", "body": "دادنامه صادر شد"});
    let (status, body) = app.post(&outcome, &committee, &judged).await;
    assert_eq!((status, body["culpability"]["state"].as_str()), (201, Some("outcome_recorded")), "{body}");

    let ended: Vec<String> = app
        .outbox_events("violation-referral", "violation.culpability_closed")
        .iter()
        .map(|e| e.decode::<ViolationCulpabilityClosed>().unwrap().state)
        .collect();
    assert_eq!(ended, ["closed_no_fault"]);
    app.stop().await;
}
