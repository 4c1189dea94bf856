//! The remedial track over the API, on a real host over a fresh database (SQLite, or
//! PostgreSQL with `NAZER_TEST_DATABASE_URL`): an inspector classifies, the agency refers,
//! reports the decision and the execution, the inspector gives the verdict — each step
//! recorded with its actor and announced once; every refusal names why and writes nothing.

use chrono::Utc;
use diesel::prelude::*;
use nazer_shared::events::{ViolationClassified, ViolationRemedialStep, ViolationVerdict};
use nazer_shared::http::Scope;
use nazer_shared::testing::fixtures::{api_key, message_assigned, write};
use nazer_shared::testing::{ADMIN_KEY, TestApp};
use nazer_violation_referral::schema::violation_case_steps;
use nazer_violation_referral::{store, types};
use serde_json::{Value, json};

const CASES: &str = "/api/v1/violation-cases";

/// A host with the shipped violation types and one violation report assigned to
/// `district-3` (under `tehran-municipality`); the case's id.
async fn start() -> (TestApp, String) {
    let app = TestApp::start(&[nazer_violation_referral::SERVICE]).await;
    write(&app, |conn| types::store::seed_catalogue(conn, Utc::now()));
    let assigned = nazer_shared::events::MessageAssigned {
        kind: "violation_report".into(),
        agency_ancestors: vec!["tehran-municipality".into()],
        ..message_assigned("message-1", "district-3")
    };
    let id = write(&app, move |conn| store::open_case(conn, &assigned, Utc::now())).expect("a case opens");
    (app, id)
}

struct Keys {
    inspector: String,
    agency: String,
    parent: String,
    stranger: String,
}

fn keys(app: &TestApp) -> Keys {
    Keys {
        inspector: api_key(app, &[Scope::Supervisor], None),
        agency: api_key(app, &[Scope::Agency], Some("district-3")),
        parent: api_key(app, &[Scope::Agency], Some("tehran-municipality")),
        stranger: api_key(app, &[Scope::Agency], Some("district-4")),
    }
}

fn step_count(app: &TestApp) -> i64 {
    write(app, |conn| Ok::<_, nazer_shared::db::DbError>(violation_case_steps::table.count().get_result(conn)?))
}

#[track_caller]
fn fields(body: &Value) -> Vec<String> {
    nazer_shared::testing::problem_fields(body)
}

fn steps_of(body: &Value) -> Vec<(String, Value)> {
    body["remedial"]["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no remedial steps: {body}"))
        .iter()
        .map(|s| (s["step"].as_str().unwrap_or_default().to_string(), s["actor"].clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_building_violation_is_made_effective_step_by_step() {
    let (mut app, id) = start().await;
    let k = keys(&app);
    let case = format!("{CASES}/{id}");

    let (status, body) = app
        .post(
            &format!("{case}/classification"),
            &k.inspector,
            &json!({"violation_type": "building.unauthorized", "note": "ساخت طبقه مازاد"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["violation_type"].as_str(), body["remedial_state"].as_str()),
        (Some("building.unauthorized"), Some("pending"))
    );
    assert_eq!(body["remedial"]["state"], "pending");
    assert_eq!(body["culpability"], Value::Null, "an inspector sees the track's place: {body}");

    let referral = json!({
        "step": "referred", "authority": "کمیسیون ماده صد", "reference": "۱۲۳/ص/۱۴۰۵",
        "reference_date": "1405-09-16", "body": "پرونده به کمیسیون ماده صد ارجاع شد", "documents": ["dms:4411"]
    });
    let (status, body) = app.post(&format!("{case}/remedial/steps"), &k.agency, &referral).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["remedial"]["state"], "referred");
    assert!(body.get("culpability").is_none(), "the agency's view holds no culpability field at all: {body}");
    let referred = &body["remedial"]["steps"][1];
    assert_eq!(referred["authority"], "کمیسیون ماده صد");
    assert_eq!(
        (referred["reference"].as_str(), referred["reference_date"].as_str()),
        (Some("۱۲۳/ص/۱۴۰۵"), Some("1405/09/16"))
    );
    assert_eq!(referred["documents"], json!(["dms:4411"]));
    assert!(referred["acted_at_fa"].as_str().is_some_and(|d| d.starts_with("14")), "{referred}");

    // The parent agency reports the decision for its district; the district the execution.
    let decision = json!({"step": "decided", "body": "رأی قلع بنای مازاد صادر شد", "reference": "ک-۹۸"});
    let (status, body) = app.post(&format!("{case}/remedial/steps"), &k.parent, &decision).await;
    assert_eq!((status, body["remedial"]["state"].as_str()), (201, Some("decided")), "{body}");
    let execution = json!({"step": "executed", "body": "بنای مازاد تخریب شد", "documents": ["dms:4500", "dms:4501"]});
    let (status, body) = app.post(&format!("{case}/remedial/steps"), &k.agency, &execution).await;
    assert_eq!((status, body["remedial"]["state"].as_str()), (201, Some("executed")), "{body}");

    let (status, body) = app
        .post(&format!("{case}/remedial/verdict"), &k.inspector, &json!({"effective": true, "reason": "اجرا تأیید شد"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["remedial_state"].as_str(), body["remedial"]["state"].as_str()),
        (Some("effective"), Some("effective"))
    );
    let names: Vec<String> = steps_of(&body).into_iter().map(|(s, _)| s).collect();
    assert_eq!(names, ["classified", "referred", "decided", "executed", "verdict"]);
    assert!(steps_of(&body).iter().all(|(_, actor)| actor["kind"] == "api_key"), "staff see every actor: {body}");
    assert_eq!(body["remedial"]["steps"][4]["detail"], json!({"effective": true}));
    assert_eq!(body["remedial"]["steps"][4]["body"], "اجرا تأیید شد");

    // The agency sees the actors of its own steps only.
    let (status, body) = app.get(&case, &k.agency).await;
    assert_eq!(status, 200, "{body}");
    let shown: Vec<bool> = steps_of(&body).iter().map(|(_, actor)| !actor.is_null()).collect();
    assert_eq!(shown, [false, true, true, true, false], "{body}");
    assert!(body.get("culpability").is_none(), "{body}");

    // Each transition announced once, in order.
    let classified = app.outbox_events("violation-referral", "violation.classified");
    assert_eq!(classified.len(), 1);
    let classified: ViolationClassified = classified[0].decode().unwrap();
    assert_eq!((classified.violation_type.as_str(), classified.previous_type), ("building.unauthorized", None));
    assert_eq!((classified.agency_id.as_str(), classified.message_id.as_str()), ("district-3", "message-1"));
    let remedial: Vec<ViolationRemedialStep> = app
        .outbox_events("violation-referral", "violation.remedial_step")
        .iter()
        .map(|e| e.decode().unwrap())
        .collect();
    let walked: Vec<(&str, &str)> = remedial.iter().map(|e| (e.step.as_str(), e.state.as_str())).collect();
    assert_eq!(walked, [("referred", "referred"), ("decided", "decided"), ("executed", "executed")]);
    assert_eq!(remedial[0].authority.as_deref(), Some("کمیسیون ماده صد"));
    let verdicts = app.outbox_events("violation-referral", "violation.verdict");
    let verdict: ViolationVerdict = verdicts[0].decode().unwrap();
    assert_eq!((verdicts.len(), verdict.effective, verdict.state.as_str()), (1, true, "effective"));

    // The track is over.
    let (status, body) = app
        .post(&format!("{case}/remedial/verdict"), &k.inspector, &json!({"effective": false, "reason": "دوباره"}))
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = app.post(&format!("{case}/remedial/withdrawal"), &k.inspector, &json!({"reason": "x"})).await;
    assert_eq!(status, 409, "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_refusal_names_why_and_writes_nothing() {
    let (mut app, id) = start().await;
    let k = keys(&app);
    let case = format!("{CASES}/{id}");
    let steps = |n| format!("{case}/remedial/{n}");
    let referral = json!({"step": "referred", "authority": "کمیسیون ماده صد", "body": "ارجاع"});

    // Nothing before the classification.
    let (status, body) = app.post(&steps("steps"), &k.agency, &referral).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["detail"].as_str().unwrap_or_default().contains("classification"), "{body}");

    // Bad classifications.
    let (status, body) =
        app.post(&format!("{case}/classification"), &k.inspector, &json!({"violation_type": "no.such-type"})).await;
    assert_eq!((status, fields(&body)), (422, vec!["violation_type".to_string()]), "{body}");
    let (status, body) =
        app.post(&format!("{case}/classification"), &k.inspector, &json!({"violation_type": "Bad Code!"})).await;
    assert_eq!((status, fields(&body)), (422, vec!["violation_type".to_string()]), "{body}");
    for key in [&k.agency, ADMIN_KEY] {
        let (status, body) =
            app.post(&format!("{case}/classification"), key, &json!({"violation_type": "building.unauthorized"})).await;
        assert_eq!(status, 403, "only inspectors classify: {body}");
    }
    assert_eq!(step_count(&app), 0);

    // Reclassified while pending: the previous type is recorded.
    for code in ["building.change-of-use", "building.unauthorized"] {
        let (status, body) =
            app.post(&format!("{case}/classification"), &k.inspector, &json!({"violation_type": code})).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = app
        .post(&format!("{case}/classification"), &k.inspector, &json!({"violation_type": "building.unauthorized"}))
        .await;
    assert_eq!(status, 409, "the same type again: {body}");
    let last: ViolationClassified =
        app.outbox_events("violation-referral", "violation.classified")[1].decode().unwrap();
    assert_eq!(last.previous_type.as_deref(), Some("building.change-of-use"));
    let before = step_count(&app);

    // Bad steps: each field named; out of order, the expected step named.
    let (status, body) = app.post(&steps("steps"), &k.agency, &json!({"step": "referred", "body": " "})).await;
    assert_eq!((status, fields(&body)), (422, vec!["authority".to_string(), "body".to_string()]), "{body}");
    let (status, body) = app
        .post(
            &steps("steps"),
            &k.agency,
            &json!({"step": "decided", "authority": "x", "body": "b", "reference_date": "1405-13-40"}),
        )
        .await;
    assert_eq!((status, fields(&body)), (422, vec!["authority".to_string(), "reference_date".to_string()]), "{body}");
    let (status, body) = app.post(&steps("steps"), &k.agency, &json!({"step": "effective", "body": "b"})).await;
    assert_eq!((status, fields(&body)), (422, vec!["step".to_string()]), "{body}");
    let (status, body) = app.post(&steps("steps"), &k.agency, &json!({"step": "executed", "body": "b"})).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["detail"].as_str().unwrap_or_default().contains("next step is `referred`"), "{body}");
    let (status, body) = app.post(&steps("verdict"), &k.inspector, &json!({"effective": true, "reason": "r"})).await;
    assert_eq!(status, 409, "a verdict before execution: {body}");
    let (status, body) = app.post(&steps("verdict"), &k.inspector, &json!({"reason": ""})).await;
    assert_eq!((status, fields(&body)), (422, vec!["effective".to_string(), "reason".to_string()]), "{body}");
    let (status, body) = app.post(&steps("verdict"), &k.agency, &json!({"effective": true, "reason": "r"})).await;
    assert_eq!(status, 403, "an agency gives no verdict: {body}");
    let (status, body) = app
        .post(&steps("steps"), &k.agency, &json!({"step": "referred", "authority": "a", "body": "b", "extra": 1}))
        .await;
    assert_eq!((status, fields(&body)), (422, vec!["extra".to_string()]), "unknown fields are refused: {body}");

    // Another agency: the case answers as a missing one.
    let (status, theirs) = app.post(&steps("steps"), &k.stranger, &referral).await;
    let (missing_status, missing) =
        app.post(&format!("{CASES}/no-such-case/remedial/steps"), &k.stranger, &referral).await;
    assert_eq!((status, missing_status), (404, 404), "{theirs}");
    assert_eq!(theirs["detail"], missing["detail"]);
    assert_eq!(app.get(&case, &k.stranger).await.0, 404);
    assert_eq!(step_count(&app), before, "no refusal wrote a step");

    // Once the agency took a step, the type is fixed.
    assert_eq!(app.post(&steps("steps"), &k.agency, &referral).await.0, 201);
    let (status, body) =
        app.post(&format!("{case}/classification"), &k.inspector, &json!({"violation_type": "tender.irregular"})).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["detail"].as_str().unwrap_or_default().contains("fixed"), "{body}");

    // A withdrawal ends it; the message is released (`withdrawn`).
    let (status, body) = app.post(&steps("withdrawal"), &k.inspector, &json!({"reason": "گزارش تکراری است"})).await;
    assert_eq!((status, body["remedial"]["state"].as_str()), (200, Some("withdrawn")), "{body}");
    let withdrawn: ViolationRemedialStep =
        app.outbox_events("violation-referral", "violation.remedial_step").last().unwrap().decode().unwrap();
    assert_eq!((withdrawn.step.as_str(), withdrawn.state.as_str()), ("withdrawn", "withdrawn"));
    assert_eq!(app.post(&steps("steps"), &k.agency, &json!({"step": "decided", "body": "b"})).await.0, 409);

    // Lists filter by type and remedial state.
    let (status, body) =
        app.get(&format!("{CASES}?violation_type=building.unauthorized&remedial_state=withdrawn"), &k.inspector).await;
    assert_eq!((status, body["violation_cases"].as_array().map(Vec::len)), (200, Some(1)), "{body}");
    let (status, body) = app.get(&format!("{CASES}?remedial_state=referred"), &k.parent).await;
    assert_eq!((status, body["violation_cases"].as_array().map(Vec::len)), (200, Some(0)), "{body}");
    let (status, body) = app.get(&format!("{CASES}?remedial_state=finished"), &k.inspector).await;
    assert_eq!((status, fields(&body)), (422, vec!["remedial_state".to_string()]), "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_case_never_classified_may_be_withdrawn() {
    let (mut app, id) = start().await;
    let k = keys(&app);
    let (status, body) =
        app.post(&format!("{CASES}/{id}/remedial/withdrawal"), &k.inspector, &json!({"reason": "تخلفی نیست"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["violation_type"].clone(), body["remedial_state"].as_str()), (Value::Null, Some("withdrawn")));
    let (status, body) = app.get(&format!("{CASES}/{id}"), &k.parent).await;
    assert_eq!((status, body["remedial"]["steps"][0]["step"].as_str()), (200, Some("withdrawn")), "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_assigned_again_hands_its_case_and_clock_over() {
    let (mut app, id) = start().await;
    let k = keys(&app);
    let case = format!("{CASES}/{id}");
    let classify = json!({"violation_type": "building.unauthorized"});
    assert_eq!(app.post(&format!("{case}/classification"), &k.inspector, &classify).await.0, 200);

    // Declined by district-3, assigned to district-4 a minute later; an older assignment
    // delivered again changes nothing.
    let later = nazer_shared::events::MessageAssigned {
        kind: "violation_report".into(),
        assigned_at: Utc::now() + chrono::Duration::seconds(60),
        ..message_assigned("message-1", "district-4")
    };
    let at = later.assigned_at;
    assert_eq!(write(&app, move |conn| store::open_case(conn, &later, at)), None, "no second case");
    let stale = nazer_shared::events::MessageAssigned {
        kind: "violation_report".into(),
        assigned_at: Utc::now() - chrono::Duration::seconds(60),
        ..message_assigned("message-1", "district-3")
    };
    write(&app, move |conn| store::open_case(conn, &stale, Utc::now()));

    assert_eq!(app.get(&case, &k.agency).await.0, 404, "the district that declined no longer sees it");
    let (status, body) = app.get(&case, &k.stranger).await;
    assert_eq!((status, body["agency_id"].as_str()), (200, Some("district-4")), "{body}");
    let steps: Vec<String> = steps_of(&body).into_iter().map(|(s, _)| s).collect();
    assert_eq!(steps, ["classified", "reassigned"]);
    let referral = json!({"step": "referred", "authority": "کمیسیون ماده صد", "body": "ارجاع"});
    assert_eq!(app.post(&format!("{case}/remedial/steps"), &k.stranger, &referral).await.0, 201);

    // The referral's clock stopped for district-3 and started afresh for district-4.
    let opened: Vec<nazer_shared::events::StageOpened> =
        app.outbox_events("violation-referral", "stage.opened").iter().map(|e| e.decode().unwrap()).collect();
    let owners: Vec<(&str, &str)> = opened.iter().map(|o| (o.stage.as_str(), o.agency_id.as_str())).collect();
    assert_eq!(
        owners,
        [("remedial.referred", "district-3"), ("remedial.referred", "district-4"), ("remedial.decided", "district-4")]
    );
    let closed = app.outbox_events("violation-referral", "stage.closed");
    assert_eq!(closed.len(), 2, "the referral closed for district-3, then for district-4");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agency_sees_its_own_people_on_steps_never_1888s() {
    let (mut app, id) = start().await;
    let k = keys(&app);
    let case = format!("{CASES}/{id}");
    let classify = json!({"violation_type": "building.unauthorized"});
    assert_eq!(app.post(&format!("{case}/classification"), &k.inspector, &classify).await.0, 200);
    // An inspector records the agency's referral letter on its behalf; the agency its decision.
    let referral = json!({"step": "referred", "authority": "کمیسیون ماده صد", "body": "نامه دستگاه"});
    assert_eq!(app.post(&format!("{case}/remedial/steps"), &k.inspector, &referral).await.0, 201);
    let decision = json!({"step": "decided", "body": "رأی صادر شد"});
    assert_eq!(app.post(&format!("{case}/remedial/steps"), &k.agency, &decision).await.0, 201);
    let (_, body) = app.get(&case, &k.agency).await;
    let shown: Vec<(String, bool)> = steps_of(&body).into_iter().map(|(s, actor)| (s, !actor.is_null())).collect();
    assert_eq!(shown, [("classified".into(), false), ("referred".into(), false), ("decided".into(), true)]);
    let (_, body) = app.get(&case, &k.inspector).await;
    assert!(steps_of(&body).iter().all(|(_, actor)| !actor.is_null()), "{body}");
    app.stop().await;
}
