//! The culpability track over the API: an inspector refers a case to a counterpart unit (also
//! after the message became effective), the unit records its findings naming officials, who are
//! sealed at rest and shown by name only to the unit, the committee and special follow-up — and
//! agencies never see any of it.

use chrono::Utc;
use diesel::prelude::*;
use nazer_shared::events::{StageOpened, ViolationCulpabilityOpened};
use nazer_shared::http::Scope;
use nazer_shared::testing::TestApp;
use nazer_shared::testing::fixtures::{api_key, message_assigned, unit_key, write};
use nazer_violation_referral::schema::violation_case_steps;
use nazer_violation_referral::{store, types};
use serde_json::{Value, json};

const CASES: &str = "/api/v1/violation-cases";
const UNIT: &str = "inspection-urban-planning";
const OFFICIAL: &str = "رضا محمدی";

/// A host with the shipped catalogue and one classified case of `district-3`; the case's path.
async fn start() -> (TestApp, String) {
    let app = TestApp::start(&[nazer_violation_referral::SERVICE]).await;
    write(&app, |conn| types::store::seed_catalogue(conn, Utc::now()));
    let assigned = nazer_shared::events::MessageAssigned {
        kind: "violation_report".into(),
        ..message_assigned("message-1", "district-3")
    };
    let id = write(&app, move |conn| store::open_case(conn, &assigned, Utc::now())).expect("a case opens");
    let inspector = api_key(&app, &[Scope::Supervisor], None);
    let (status, body) = app
        .post(&format!("{CASES}/{id}/classification"), &inspector, &json!({"violation_type": "building.unauthorized"}))
        .await;
    assert_eq!(status, 200, "{body}");
    (app, format!("{CASES}/{id}"))
}

fn fields(body: &Value) -> Vec<String> {
    nazer_shared::testing::problem_fields(body)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_unit_records_findings_and_only_those_entrusted_read_the_officials_names() {
    let (mut app, case) = start().await;
    let inspector = api_key(&app, &[Scope::Supervisor], None);
    let agency = api_key(&app, &[Scope::Agency], Some("district-3"));
    let unit = unit_key(&app, &[Scope::CounterpartUnit], UNIT);
    let other_unit = unit_key(&app, &[Scope::CounterpartUnit], "inspection-finance-transactions");
    let committee = api_key(&app, &[Scope::ComplianceCommittee], None);
    let follow_up = api_key(&app, &[Scope::SpecialFollowUp], None);

    // Bad referrals name their fields; an agency may not refer.
    let (status, body) =
        app.post(&format!("{case}/culpability"), &inspector, &json!({"unit": "no-such-unit", "reason": "r"})).await;
    assert_eq!((status, fields(&body)), (422, vec!["unit".to_string()]), "{body}");
    let (status, body) =
        app.post(&format!("{case}/culpability"), &inspector, &json!({"unit": "Bad!", "reason": " "})).await;
    assert_eq!((status, fields(&body)), (422, vec!["unit".to_string(), "reason".to_string()]), "{body}");
    assert_eq!(app.post(&format!("{case}/culpability"), &agency, &json!({"unit": UNIT, "reason": "r"})).await.0, 403);
    // Before the referral the unit cannot reach the case at all.
    assert_eq!(app.get(&case, &unit).await.0, 404);

    let referral = json!({"unit": UNIT, "reason": "بررسی قصور مأموران نظارت بر ساخت‌وساز"});
    let (status, body) = app.post(&format!("{case}/culpability"), &inspector, &referral).await;
    assert_eq!((status, body["culpability"]["state"].as_str()), (201, Some("under_review")), "{body}");
    assert_eq!(body["culpability_state"], "under_review");
    assert_eq!(app.post(&format!("{case}/culpability"), &inspector, &referral).await.0, 409, "once per case");

    // The unit's findings: bad ones named field by field, then recorded.
    let (status, body) = app
        .post(
            &format!("{case}/culpability/findings"),
            &unit,
            &json!({"summary": "", "fault": "bad", "officials": [{"full_name": "x"}]}),
        )
        .await;
    assert_eq!(
        (status, fields(&body)),
        (422, vec!["summary".to_string(), "fault".to_string(), "officials[0].position".to_string()]),
        "{body}"
    );
    let findings = json!({
        "summary": "ناظر منطقه از تخلف آگاه بوده و گزارش نکرده است", "fault": "negligence",
        "officials": [{"full_name": OFFICIAL, "position": "ناظر ساختمان"}], "reference": "۵۵/ن"
    });
    assert_eq!(app.post(&format!("{case}/culpability/findings"), &other_unit, &findings).await.0, 404, "not its case");
    assert_eq!(app.post(&format!("{case}/culpability/findings"), &agency, &findings).await.0, 403);
    let (status, body) = app.post(&format!("{case}/culpability/findings"), &unit, &findings).await;
    assert_eq!((status, body["culpability"]["state"].as_str()), (201, Some("findings_recorded")), "{body}");
    assert_eq!(app.post(&format!("{case}/culpability/findings"), &unit, &findings).await.0, 409);

    // Names open for the unit, the committee and special follow-up; masked for supervisors.
    let official = |body: &Value| body["culpability"]["steps"][1]["detail"]["officials"][0].clone();
    for key in [&unit, &committee, &follow_up] {
        let (status, body) = app.get(&case, key).await;
        assert_eq!((status, official(&body)["full_name"].as_str()), (200, Some(OFFICIAL)), "{body}");
        assert_eq!(official(&body)["masked"], false);
    }
    let (_, body) = app.get(&case, &inspector).await;
    assert_eq!(
        (official(&body)["full_name"].clone(), official(&body)["masked"].clone()),
        (Value::Null, json!(true)),
        "{body}"
    );
    assert_eq!(body["culpability"]["steps"][1]["detail"]["fault"], "negligence");

    // Sealed at rest: no step holds the name as written.
    let details: Vec<String> = write(&app, |conn| {
        Ok::<_, nazer_shared::db::DbError>(violation_case_steps::table.select(violation_case_steps::detail).load(conn)?)
    });
    assert!(details.iter().all(|d| !d.contains(OFFICIAL)), "{details:?}");

    // The agency sees nothing of it: no field, no steps, no clocks, in its view and its list.
    let (status, body) = app.get(&case, &agency).await;
    assert_eq!(status, 200);
    assert!(body.get("culpability").is_none() && body.get("culpability_state").is_none(), "{body}");
    assert!(!body.to_string().contains("culpability") && !body.to_string().contains(UNIT), "{body}");
    let (_, list) = app.get(CASES, &agency).await;
    assert!(!list.to_string().contains("culpability"), "{list}");
    // The unit lists the cases referred to it, another unit none.
    let (_, list) = app.get(CASES, &unit).await;
    assert_eq!(list["violation_cases"].as_array().map(Vec::len), Some(1), "{list}");
    let (_, list) = app.get(CASES, &other_unit).await;
    assert_eq!(list["violation_cases"].as_array().map(Vec::len), Some(0), "{list}");

    // Announced without naming the agency; its clock warns the unit, then special follow-up.
    let opened = app.outbox_events("violation-referral", "violation.culpability_opened");
    let event: ViolationCulpabilityOpened = opened[0].decode().unwrap();
    assert_eq!((opened.len(), event.unit_id.as_str()), (1, UNIT));
    assert!(opened[0].payload.get("agency_id").is_none());
    let clocks: Vec<StageOpened> =
        app.outbox_events("violation-referral", "stage.opened").iter().map(|e| e.decode().unwrap()).collect();
    let culpability: Vec<(&str, &str, Option<&str>)> = clocks
        .iter()
        .filter(|c| c.stage.starts_with("culpability."))
        .map(|c| (c.stage.as_str(), c.agency_id.as_str(), c.escalation_agency_id.as_deref()))
        .collect();
    let recipient = format!("unit:{UNIT}");
    assert_eq!(
        culpability,
        [
            ("culpability.findings_recorded", recipient.as_str(), Some("special-follow-up")),
            ("culpability.at_committee", recipient.as_str(), Some("special-follow-up")),
        ]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn officials_are_resealed_when_the_key_rotates_and_a_lost_key_does_not_break_the_case() {
    use nazer_shared::sealing::SealingKeys;
    use nazer_violation_referral::tracks::culpability_store::reseal_officials;

    let (mut app, case) = start().await;
    let inspector = api_key(&app, &[Scope::Supervisor], None);
    let unit = unit_key(&app, &[Scope::CounterpartUnit], UNIT);
    let referral = json!({"unit": UNIT, "reason": "بررسی"});
    assert_eq!(app.post(&format!("{case}/culpability"), &inspector, &referral).await.0, 201);
    let findings =
        json!({"summary": "s", "fault": "misconduct", "officials": [{"full_name": OFFICIAL, "position": "معاون"}]});
    assert_eq!(app.post(&format!("{case}/culpability/findings"), &unit, &findings).await.0, 201);

    // A new key first, the old one kept: the names move to the new key.
    let old = nazer_shared::testing::REPORTER_KEYS;
    let new_key = "next:1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";
    let rotated = SealingKeys::parse(&format!("{new_key},{old}")).unwrap();
    // It runs its own transaction, as `nazer migrate` calls it.
    let mut conn = app.db().get().unwrap();
    let done = reseal_officials(&mut conn, &rotated).unwrap();
    assert_eq!((done.rewritten, done.unreadable.len()), (1, 0));
    assert_eq!(reseal_officials(&mut conn, &rotated).unwrap().rewritten, 0, "once");
    drop(conn);
    let only_new = SealingKeys::parse(new_key).unwrap();
    let details: Vec<String> = write(&app, |conn| {
        Ok::<_, nazer_shared::db::DbError>(
            violation_case_steps::table
                .filter(violation_case_steps::step.eq("findings"))
                .select(violation_case_steps::detail)
                .load(conn)?,
        )
    });
    let detail: Value = serde_json::from_str(&details[0]).unwrap();
    let case_id = case.rsplit('/').next().unwrap();
    let sealed = detail["officials"][0]["full_name"].as_str().unwrap();
    assert_eq!(only_new.open(case_id, "official.full_name", sealed).unwrap(), OFFICIAL);

    // The host still holds only the old key: the name no longer opens, the case still reads.
    let (status, body) = app.get(&case, &unit).await;
    let official = &body["culpability"]["steps"][1]["detail"]["officials"][0];
    assert_eq!(
        (status, official["full_name"].clone(), official["unreadable"].clone()),
        (200, Value::Null, json!(true)),
        "{body}"
    );
    app.stop().await;
}
