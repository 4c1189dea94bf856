//! A violation report across the services: intake takes it, routing assigns it, violation-referral
//! opens its case; an inspector classifies it, the district refers it to the Article 100
//! commission and reports the decision and the execution. The message, answered, may not close
//! until 1888's verdict — then it may. Its culpability is then examined by the counterpart unit
//! and decided by the compliance committee, out of the district's sight. Each stage runs on
//! deadline-timer's clock: one left to run out on a seconds budget registers each warning level
//! once.

mod portal;

use std::time::Duration;

use nazer_shared::http::Scope;
use nazer_shared::testing::fixtures::{api_key, unit_key};
use nazer_shared::testing::{ADMIN_KEY, eventually};
use portal::{Portal, officer, supervisor};
use serde_json::{Value, json};

/// Waits for the case violation-referral opens for `message_id`; its id.
async fn case_of(portal: &Portal, message_id: &str) -> String {
    eventually(Duration::from_secs(20), "the violation case", || async {
        let list = portal.expect(portal.app.get("/api/v1/violation-cases", &supervisor()).await, 200);
        list["violation_cases"]
            .as_array()
            .and_then(|cases| cases.iter().find(|c| c["message_id"] == message_id))
            .and_then(|c| c["id"].as_str().map(str::to_string))
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_violation_report_closes_only_after_its_remedial_verdict() {
    let mut portal = Portal::start_with_violations("P7D").await;
    let (code, message_id) = portal.post_kind("violation_report", "tehran", Some("تهران")).await;
    portal.wait_for(&code, "assigned", Some("district-3")).await;
    let case_id = case_of(&portal, &message_id).await;
    let app = &portal.app;
    let case = format!("/api/v1/violation-cases/{case_id}");
    let (inspector, district) = (supervisor(), officer("district-3"));

    let classification = json!({ "violation_type": "building.unauthorized" });
    portal.expect(app.post(&format!("{case}/classification"), &inspector, &classification).await, 200);
    let referral = json!({ "step": "referred", "authority": "کمیسیون ماده صد", "reference": "۷۷/۱۴۰۵",
                           "body": "پرونده به کمیسیون ماده صد ارجاع شد" });
    portal.expect(app.post(&format!("{case}/remedial/steps"), &district, &referral).await, 201);

    // The district answers the citizen; the message may not close while the case runs.
    let message = format!("/api/v1/messages/{code}");
    let answer = json!({ "outcome": "resolved", "body": "به کمیسیون ماده صد ارجاع شد" });
    portal.expect(app.post(&format!("{message}/responses"), &district, &answer).await, 201);
    let refused = portal.expect(app.post(&format!("{message}/close"), ADMIN_KEY, &json!({})).await, 409);
    // Whether or not intake has heard of the case yet, a violation report waits for its verdict.
    assert!(refused["detail"].as_str().unwrap_or_default().contains("verdict"), "{refused}");

    for step in
        [json!({ "step": "decided", "body": "رأی قلع صادر شد" }), json!({ "step": "executed", "body": "تخریب شد" })]
    {
        portal.expect(app.post(&format!("{case}/remedial/steps"), &district, &step).await, 201);
    }
    let verdict = json!({ "effective": true, "reason": "اجرا تأیید شد" });
    let decided = portal.expect(app.post(&format!("{case}/remedial/verdict"), &inspector, &verdict).await, 200);
    assert_eq!(decided["remedial_state"], "effective");

    // Once intake has heard the verdict, the message closes.
    let closed: Value = eventually(Duration::from_secs(20), "the message to close", || async {
        let (status, body) = app.post(&format!("{message}/close"), ADMIN_KEY, &json!({ "reason": "مؤثر شد" })).await;
        (status == 200).then_some(body)
    })
    .await;
    assert_eq!(closed["status"], "closed");

    // Culpability, after effectiveness: referred to the counterpart unit, which records its
    // findings; the district's view of the case holds the remedial track only, throughout.
    let referral = json!({ "unit": "inspection-urban-planning", "reason": "بررسی قصور ناظران" });
    let opened = portal.expect(app.post(&format!("{case}/culpability"), &inspector, &referral).await, 201);
    assert_eq!(opened["culpability"]["state"], "under_review");
    let unit = unit_key(app, &[Scope::CounterpartUnit], "inspection-urban-planning");
    let findings = json!({ "summary": "ناظر منطقه تخلف را گزارش نکرد", "fault": "negligence",
                           "officials": [{ "full_name": "رضا محمدی", "position": "ناظر ساختمان" }] });
    let found = portal.expect(app.post(&format!("{case}/culpability/findings"), &unit, &findings).await, 201);
    assert_eq!(found["culpability"]["state"], "findings_recorded");
    let agency_sees_none = || async {
        let seen = portal.expect(app.get(&case, &district).await, 200);
        let text = seen.to_string();
        assert!(seen.get("culpability").is_none() && !text.contains("culpability"), "{seen}");
        assert!(!text.contains("committee") && !text.contains("رضا محمدی"), "{seen}");
        assert_eq!(seen["remedial"]["state"], "effective");
    };
    agency_sees_none().await;

    // Before the compliance committee: the unit refers it, the committee decides it at a
    // session, records the outcome (an Article 9 penalty) and closes it once carried out.
    let referred = portal.expect(app.post(&format!("{case}/culpability/referral"), &unit, &json!({})).await, 201);
    assert_eq!(referred["culpability"]["state"], "at_committee");
    agency_sees_none().await;
    let committee = api_key(app, &[Scope::ComplianceCommittee], None);
    let sessions = "/api/v1/compliance-committee/sessions";
    let session = json!({ "held_on": "1405-09-17", "members": [{ "name": "دبیر کمیته", "position": "دبیر" }] });
    let held = portal.expect(app.post(sessions, &committee, &session).await, 201);
    let decision = json!({ "case_id": case_id, "decision": "violations_board", "reasoning": "قصور ناظر محرز است" });
    let decisions = format!("{sessions}/{}/decisions", held["id"].as_str().unwrap_or_default());
    portal.expect(app.post(&decisions, &committee, &decision).await, 201);
    agency_sees_none().await;
    let outcome = json!({ "penalty": "ب", "body": "توبیخ کتبی با درج در پرونده" });
    let recorded = portal.expect(app.post(&format!("{case}/culpability/outcome"), &committee, &outcome).await, 201);
    assert_eq!(recorded["culpability"]["state"], "outcome_recorded");
    agency_sees_none().await;
    let closure = json!({ "body": "حکم ابلاغ و اجرا شد" });
    let ended = portal.expect(app.post(&format!("{case}/culpability/closure"), &committee, &closure).await, 200);
    assert_eq!(ended["culpability"]["state"], "closed");
    agency_sees_none().await;
    portal.app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_complaint_opens_no_case_and_closes_as_before() {
    let mut portal = Portal::start_with_violations("P7D").await;
    let (code, _) = portal.post_message("tehran", Some("تهران")).await;
    portal.wait_for(&code, "assigned", Some("district-3")).await;
    let message = format!("/api/v1/messages/{code}");
    let answer = json!({ "outcome": "resolved", "body": "انجام شد" });
    portal.expect(portal.app.post(&format!("{message}/responses"), &officer("district-3"), &answer).await, 201);
    portal.expect(portal.app.post(&format!("{message}/close"), ADMIN_KEY, &json!({})).await, 200);
    portal.app.stop().await;
}

/// A building violation type whose every stage has `budget`.
fn seconds_type(code: &str, budget: &str) -> Value {
    let stages =
        |names: &[&str]| names.iter().map(|n| (n.to_string(), json!(budget))).collect::<serde_json::Map<_, _>>();
    json!({
        "code": code, "name_fa": "ساخت بدون پروانه (آزمون)", "name_en": "Building without a permit (test)",
        "legal_bases": [{ "law": "قانون شهرداری‌ها", "article": "100" }],
        "remedial_actions": ["demolition", "fine"],
        "counterpart_unit": "inspection-urban-planning",
        "budgets": {
            "remedial": stages(&["referred", "decided", "executed", "verdict"]),
            "culpability": stages(&["findings_recorded", "at_committee", "decided", "outcome_recorded", "closed"]),
        }
    })
}

/// The case's remedial clocks as (stage, state, warning level), once `done` holds of them.
async fn clocks_once(
    portal: &Portal,
    case: &str,
    what: &str,
    done: impl Fn(&[(String, String, i64)]) -> bool,
) -> Vec<(String, String, i64)> {
    eventually(Duration::from_secs(30), what, || async {
        let view = portal.expect(portal.app.get(case, &supervisor()).await, 200);
        let clocks: Vec<(String, String, i64)> = view["remedial"]["deadlines"]
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|d| {
                        let text = |k: &str| d[k].as_str().unwrap_or_default().to_string();
                        (text("stage"), text("state"), d["warning_level"].as_i64().unwrap_or(-1))
                    })
                    .collect()
            })
            .unwrap_or_default();
        done(&clocks).then_some(clocks)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remedial_stage_left_to_run_out_is_warned_once_per_level_and_a_paused_one_is_not() {
    let mut portal = Portal::start_with_violations("P7D").await;
    portal.expect(
        portal.app.put("/api/v1/violation-types/test.fast", ADMIN_KEY, &seconds_type("test.fast", "PT1S")).await,
        201,
    );
    let (code, message_id) = portal.post_kind("violation_report", "tehran", Some("تهران")).await;
    portal.wait_for(&code, "assigned", Some("district-3")).await;
    let case_id = case_of(&portal, &message_id).await;
    let case = format!("/api/v1/violation-cases/{case_id}");
    let app = &portal.app;
    let (inspector, district) = (supervisor(), officer("district-3"));
    portal.expect(
        app.post(&format!("{case}/classification"), &inspector, &json!({ "violation_type": "test.fast" })).await,
        200,
    );

    // The referral is left to run out: level 1 at one second, 2 and 3 a second apart each.
    let clocks = clocks_once(&portal, &case, "the referral's level-3 warning", |c| {
        c.iter().any(|(stage, state, level)| stage == "remedial.referred" && state == "breached" && *level == 3)
    })
    .await;
    assert_eq!(clocks.len(), 1, "{clocks:?}");
    // Registered once per level, however many times the firing loop went round since.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let path = format!("/api/v1/warnings?message_id={message_id}");
    let warnings = portal.expect(app.get(&path, &inspector).await, 200);
    let levels: Vec<i64> = warnings["warnings"]
        .as_array()
        .map(|w| w.iter().filter_map(|w| w["level"].as_i64()).collect())
        .unwrap_or_default();
    let mut sorted = levels.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [1, 2, 3], "{warnings}");
    let first = &warnings["warnings"][0];
    assert_eq!(
        (first["stage"].as_str(), first["subject"]["kind"].as_str()),
        (Some("remedial.referred"), Some("violation_case")),
        "{first}"
    );
    assert_eq!(first["subject"]["id"], case_id.as_str());
    // The district sees its remedial warnings, on its own list; the message's own view shows
    // none of the case's clocks.
    let own = portal.expect(app.get(&path, &district).await, 200);
    assert_eq!(own["warnings"].as_array().map(Vec::len), Some(3), "{own}");
    let message = portal.message(&code).await;
    let message_stages: Vec<&str> = message["deadlines"]
        .as_array()
        .map(|d| d.iter().filter_map(|d| d["stage"].as_str()).collect())
        .unwrap_or_default();
    assert!(message_stages.iter().all(|s| !s.starts_with("remedial")), "{message}");

    // Referred late: the clock closes as answered late; the decision's stage waits on the
    // commission, paused, and registers nothing while it waits.
    let referral = json!({ "step": "referred", "authority": "کمیسیون ماده صد", "body": "ارجاع شد" });
    portal.expect(app.post(&format!("{case}/remedial/steps"), &district, &referral).await, 201);
    let pause = json!({ "reason": "در انتظار تشکیل جلسه کمیسیون" });
    portal.expect(app.post(&format!("{case}/remedial/pause"), &district, &pause).await, 200);
    portal.expect(app.post(&format!("{case}/remedial/pause"), &district, &pause).await, 409);
    let clocks = clocks_once(&portal, &case, "the decision's clock paused", |c| {
        c.iter().any(|(stage, state, _)| stage == "remedial.decided" && state == "paused")
    })
    .await;
    assert!(clocks.contains(&("remedial.referred".into(), "answered_late".into(), 3)), "{clocks:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let view = portal.expect(app.get(&case, &inspector).await, 200);
    let decided = view["remedial"]["deadlines"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["stage"] == "remedial.decided"))
        .cloned();
    assert_eq!(
        decided.map(|d| (d["state"].clone(), d["warning_level"].clone())),
        Some((json!("paused"), json!(0))),
        "{view}"
    );
    let warnings = portal.expect(app.get(&path, &inspector).await, 200);
    assert_eq!(warnings["warnings"].as_array().map(Vec::len), Some(3), "nothing while paused: {warnings}");

    // The decision comes: the paused clock is met, the execution's starts.
    portal.expect(
        app.post(&format!("{case}/remedial/steps"), &district, &json!({ "step": "decided", "body": "رأی قلع" })).await,
        201,
    );
    clocks_once(&portal, &case, "the decision met and the execution running", |c| {
        c.iter().any(|(stage, state, _)| stage == "remedial.decided" && state == "met")
            && c.iter().any(|(stage, _, _)| stage == "remedial.executed")
    })
    .await;
    let seen = portal.expect(app.get(&case, &district).await, 200);
    assert!(seen.get("culpability").is_none(), "{seen}");
    portal.app.stop().await;
}
